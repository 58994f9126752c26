"""The proposal for one export: its profile, header row, sample, fields, extras and dates."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from schemas.activity import REQUIRED

from ..dates import FormatGuess, guess_date_format
from ..mapping import HEADER_SEARCH_ROWS, Mapping, load_mapping
from ..read import OVERFLOW, PROBLEM, Table, is_blank, open_table, top_rows
from .column_choice import FieldChoice, match_fields
from .headers import header_names, unnamed_columns
from .sampled_values import column_values, is_filled

PROFILES = Path(__file__).resolve().parent.parent.parent / "schemas" / "profiles"
SAMPLE_ROWS = 1_000
#: a profile is recognised in a header row that has its reference column and this many of
#: its entries ([columns] and [additional_information]) and this share of them: exports
#: leave columns out
RECOGNISED_ENTRIES, RECOGNISED_SHARE = 3, 0.4


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

    def header(self, position: int) -> str:
        """The header as a mapping names it (``"Email #2"`` for a repeated one)."""
        return header_names(self.table.headers)[position]


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
    unnamed = unnamed_columns(headers)
    used = {choice.column for choice in fields.values()} | unnamed
    names = header_names(headers)
    if profile is None:
        extras = [
            (names[position], position)
            for position in range(len(headers))
            if position not in used and is_filled(sample, position)
        ]
    else:
        extras = [(key, position) for key, position in extras if position not in unnamed]
    happened = fields.get("happened_at")
    dates = (
        guess_date_format(column_values(sample, happened.column))
        if happened is not None and happened.column is not None
        else FormatGuess((), None, (), None)
    )
    if profile is not None and profile.date_format and not dates.question:
        dates = _with_profile_formats(dates, profile.date_format)
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
        blank_values=profile.blank_values if profile else (),
        timezone_note=_timezone_note(profile_name),
        missing=[name for name in REQUIRED if name in fields and fields[name].column is None],
        notes=notes,
        constant_notes={name: "given to init" for name in given or {}},
    )
    return proposal


def _recognise(
    top: list[list[str]], profiles: dict[str, Mapping]
) -> tuple[str | None, int, tuple[str, ...]]:
    """The profile most of whose headers a top row has (``RECOGNISED_ENTRIES`` and
    ``RECOGNISED_SHARE`` at least: a profile column the export lacks is no failure), that
    row's index, and the headers that recognised it; without one, the row holding the field
    names, else the fullest row."""
    best: tuple[int, float, str, int, tuple[str, ...]] | None = None
    for name, profile in profiles.items():
        entries = [*profile.columns.values(), *(profile.additional_information or {}).values()]
        for index, row in enumerate(top[:HEADER_SEARCH_ROWS]):
            cells = {cell.strip().lower(): cell.strip() for cell in row if cell.strip()}
            found = [
                cells[hit]
                for choices in entries
                if (hit := next((h.lower() for h in choices if h.lower() in cells), None))
            ]
            share = len(found) / len(entries) if entries else 0.0
            if len(found) < RECOGNISED_ENTRIES or share < RECOGNISED_SHARE:
                continue
            # the record's own ID is the header most telling of the system: without it,
            # "Subject, Status, Priority" could be any export
            if not any(h.lower() in cells for h in profile.columns.get("reference", ())):
                continue
            score = (len(found), share, name, index, tuple(found))
            if best is None or score[:2] > best[:2]:
                best = score
    if best is not None:
        return best[2], best[3], best[4]
    named = Mapping().find_header(top)
    if named is not None:
        return None, named, ()
    filled = [sum(bool(cell.strip()) for cell in row) for row in top]
    most = max(filled, default=0)
    return None, filled.index(most) if most else 0, ()


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

    def first(choices: tuple[str, ...]) -> int | None:
        return next((lowered[h.lower()] for h in choices if h.lower() in lowered), None)

    fields = {
        name: FieldChoice(first(choices), "the profile")
        for name, choices in profile.columns.items()
        if first(choices) is not None
    }
    extras = [
        (key, found)
        for key, choices in (profile.additional_information or {}).items()
        if (found := first(choices)) is not None
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
