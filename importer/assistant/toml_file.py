"""The proposal rendered as a commented TOML mapping file that lists every input column."""

from __future__ import annotations

import datetime as dt
import re
import tomllib

from schemas.activity import FIELDS

from ..dates import FormatGuess
from ..mapping import column_name
from .headers import header_names, unnamed_columns
from .proposal import Proposal
from .sampled_values import column_values, is_filled

#: written for a required field without any candidate column: validate refuses it by name
PLACEHOLDER = "CHOOSE A COLUMN"
#: what a derived reference means for the analyst
DERIVED = "a row edited later in the export is sent as a new activity"


def render(proposal: Proposal, now: dt.datetime | None = None) -> str:
    """The proposal as a commented mapping file that lists every input column."""
    lines = [
        *_opening_lines(proposal, now or dt.datetime.now(dt.UTC)),
        *_reading_lines(proposal),
        "",
        *_column_lines(proposal),
        "",
        *_additional_lines(proposal),
    ]
    # a comment holding a line break would spill its rest onto a line of its own
    text = "\n".join(map(_one_line, lines)) + "\n"
    tomllib.loads(text)  # a file that would not load is never written: fail here instead
    return text


def _opening_lines(proposal: Proposal, now: dt.datetime) -> list[str]:
    """Where the proposal comes from and what to do with it."""
    return [
        f"# Mapping for {proposal.input.name}, proposed by cg-import init on "
        f"{now:%Y-%m-%d} from its first {proposal.sampled_rows:,} rows.",
        f"# Recognised as: {proposal.recognised_as}, by its headers "
        + ", ".join(f"'{header}'" for header in proposal.recognised_by)
        if proposal.profile
        else "# No known export recognised: columns were matched by name and by their values.",
        "# Check every line, then: cg-import validate "
        f"{quoted_arg(proposal.input.name)} --mapping THIS-FILE",
        "",
    ]


def _reading_lines(proposal: Proposal) -> list[str]:
    """How the file is read: its sheet, header row, date formats, time zone, blank values."""
    table = proposal.table
    lines = []
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
    return lines


def _column_lines(proposal: Proposal) -> list[str]:
    """The [columns] table (a placeholder for a required field without one), then [constants]."""
    lines = ["[columns]  # API field = input header"]
    if "reference" not in proposal.fields:
        lines.append(
            "# reference: no column is the record's own ID, so each row's reference is derived "
            f"from its content (auto-…): {DERIVED}; name an ID column here if there is one"
        )
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
            headers = [proposal.header(p) for p in (choice.column, *choice.fallbacks)]
            value = _toml(headers[0]) if len(headers) == 1 else _toml_list(headers)
            lines.append(f"{name} = {value}  # by {choice.how}" + _example(proposal, choice.column))
    if proposal.constants:
        lines += ["", "[constants]  # API field = the same value for every row"]
        lines += [
            f"{name} = {_toml(value)}" + _constant_note(proposal, name)
            for name, value in proposal.constants.items()
        ]
    return lines


def _constant_note(proposal: Proposal, name: str) -> str:
    """Why a constant is proposed: the profile recognised, or the analyst's own choice."""
    why = proposal.constant_notes.get(name)
    if why:
        return f"  # {why}"
    if not proposal.profile:
        return ""
    what = {"source": "the system", "type": "the record kind"}.get(name, "the profile's value")
    found = ", ".join(f"'{header}'" for header in proposal.recognised_by[:4])
    return f"  # {what}: recognised by the headers {found}"


def _additional_lines(proposal: Proposal) -> list[str]:
    """The [additional_information] table, then every column left out, commented out."""
    table = proposal.table
    lines = ["[additional_information]  # key sent = input header; only these are sent"]
    lines += [
        f"{_key(key)} = {_toml(proposal.header(position))}" for key, position in proposal.extras
    ]
    used = {c.column for c in proposal.fields.values()} | {p for _, p in proposal.extras}
    # keys of the lines left commented out differ from every other: uncommenting one is safe
    keys = {key for key, _ in proposal.extras}
    names = header_names(table.headers)
    unnamed = unnamed_columns(table.headers)
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
        why = "blank in the sample" if not is_filled(proposal.sample, position) else "not sent"
        lines.append(f"# {_key(key)} = {_toml(names[position])}  # {why}: uncomment to send it")
    return lines


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
    values = column_values(proposal.sample, position).dropna()
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


def _toml_list(texts: list[str]) -> str:
    """A TOML list of basic strings: the first of them filled in a row wins."""
    return "[" + ", ".join(map(_toml, texts)) + "]"


def _one_line(line: str) -> str:
    """``line`` with its control characters written as escapes (``\\n``): one line of TOML."""
    return _CONTROL.sub(_escaped, line)


def _key(text: str) -> str:
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else _toml(text)


def quoted_arg(name: str) -> str:
    return name if re.fullmatch(r"[\w.\-/]+", name) else f'"{name}"'
