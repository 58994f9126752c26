"""The mapping assistant behind ``cg-import init``: propose a mapping file for an export.

It reads the header and the first rows (``read/``), recognises a known export by its
headers (the profiles in ``schemas/profiles/``), maps every API field to a column (exact
and normalised names, then the profiles' aliases, then fuzzy names, then the values
themselves), infers ``date_format`` from the sampled values (``dates.py``) and renders a
commented TOML that lists every input column. ``check_sample`` then validates the sample
with the file written, as ``validate`` would (``mapping.py``, ``validate.py``).
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from schemas.activity import FIELDS, REQUIRED

from .dates import FormatGuess, guess_date_format, parse_timestamps, reading_of
from .errors import MappingError
from .mapping import Mapping, column_name, load_mapping, normalise_header, plan_columns
from .read import OVERFLOW, PROBLEM, Table, is_blank, open_table, top_rows
from .validate import Validator

PROFILES = Path(__file__).resolve().parent.parent / "schemas" / "profiles"
SAMPLE_ROWS = 1_000
#: written for a required field without any candidate column: validate refuses it by name
PLACEHOLDER = "CHOOSE A COLUMN"
_FUZZY_CUTOFF = 85
_VALUES_SHARE = 0.8  # share of sampled values that must look right for a value-based match
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_PHONE = r"^\+?[\d\s().\-/]{7,}$"

#: names that exports use for each field, besides the profiles' own headers
_ALIASES: dict[str, tuple[str, ...]] = {
    "reference": (
        "ref",
        "id",
        "ticket id",
        "ticket number",
        "ticket no",
        "case number",
        "case id",
        "activity id",
        "external id",
        "record id",
    ),
    "account": (
        "account name",
        "company",
        "company name",
        "organization",
        "organisation",
        "organization name",
        "customer",
        "customer name",
        "client",
        "client name",
        "associated company",
    ),
    "contact": (
        "email",
        "e mail",
        "email address",
        "contact email",
        "requester email",
        "customer email",
        "phone",
    ),
    "type": ("activity type",),
    "source": ("activity source",),
    "happened_at": (
        "date",
        "created",
        "created at",
        "created on",
        "created date",
        "created time",
        "creation date",
        "date created",
        "create date",
        "date time",
        "timestamp",
        "date time opened",
        "opened",
        "activity date",
    ),
}


@dataclass(frozen=True)
class FieldChoice:
    """Where one API field comes from, and how that was decided (for the comment)."""

    column: int | None  # None: no candidate, a placeholder is written
    how: str
    candidates: tuple[str, ...] = ()  # headers that might do, for a placeholder


@dataclass
class Proposal:
    """A proposed mapping for one export, ready to be rendered as TOML."""

    input: Path
    table: Table
    sample: pd.DataFrame  # the first rows, blank rows left out, cells only
    sampled_rows: int
    profile: str | None
    fields: dict[str, FieldChoice]
    constants: dict[str, str]
    extras: list[tuple[str, int]]  # (key sent, column position)
    dates: FormatGuess
    blank_values: tuple[str, ...] = ()
    timezone_note: str | None = None
    missing: list[str] = field(default_factory=list)  # required fields without a column

    def header(self, position: int) -> str:
        """The header as a mapping names it (``"Email #2"`` for a repeated one)."""
        return header_names(self.table.headers)[position]


def header_names(headers: list[str]) -> list[str]:
    """Each column as a mapping names it: its header, ``"Email #2"`` for a repeated one."""
    counts = Counter(headers)
    seen: Counter[str] = Counter()
    names = []
    for header in headers:
        seen[header] += 1
        names.append(header if counts[header] == 1 else f"{header} #{seen[header]}")
    return names


def _unnamed(headers: list[str]) -> set[int]:
    """Columns a mapping cannot name: blank headers, and a repeated header's ``"Email #2"``
    when another column is headed ``Email #2`` itself (that name finds the other one)."""
    literal = set(headers)
    return {
        position
        for position, (header, name) in enumerate(zip(headers, header_names(headers), strict=True))
        if not header or (name != header and name in literal)
    }


def load_profiles() -> dict[str, Mapping]:
    """The ready-made profiles, by name (``zendesk``, …)."""
    return {path.stem: load_mapping(path) for path in sorted(PROFILES.glob("*.toml"))}


def propose(path: Path, sheet: str | None = None) -> Proposal:
    """Read ``path``'s header and first rows and propose where every field comes from."""
    profiles = load_profiles()
    top = top_rows(path, sheet=sheet)
    profile_name, header_index = _recognise(top, profiles)
    profile = profiles.get(profile_name) if profile_name else None
    table = open_table(path, sheet=sheet, header_row=header_index + 1)
    sample, rows = _sample(table)
    headers = table.headers
    fields: dict[str, FieldChoice] = {}
    constants: dict[str, str] = {}
    extras: list[tuple[str, int]] = []
    if profile is not None:
        fields, constants, extras = _from_profile(profile, headers)
    _match_fields(fields, constants, headers, sample, profiles)
    unnamed = _unnamed(headers)
    used = {choice.column for choice in fields.values()} | unnamed
    names = header_names(headers)
    if profile is None:
        extras = [
            (names[position], position)
            for position in range(len(headers))
            if position not in used and _filled(sample, position)
        ]
    else:
        extras = [(key, position) for key, position in extras if position not in unnamed]
    happened = fields.get("happened_at")
    dates = (
        guess_date_format(_column(sample, happened.column))
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
        fields=fields,
        constants=constants,
        extras=extras,
        dates=dates,
        blank_values=profile.blank_values if profile else (),
        timezone_note=_timezone_note(profile_name),
        missing=[name for name in REQUIRED if name in fields and fields[name].column is None],
    )
    return proposal


def _recognise(top: list[list[str]], profiles: dict[str, Mapping]) -> tuple[str | None, int]:
    """The profile whose headers the file has (the one with most of them), and the header
    row's index; without one, the row holding the field names, else the fullest row."""
    best: tuple[int, str, int] | None = None
    for name, profile in profiles.items():
        index = profile.find_header(top)
        if index is None:
            continue
        cells = {cell.strip().lower() for cell in top[index]}
        extra = profile.additional_information or {}
        score = sum(any(h.lower() in cells for h in choices) for choices in extra.values())
        if best is None or score > best[0]:
            best = (score, name, index)
    if best is not None:
        return best[1], best[2]
    named = Mapping().find_header(top)
    if named is not None:
        return None, named
    filled = [sum(bool(cell.strip()) for cell in row) for row in top]
    most = max(filled, default=0)
    return None, filled.index(most) if most else 0


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


def _match_fields(
    fields: dict[str, FieldChoice],
    constants: dict[str, str],
    headers: list[str],
    sample: pd.DataFrame,
    profiles: dict[str, Mapping],
) -> None:
    """Fill in the fields not yet mapped, stage by stage over the columns still free."""
    todo = [name for name in FIELDS if name not in fields and name not in constants]
    words = [_words(header) for header in headers]
    aliases = _all_aliases(profiles)
    unnamed = _unnamed(headers)

    def free() -> list[int]:
        used = {choice.column for choice in fields.values()} | unnamed
        return [p for p in range(len(headers)) if p not in used]

    def plausible(name: str, position: int) -> bool:
        values = _column(sample, position)
        if name == "contact":
            return _share(values, _EMAIL) >= _VALUES_SHARE or _share(values, _PHONE) >= 0.95
        if name == "happened_at":
            return _date_share(values) >= _VALUES_SHARE
        if name == "reference":
            return _id_like(values)
        return True

    for name in list(todo):  # exact and normalised names
        target = _words(name)
        for position in free():
            if normalise_header(headers[position]) == name or words[position] == target:
                fields[name] = FieldChoice(position, "its name")
                todo.remove(name)
                break
    for name in list(todo):  # the profiles' headers and common names for the field
        for position in free():
            if words[position] in aliases[name] and plausible(name, position):
                fields[name] = FieldChoice(position, "a usual name for it")
                todo.remove(name)
                break
    for name in list(todo):  # names close to those (typos, other spellings)
        names = [_words(name), *aliases[name]]
        scored = [
            (found[1], position)
            for position in free()
            if words[position]
            and (found := process.extractOne(words[position], names, scorer=fuzz.ratio))
            and found[1] >= _FUZZY_CUTOFF
            and plausible(name, position)
        ]
        if scored:
            _, position = max(scored, key=lambda pair: (pair[0], -pair[1]))
            fields[name] = FieldChoice(position, f"a name like '{_words(name)}'")
            todo.remove(name)
    for name in list(todo):  # the values themselves
        by_values = _by_values(name, free(), words, sample)
        if by_values is not None:
            fields[name] = FieldChoice(by_values, _VALUE_REASONS[name])
            todo.remove(name)
    names = header_names(headers)
    for name in todo:
        if name in REQUIRED:
            fields[name] = FieldChoice(None, "", _candidates(free(), names, sample))


_VALUE_REASONS = {
    "contact": "its values: emails",
    "happened_at": "its values: dates and times",
    "reference": "its values: unique IDs",
}


def _by_values(name: str, free: list[int], words: list[str], sample: pd.DataFrame) -> int | None:
    """The free column whose values look like the field's (best hint in its header)."""
    scored: list[tuple[float, int]] = []
    for position in free:
        values = _column(sample, position)
        header = words[position]
        if name == "contact":
            share = _share(values, _EMAIL)
            bonus = _has(header, "contact", "requester", "customer", "email", "supplied")
            bonus -= _has(header, "agent", "owner", "assignee", "user", "created by")
        elif name == "happened_at":
            share = _date_share(values)
            bonus = _has(header, "creat", "open", "start", "date", "time", "happen")
            bonus -= _has(header, "updat", "modif", "clos", "resol", "due", "last", "solved")
        elif name == "reference":
            share = 1.0 if _id_like(values) else 0.0
            bonus = _has(header, "id", "number", "ref", "no", "key")
        else:
            return None
        if share >= _VALUES_SHARE:
            scored.append((share + bonus, -position))
    if not scored:
        return None
    return -max(scored)[1]


def _has(header: str, *parts: str) -> float:
    return 0.5 if any(part in header.split() or part in header for part in parts) else 0.0


def _candidates(free: list[int], names: list[str], sample: pd.DataFrame) -> tuple[str, ...]:
    """Text columns that could hold a name (not dates, emails or unique IDs), at most six."""
    found = []
    for position in free:
        values = _column(sample, position).dropna()
        if values.empty or _date_share(values) >= 0.5 or _share(values, _EMAIL) >= 0.5:
            continue
        if _share(values, r"^[\d\s.,:+\-]*$") >= 0.5:
            continue  # numbers are no names
        found.append(names[position])
    return tuple(found[:6])


def _all_aliases(profiles: dict[str, Mapping]) -> dict[str, set[str]]:
    aliases = {name: set(_ALIASES.get(name, ())) for name in FIELDS}
    for profile in profiles.values():
        for name, choices in profile.columns.items():
            aliases[name].update(_words(choice) for choice in choices)
    return aliases


def _words(header: str) -> str:
    """``CreatedDate`` / ``Date/Time Opened`` → ``created date`` / ``date time opened``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", header.strip())
    return " ".join(re.findall(r"[a-z0-9]+", spaced.lower()))


def _column(sample: pd.DataFrame, position: int) -> pd.Series:
    """Sampled cells of one column, trimmed, None for blank."""
    if position not in sample.columns:
        return pd.Series(dtype=object)
    values = sample[position].astype(str).str.strip()
    return values.where(values != "", None)


def _filled(sample: pd.DataFrame, position: int) -> bool:
    return bool(_column(sample, position).notna().any())


def _share(values: pd.Series, pattern: str) -> float:
    present = values.dropna()
    if present.empty:
        return 0.0
    return float(present.str.match(pattern).mean())


def _date_share(values: pd.Series) -> float:
    present = values.dropna()
    if present.empty or _share(present, r"^\d+$") > 0.5:
        return 0.0  # plain numbers are no dates (years alone, counts)
    read = parse_timestamps(present).problem.isna().to_numpy(copy=True)
    if not read.all():
        read |= np.array([reading_of(value) is not None for value in present])
    if not read.all():
        guess = guess_date_format(present[~read])
        if guess.formats:
            left = parse_timestamps(present, date_format=guess.formats).problem.isna()
            read |= left.to_numpy()
    return float(read.mean())


def _id_like(values: pd.Series) -> bool:
    """Filled in every sampled row, unique, one word of at most 128 characters."""
    if len(values) < 2 or values.isna().any():
        return False
    return bool(
        values.is_unique
        and values.str.len().max() <= 128
        and not values.str.contains(r"\s").any()
        and _date_share(values) < 0.5
        and _share(values, _EMAIL) < 0.5
    )


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


# --- the TOML file ---------------------------------------------------------------------


def render(proposal: Proposal, now: dt.datetime | None = None) -> str:
    """The proposal as a commented mapping file that lists every input column."""
    now = now or dt.datetime.now(dt.UTC)
    table = proposal.table
    lines = [
        f"# Mapping for {proposal.input.name}, proposed by cg-import init on "
        f"{now:%Y-%m-%d} from its first {proposal.sampled_rows:,} rows.",
        f"# Recognised as: {proposal.profile.capitalize()} export "
        f"(schemas/profiles/{proposal.profile}.toml)"
        if proposal.profile
        else "# No known export recognised: columns were matched by name and by their values.",
        "# Check every line, then: cg-import validate "
        f"{_quoted_arg(proposal.input.name)} --mapping THIS-FILE",
        "",
    ]
    if table.kind == "xlsx" and table.sheet:
        lines.append(f"sheet = {_toml(table.sheet)}")
    if table.header_row > 1:
        lines.append(f"header_row = {table.header_row}  # the rows above it are a title, not data")
    lines += _date_lines(proposal.dates)
    lines.append(
        '# timezone = "UTC"  # the zone of times without an offset; set it to '
        + (proposal.timezone_note or "")
    )
    if proposal.blank_values:
        values = ", ".join(_toml(v) for v in proposal.blank_values)
        lines.append(f"blank_values = [{values}]  # cells that mean 'nothing here'")

    lines += ["", "[columns]  # API field = input header"]
    for name in FIELDS:
        choice = proposal.fields.get(name)
        if choice is None:
            continue
        if choice.column is None:
            seen = ", ".join(map(_toml, choice.candidates)) or "none"
            lines.append(
                f"{name} = {_toml(PLACEHOLDER)}  # REQUIRED: no column looked like {name}; "
                f"name one (candidates: {seen}), or set a fixed value in [constants]"
            )
        else:
            lines.append(
                f"{name} = {_toml(proposal.header(choice.column))}  # by {choice.how}"
                + _example(proposal, choice.column)
            )
    if proposal.constants:
        lines += ["", "[constants]  # API field = the same value for every row"]
        lines += [f"{name} = {_toml(value)}" for name, value in proposal.constants.items()]

    lines += ["", "[additional_information]  # key sent = input header; only these are sent"]
    lines += [
        f"{_key(key)} = {_toml(proposal.header(position))}" for key, position in proposal.extras
    ]
    used = {c.column for c in proposal.fields.values()} | {p for _, p in proposal.extras}
    # keys of the lines left commented out differ from every other: uncommenting one is safe
    keys = {key for key, _ in proposal.extras}
    names = header_names(table.headers)
    unnamed = _unnamed(table.headers)
    for position, header in enumerate(table.headers):
        if not header or position in used:
            continue
        if position in unnamed:
            lines.append(
                f"# column {column_name(position)} ({_toml(header)}, repeated) cannot be named "
                f"here: another column is headed {_toml(names[position])}; rename one to send it"
            )
            continue
        key = _unused(names[position], keys)
        why = "blank in the sample" if not _filled(proposal.sample, position) else "not sent"
        lines.append(f"# {_key(key)} = {_toml(names[position])}  # {why}: uncomment to send it")
    # a comment holding a line break would spill its rest onto a line of its own
    text = "\n".join(map(_one_line, lines)) + "\n"
    tomllib.loads(text)  # a file that would not load is never written: fail here instead
    return text


def _unused(key: str, keys: set[str]) -> str:
    """``key``, or ``key (2)``, ``key (3)``… if taken; the result is then taken too."""
    chosen, number = key, 1
    while chosen in keys:
        number += 1
        chosen = f"{key} ({number})"
    keys.add(chosen)
    return chosen


def _date_lines(dates: FormatGuess) -> list[str]:
    if dates.question:
        return [f"# date_format: {dates.question}"]
    if not dates.formats:
        return []
    forms = dates.formats
    value = _toml(forms[0]) if len(forms) == 1 else "[" + ", ".join(map(_toml, forms)) + "]"
    seen = f" (e.g. '{dates.example}')" if dates.example else ""
    return [f"date_format = {value}  # how happened_at is written{seen}"]


def _example(proposal: Proposal, position: int) -> str:
    values = _column(proposal.sample, position).dropna()
    if values.empty:
        return ", blank in the sample"
    text = " ".join(str(values.iloc[0]).split())
    return f", e.g. '{text[:40]}'"


#: what a TOML basic string must escape: the quote, the backslash and control characters
_TOML_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f]')
_TOML_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
#: what a TOML comment may not hold (a tab it may)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _escaped(found: re.Match[str]) -> str:
    char = found[0]
    return _TOML_ESCAPES.get(char) or f"\\u{ord(char):04X}"


def _toml(text: str) -> str:
    """A TOML basic string; safe in a comment too (it holds no control character)."""
    return '"' + _TOML_ESCAPE.sub(_escaped, text) + '"'


def _one_line(line: str) -> str:
    """``line`` with its control characters written as escapes (``\\n``): one line of TOML."""
    return _CONTROL.sub(_escaped, line)


def _key(text: str) -> str:
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else _toml(text)


def _quoted_arg(name: str) -> str:
    return name if re.fullmatch(r"[\w.\-/]+", name) else f'"{name}"'


# --- checking it -------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleCheck:
    """What ``validate`` would say of the sampled rows with the mapping written."""

    counts: dict[str, int]
    problems: tuple[str, ...]  # the first ones, as 'row N: field: message'
    refused: str | None  # why the mapping cannot be used yet (a placeholder, …)


def check_sample(proposal: Proposal, mapping_path: Path, zone: str = "UTC") -> SampleCheck:
    """Validate the sampled rows with the mapping file as written (read back from disk)."""
    try:
        mapping = load_mapping(mapping_path)
        plan = plan_columns(proposal.table.headers, mapping, proposal.input.name)
    except MappingError as err:
        return SampleCheck({}, (), str(err))
    table = proposal.table
    table.error_columns = plan.positions
    chunk = next(table.chunks(SAMPLE_ROWS), None)
    if chunk is None:
        return SampleCheck({}, (), None)
    result = Validator(plan, zone, mapping.date_format, payloads=False).check(chunk)
    counts = Counter(result.outcomes["status"])
    problems = tuple(
        f"row {issue.source_row}: {issue.field}: {issue.message}"
        for issue in list(result.row_issues())[:5]
    )
    return SampleCheck(dict(counts), problems, None)


def summary_lines(proposal: Proposal, written: Path, check: SampleCheck) -> list[str]:
    """What ``init`` tells the analyst: where the file is, what to fill in, how rows fare."""
    lines = [f"Wrote {written}"]
    lines.append(
        f"  recognised: {proposal.profile.capitalize()} export"
        if proposal.profile
        else "  no known export recognised: columns matched by name and by their values"
    )
    for name in FIELDS:
        choice = proposal.fields.get(name)
        if choice is not None and choice.column is not None:
            lines.append(f"  {name:<12} ← '{proposal.header(choice.column)}' (by {choice.how})")
        elif name in proposal.constants:
            lines.append(f"  {name:<12} = '{proposal.constants[name]}' (fixed)")
    if proposal.dates.formats:
        lines.append(f"  date_format  {', '.join(proposal.dates.formats)}")
    if proposal.dates.question:
        lines.append(f"  date_format? {proposal.dates.question}")
    if proposal.dates.unreadable:
        shown = ", ".join(f"'{v}'" for v in proposal.dates.unreadable)
        lines.append(f"  dates no form reads: {shown}")
    for name in proposal.missing:
        lines.append(
            f"  {name}: REQUIRED, no column found; edit '{name} = \"{PLACEHOLDER}\"' in "
            f"{written} (or give a fixed value in [constants])"
        )
    if check.refused:
        lines.append(f"  sample not validated: {check.refused}")
    elif check.counts:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(check.counts.items()))
        lines.append(f"  sample of {sum(check.counts.values())} rows validated: {counts}")
        lines += [f"    {problem}" for problem in check.problems]
    lines.append(f"Next: cg-import validate {_quoted_arg(str(proposal.input))} --mapping {written}")
    return lines


__all__ = [
    "PLACEHOLDER",
    "Proposal",
    "SampleCheck",
    "check_sample",
    "load_profiles",
    "propose",
    "render",
    "summary_lines",
]
