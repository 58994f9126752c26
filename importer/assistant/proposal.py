"""The proposal for one export: its profile, header row, sample, fields, extras and dates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from schemas.activity import REQUIRED

from ..dates import FormatGuess, guess_date_format
from ..mapping import HEADER_SEARCH_ROWS, Mapping, load_mapping
from ..read import OVERFLOW, PROBLEM, Table, is_blank, open_table, top_rows
from .column_choice import FieldChoice, match_fields, words_of
from .headers import header_names, unnamed_columns
from .sampled_values import column_values, is_filled

PROFILES = Path(__file__).resolve().parent.parent.parent / "schemas" / "profiles"
SAMPLE_ROWS = 1_000
#: a profile is recognised in a header row that has this many of its entries ([columns]
#: and [additional_information]) by headers telling of the system, and this share of all
#: its entries: exports leave columns out
RECOGNISED_ENTRIES, RECOGNISED_SHARE = 3, 0.4
#: headers that any export may have: they recognise no system ("Subject, Status, Priority")
_COMMON_HEADERS = frozenset(
    {
        "id",
        "subject",
        "status",
        "state",
        "priority",
        "type",
        "source",
        "agent",
        "group",
        "description",
        "email",
        "created",
        "updated",
        "title",
        "name",
        "owner",
        "category",
        "number",
        "summary",
        "assignee",
        "account",
        "contact",
        "company",
        "location",
    }
)
#: words of a file's name that say which kind of record it holds ("phonecall.csv")
_KIND_WORDS = {
    "phonecall": "Call",
    "phonecalls": "Call",
    "call": "Call",
    "calls": "Call",
    "task": "Task",
    "tasks": "Task",
    "case": "Case",
    "cases": "Case",
    "incident": "Incident",
    "incidents": "Incident",
    "ticket": "Support Ticket",
    "tickets": "Support Ticket",
    "meeting": "Meeting",
    "meetings": "Meeting",
    "appointment": "Meeting",
    "appointments": "Meeting",
    "event": "Meeting",
    "events": "Meeting",
}


@dataclass
class Proposal:
    """A proposed mapping for one export, ready to be rendered as TOML."""

    input: Path
    table: Table
    sample: pd.DataFrame  # the first rows, blank rows left out, cells only
    sampled_rows: int
    profile: str | None
    recognised_by: tuple[str, ...]  # the export's headers that recognised the profile
    fields: dict[str, FieldChoice]
    constants: dict[str, str]
    extras: list[tuple[str, int]]  # (key sent, column position)
    dates: FormatGuess
    blank_values: tuple[str, ...] = ()
    timezone_note: str | None = None
    missing: list[str] = field(default_factory=list)  # required fields without a column
    #: field → why its constant was chosen (given on the command line, …)
    constant_notes: dict[str, str] = field(default_factory=dict)
    #: what init saw and did not take, for the analyst (a "Source" of channels, …)
    notes: list[str] = field(default_factory=list)

    @property
    def recognised_as(self) -> str:
        """``ServiceNow export: Incident (schemas/profiles/servicenow-incident.toml)``."""
        system = self.constants.get("source") or (self.profile or "").capitalize()
        kind = f": {self.constants['type']}" if self.constants.get("type") else ""
        return f"{system} export{kind} (schemas/profiles/{self.profile}.toml)"

    def header(self, position: int) -> str:
        """The header as a mapping names it (``"Email #2"`` for a repeated one)."""
        return self.names[position]

    @cached_property
    def names(self) -> list[str]:
        """Every column as a mapping names it (worked out once: a sheet may be 16,384 wide)."""
        return header_names(self.table.headers)


def load_profiles() -> dict[str, Mapping]:
    """The ready-made profiles, by name (``zendesk``, …)."""
    return {path.stem: load_mapping(path) for path in sorted(PROFILES.glob("*.toml"))}


def propose(path: Path, sheet: str | None = None, given: dict[str, str] | None = None) -> Proposal:
    """Read ``path``'s header and first rows and propose where every field comes from
    (``given``: constants the analyst named, e.g. ``{"type": "Call"}``: they win)."""
    profiles = load_profiles()
    top = top_rows(path, sheet=sheet)
    profile_name, header_index, recognised_by = _recognise(top, profiles)
    profile = profiles.get(profile_name) if profile_name else None
    table = open_table(path, sheet=sheet, header_row=header_index + 1)
    sample, rows = _sample(table)
    headers = table.headers
    fields: dict[str, FieldChoice] = {}
    constants: dict[str, str] = {}
    extras: list[tuple[str, int]] = []
    if profile is not None:
        fields, constants, extras = _from_profile(profile, headers)
    for name, value in (given or {}).items():
        fields.pop(name, None)
        constants[name] = value
    notes: list[str] = []
    match_fields(fields, constants, headers, sample, profiles, notes)
    kind = None
    if "type" not in constants and (fields.get("type") or FieldChoice(None, "")).column is None:
        kind = _kind_of(path)  # no column gives the kind: the file's name may say it
    if kind:
        constants["type"] = kind
        fields.pop("type", None)
    extras = _extras(profile is not None, extras, fields, headers, sample)
    dates = _dates(profile, fields.get("happened_at"), sample)
    proposal = Proposal(
        input=path,
        table=table,
        sample=sample,
        sampled_rows=rows,
        profile=profile_name,
        recognised_by=recognised_by,
        fields=fields,
        constants=constants,
        extras=extras,
        dates=dates,
        blank_values=_blank_values(sample, fields, profile.blank_values if profile else ()),
        timezone_note=_timezone_note(profile_name),
        missing=[name for name in REQUIRED if name in fields and fields[name].column is None],
        notes=notes,
        constant_notes=(
            {"type": f"the record kind: from the file's name ({path.name})"} if kind else {}
        )
        | {name: "given to init" for name in given or {}},
    )
    return proposal


def _extras(
    profiled: bool,
    extras: list[tuple[str, int]],
    fields: dict[str, FieldChoice],
    headers: list[str],
    sample: pd.DataFrame,
) -> list[tuple[str, int]]:
    """The additional information: a profile's (those a mapping can name), else every
    other column filled in the sample, under its header."""
    unnamed = unnamed_columns(headers)
    if profiled:
        return [(key, position) for key, position in extras if position not in unnamed]
    used = {p for choice in fields.values() for p in (choice.column, *choice.fallbacks)}
    names = header_names(headers)
    return [
        (names[position], position)
        for position in range(len(headers))
        if position not in used | unnamed and is_filled(sample, position)
    ]


def _dates(
    profile: Mapping | None, happened: FieldChoice | None, sample: pd.DataFrame
) -> FormatGuess:
    """How happened_at is written: guessed from the sample, after a profile's own forms."""
    if happened is None or happened.column is None:
        return FormatGuess((), None, (), None)
    dates = guess_date_format(column_values(sample, happened.column))
    # the profile's forms (a re-saved export's) only where the sample is not ISO-like:
    # a comment "how happened_at is written" must be true of this file
    if profile is not None and profile.date_format and dates.formats and not dates.question:
        dates = _with_profile_formats(dates, profile.date_format)
    return dates


def _recognise(
    top: list[list[str]], profiles: dict[str, Mapping]
) -> tuple[str | None, int, tuple[str, ...]]:
    """The profile most of whose headers a top row has (``RECOGNISED_ENTRIES`` and
    ``RECOGNISED_SHARE`` at least: a profile column the export lacks is no failure), that
    row's index, and the headers that recognised it; without one, the row holding the field
    names, else the fullest row."""
    best: tuple[int, float, str, int, tuple[str, ...]] | None = None
    rows = [  # each top row's headers, by their lower-case text
        {cell.strip().lower(): cell.strip() for cell in row if cell.strip()}
        for row in top[:HEADER_SEARCH_ROWS]
    ]
    for name, profile in profiles.items():
        entries = [*profile.columns.values(), *(profile.additional_information or {}).values()]
        for index, cells in enumerate(rows):
            found = [
                cells[hit]
                for choices in entries
                if (hit := next((h.lower() for h in choices if h.lower() in cells), None))
            ]
            telling = [h for h in found if words_of(h) not in _COMMON_HEADERS]
            share = len(found) / len(entries) if entries else 0.0
            if len(telling) < RECOGNISED_ENTRIES or share < RECOGNISED_SHARE:
                continue
            score = (len(telling), share, name, index, tuple(telling))
            if best is None or score[:2] > best[:2]:
                best = score
    if best is not None:
        return best[2], best[3], best[4]
    named = Mapping().find_header(top)
    if named is not None:
        return None, named, ()
    # the first row nearly as full as the fullest: a header may leave one cell blank (the
    # index column pandas writes, a last column without a name) where its data rows do not
    filled = [sum(bool(cell.strip()) for cell in row) for row in top]
    most = max(filled, default=0)
    if not most:
        return None, 0, ()
    return None, next(i for i, n in enumerate(filled) if n >= max(1, most - 1)), ()


#: texts exports write for "nothing here": proposed as blank_values where the sample has them
#: ("NA" is not one: it is also a region, a country code, a team)
NULL_MARKERS = ("?", "-", "--", "N/A", "n/a", "NULL", "null", "None", "(blank)", "#N/A")


def _blank_values(
    sample: pd.DataFrame, fields: dict[str, FieldChoice], known: tuple[str, ...]
) -> tuple[str, ...]:
    """The profile's blank values, and the markers of nothing that whole sampled cells
    hold (any column: a "N/A" sent as additional information means nothing either); the
    markers seen in the fields' own columns first."""
    keys = {p for choice in fields.values() for p in (choice.column, *choice.fallbacks)}
    order = sorted(sample.columns, key=lambda position: position not in keys)
    seen = [str(cell).strip() for position in order for cell in sample[position].dropna()]
    found = [marker for marker in dict.fromkeys(seen) if marker in NULL_MARKERS]
    return tuple(dict.fromkeys([*known, *found]))


def _kind_of(path: Path) -> str | None:
    """The record kind a file's name says (``phonecall.csv``: a call), if it says one."""
    words = re.findall(r"[a-z]+", path.stem.lower())
    return next((_KIND_WORDS[word] for word in reversed(words) if word in _KIND_WORDS), None)


def _sample(table: Table) -> tuple[pd.DataFrame, int]:
    """The first rows (blank ones left out) as cells only, and how many rows were read."""
    chunk = next(table.chunks(SAMPLE_ROWS), None)
    if chunk is None:
        return pd.DataFrame(columns=range(len(table.headers)), dtype=object), 0
    cells = chunk.drop(columns=[c for c in (OVERFLOW, PROBLEM) if c in chunk.columns])
    return cells[~is_blank(cells)], len(chunk)


def _from_profile(
    profile: Mapping, headers: list[str]
) -> tuple[dict[str, FieldChoice], dict[str, str], list[tuple[str, int]]]:
    lowered: dict[str, int] = {}
    for position, header in enumerate(headers):
        lowered.setdefault(header.lower(), position)

    def present(choices: tuple[str, ...]) -> list[int]:
        return list(dict.fromkeys(lowered[h.lower()] for h in choices if h.lower() in lowered))

    fields = {
        name: FieldChoice(found[0], "the profile", fallbacks=tuple(found[1:]))
        for name, choices in profile.columns.items()
        if (found := present(choices))
    }
    taken = {p for choice in fields.values() for p in (choice.column, *choice.fallbacks)}
    extras = [
        (key, found[0])
        for key, choices in (profile.additional_information or {}).items()
        if (found := present(choices)) and found[0] not in taken
    ]
    return fields, dict(profile.constants), extras


def _with_profile_formats(guess: FormatGuess, formats: tuple[str, ...]) -> FormatGuess:
    """The profile's formats, then any others the sample needs."""
    extra = tuple(form for form in guess.formats if form not in formats)
    return FormatGuess(formats + extra, guess.question, guess.unreadable, guess.example)


def _timezone_note(profile: str | None) -> str:
    systems = {
        "zendesk": "your Zendesk account's time zone (Admin Center > Account > Localization)",
        "freshdesk": "your helpdesk's time zone (Admin > Helpdesk settings)",
        "salesforce": "the exporting user's time zone for a report export; "
        "API extracts (CaseNumber, CreatedDate) are in UTC: leave it out for those",
        "hubspot": "your HubSpot account's time zone",
    }
    return systems.get(profile or "", "the time zone the exporting system wrote them in")
