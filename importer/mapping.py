"""Map input headers to API fields, constants and additional information.

Without a mapping file, headers match field names case-insensitively, with spaces,
hyphens and dots read as underscores (``Happened At`` → ``happened_at``), and every other
column with a header goes into ``additional_information_object`` under its header. A
TOML mapping file (see SPEC.md) names the headers, fixed values and extra keys for real
exports; fields it does not name still match by header. A ``[columns]`` entry may list
several headers (``account = ["Company Name", "Contact ID"]``): in each row the first of
them that the file has and that is not blank there wins, so one profile fits a vendor's
several export formats and a column blank on some rows falls back to the next. An
``[additional_information]`` entry's list names alternatives: the first header the file has.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from schemas.activity import FIELDS, REQUIRED

from .errors import MappingError
from .excel_text import strip
from .trace import trace_columns

_SETTINGS = ("sheet", "delimiter", "encoding", "timezone")
_LISTS = ("date_format", "blank_values")
_TABLES = ("columns", "constants", "additional_information")
#: rows at the top of a sheet looked at for the header row (title blocks sit above it)
HEADER_SEARCH_ROWS = 30


@dataclass(frozen=True)
class Mapping:
    """A mapping file's content (all optional)."""

    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # field → alternatives
    constants: dict[str, str] = field(default_factory=dict)
    additional_information: dict[str, tuple[str, ...]] | None = None
    sheet: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    date_format: tuple[str, ...] = ()  # strptime forms of happened_at, tried in order
    timezone: str | None = None
    header_row: int | None = None  # None: found by ``find_header``
    blank_values: tuple[str, ...] = ()  # cells holding one of these are blank
    path: Path | None = None

    def find_header(self, rows: list[list[str]]) -> int | None:
        """Which of the sheet's top ``rows`` is the header (0-based), None for the first.

        With [columns], the first row holding one of each entry's headers; without, the
        first row holding every required field's name. Rows above it are a title block.
        """
        wanted: list[set[str]] = [
            {header.strip().lower() for header in choices} for choices in self.columns.values()
        ]
        if not wanted:
            wanted = [{name} for name in REQUIRED if name not in self.constants]
            for number, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
                names = {normalise_header(cell) for cell in row}
                if all(choices & names for choices in wanted):
                    return number
            return None
        for number, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
            cells = {cell.strip().lower() for cell in row}
            if all(choices & cells for choices in wanted):
                return number
        return None


def load_mapping(path: Path) -> Mapping:
    """Read and check a TOML mapping file."""
    name = path.name
    data = _read_toml(path)
    settings = _settings(name, data)
    lists = {key: _texts(name, key, data.get(key)) for key in _LISTS}
    header_row = _header_row(name, data.get("header_row"))
    constants = _text_table(name, "constants", data.get("constants"))
    choices = {
        key: _choices_table(name, key, data.get(key))
        for key in ("columns", "additional_information")
    }
    _check_fields(name, choices["columns"] or {}, constants or {})
    return Mapping(
        columns=choices["columns"] or {},
        constants=constants or {},
        additional_information=choices["additional_information"],
        date_format=lists["date_format"],
        blank_values=lists["blank_values"],
        header_row=header_row,
        path=path,
        **settings,
    )


def _read_toml(path: Path) -> dict[str, object]:
    """The mapping file's TOML, or the one line that says why it cannot be read."""
    name = path.name
    if path.exists() and not path.is_file():  # a FIFO would be waited on forever
        raise MappingError(f"mapping file {path} is not a regular file; give a .toml file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise MappingError(f"mapping file {path} not found; check the --mapping path") from None
    except UnicodeDecodeError:
        raise MappingError(f"mapping file {name} is not UTF-8 text; save it as UTF-8") from None
    except tomllib.TOMLDecodeError as err:
        raise MappingError(
            f"mapping file {name} is not valid TOML ({err}); "
            'write values in quotes, e.g. account = "Company"'
        ) from None


def _settings(name: str, data: dict[str, object]) -> dict[str, str | None]:
    """The file's single-text settings (sheet, delimiter…), once every key is known."""
    known = (*_SETTINGS, *_LISTS, "header_row")
    unknown = sorted(set(data) - set(known) - set(_TABLES))
    if unknown:
        raise MappingError(
            f"mapping file {name}: unknown key(s) {', '.join(unknown)}; allowed are "
            f"{', '.join(known)} and the tables [{'], ['.join(_TABLES)}]"
        )
    settings: dict[str, str | None] = {}
    for key in _SETTINGS:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise MappingError(
                f'mapping file {name}: {key} must be text in quotes, e.g. {key} = "…"'
            )
        settings[key] = value
    return settings


def _header_row(name: str, header_row: object) -> int | None:
    """``header_row``: a row number, 1 or more (None: the header is looked for)."""
    if header_row is not None and (
        isinstance(header_row, bool) or not isinstance(header_row, int) or header_row < 1
    ):
        raise MappingError(
            f"mapping file {name}: header_row must be a row number (1 or more, no quotes), "
            "e.g. header_row = 3"
        )
    return header_row


def _check_fields(
    name: str, columns: dict[str, tuple[str, ...]], constants: dict[str, str]
) -> None:
    """[columns] and [constants] name API fields, and never the same one."""
    for key, entries in (("columns", columns), ("constants", constants)):
        wrong = sorted(set(entries) - set(FIELDS))
        if wrong:
            raise MappingError(
                f"mapping file {name}: [{key}] names unknown field(s) {', '.join(wrong)}; "
                f"the API fields are {', '.join(FIELDS)} (extra columns go in "
                "[additional_information])"
            )
    both = sorted(set(columns) & set(constants))
    if both:
        raise MappingError(
            f"mapping file {name}: {', '.join(both)} is both in [columns] and [constants]; keep one"
        )


def _texts(name: str, key: str, value: object) -> tuple[str, ...]:
    """A setting given as one text or a list of texts."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise MappingError(
            f"mapping file {name}: {key} must be text in quotes or a list of texts, e.g. "
            f'{key} = ["…", "…"]'
        )
    return tuple(items)


def _choices_table(name: str, key: str, value: object) -> dict[str, tuple[str, ...]] | None:
    """A table whose entries name one header or a list of alternative headers."""
    if value is None:
        return None
    if not isinstance(value, MappingType):
        raise MappingError(f'mapping file {name}: [{key}] must be a table of name = "text" lines')
    table: dict[str, tuple[str, ...]] = {}
    for k, v in value.items():
        items = [v] if isinstance(v, str) else v
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            raise MappingError(
                f"mapping file {name}: [{key}] {k} must be a header in quotes, or a list of "
                f'headers of which the first present is used, e.g. {k} = ["Name", "Other name"]'
            )
        table[k] = tuple(items)
    return table


def _text_table(name: str, key: str, value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, MappingType):
        raise MappingError(f'mapping file {name}: [{key}] must be a table of name = "text" lines')
    for k, v in value.items():
        if not isinstance(v, str):
            raise MappingError(
                f'mapping file {name}: [{key}] {k} must be text in quotes, e.g. {k} = "{v}"'
            )
        if not v.strip():
            raise MappingError(f"mapping file {name}: [{key}] {k} is blank; give its text")
    return {k: v.strip() for k, v in value.items()}


def normalise_header(header: str) -> str:
    """``Happened At`` → ``happened_at``: how headers match field names by default."""
    return re.sub(r"[\s.\-]+", "_", header.strip().lower())


@dataclass(frozen=True)
class ColumnPlan:
    """Where each API field and additional-information key comes from, for one input."""

    fields: dict[str, int]  # field → column position (the first of its columns)
    constants: dict[str, str]  # field → fixed value
    extras: tuple[tuple[str, int], ...]  # (key sent, column position)
    blank_values: tuple[str, ...] = ()  # cells (trimmed) that mean blank
    warnings: tuple[str, ...] = ()  # what the run should tell, e.g. headers not found
    #: field → the columns read, in order, where the first is blank in a row
    fallbacks: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def positions(self) -> frozenset[int]:
        """The columns whose cells are sent (as a field or as additional information)."""
        fallbacks = {position for more in self.fallbacks.values() for position in more}
        return (
            frozenset(self.fields.values()) | fallbacks | {position for _, position in self.extras}
        )

    def fields_of(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Cells → the API fields, trimmed; blank becomes None."""
        index = chunk.index
        columns: dict[str, pd.Series] = {}
        for name in FIELDS:
            if name in self.fields:
                columns[name] = self._first_filled(chunk, name)
            elif name in self.constants:
                columns[name] = pd.Series(self.constants[name], index=index, dtype=object)
            else:
                columns[name] = pd.Series(None, index=index, dtype=object)
        return pd.DataFrame(columns, index=index)

    def _first_filled(self, chunk: pd.DataFrame, name: str) -> pd.Series:
        """A field's cells: from its first column, a blank one from the next, and so on."""
        cells = _clean(chunk[self.fields[name]], self.blank_values)
        for position in self.fallbacks.get(name, ()):
            blank = cells.isna()
            if not blank.any():
                break
            cells = cells.where(~blank, _clean(chunk[position], self.blank_values))
        return cells

    def extras_of(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Cells → the additional information, trimmed; blank becomes None."""
        return pd.DataFrame(
            {key: _clean(chunk[position], self.blank_values) for key, position in self.extras},
            index=chunk.index,
        )


def _clean(cells: pd.Series, blank_values: tuple[str, ...] = ()) -> pd.Series:
    """Trimmed texts, ``None`` for blank cells (and for the mapping's ``blank_values``).

    Plain loops over object arrays, joins and substring searches are the fastest way
    through millions of cells (measured: 2-5 times pandas' ``.str`` methods).
    """
    text = strip(cells.to_numpy(dtype=object))
    text[text == ""] = None
    if blank_values:
        text[pd.Series(text).isin(blank_values).to_numpy()] = None
    return pd.Series(text, index=cells.index, dtype=object)


def plan_columns(headers: list[str], mapping: Mapping | None, input_name: str) -> ColumnPlan:
    """Decide, from the header row and the mapping, where every field comes from.

    Two columns with the same header are refused wherever that header would be used (one
    of them would be lost); a mapping picks one as ``"Email #2"`` (the second from the left).
    """
    mapping = mapping or Mapping()
    row = _HeaderRow(headers, input_name)
    fields, fallbacks = row.mapped_fields(mapping.columns)
    fields.update(row.matched_fields(fields, mapping.constants))
    missing = [name for name in REQUIRED if name not in fields and name not in mapping.constants]
    if missing:
        raise MappingError(
            f"required column(s) {', '.join(missing)} not found; {row.hint}. Rename the "
            "headers, or pass --mapping with a [columns] (or [constants]) entry for each: "
            f"'cg-import init {input_name}' proposes one"
        )
    used = set(fields.values()) | {p for more in fallbacks.values() for p in more}
    warnings: list[str] = []
    if mapping.additional_information is not None:
        extras, absent = row.named_extras(mapping.additional_information)
        if absent:
            warnings.append(
                f"{input_name} lacks the column(s) of [additional_information] "
                f"{', '.join(absent)}: not sent; add them to the export, or remove them "
                "from the mapping to silence this"
            )
    else:  # a retry file's trace is the program's own, never sent (trace.py)
        extras = row.other_extras(used | set(trace_columns(headers) or ()))
    return ColumnPlan(
        fields,
        dict(mapping.constants),
        extras,
        mapping.blank_values,
        tuple(warnings),
        fallbacks,
    )


class _HeaderRow:
    """An input's header row, as ``plan_columns`` looks headers up in it."""

    def __init__(self, headers: list[str], input_name: str) -> None:
        self.headers = headers
        self.positions: dict[str, list[int]] = {}  # header → its columns, left to right
        for position, header in enumerate(headers):
            if header:
                self.positions.setdefault(header, []).append(position)
        available = ", ".join(f"'{h}'" for h in headers if h) or "(none)"
        self.hint = f"{input_name} has the headers: {available}"

    def find(self, header: str) -> int | None:
        """The position of ``header`` (None if absent); a duplicated header is refused."""
        positions = self.positions
        found = positions.get(header) or positions.get(header.strip())
        if not found:
            chosen = _OCCURRENCE.fullmatch(header.strip())
            same = positions.get(chosen["header"], []) if chosen else []
            if chosen and len(same) > 1:
                number = int(chosen["number"])
                if 1 <= number <= len(same):
                    return same[number - 1]
            lowered = [p for h, ps in positions.items() if h.lower() == header.lower() for p in ps]
            if len(lowered) == 1:
                return lowered[0]
            return None
        if len(found) > 1:
            raise _duplicate(header, found)
        return found[0]

    def first_found(self, choices: tuple[str, ...]) -> int | None:
        """The first of ``choices`` the row has."""
        return next((p for p in map(self.find, choices) if p is not None), None)

    def mapped_fields(
        self, columns: dict[str, tuple[str, ...]]
    ) -> tuple[dict[str, int], dict[str, tuple[int, ...]]]:
        """The mapping's [columns]: each field's first column found, and the further ones
        found (read where the first is blank); at least one must be found."""
        fields: dict[str, int] = {}
        fallbacks: dict[str, tuple[int, ...]] = {}
        for name, choices in columns.items():
            found = list(dict.fromkeys(p for p in map(self.find, choices) if p is not None))
            if not found:
                which = "is not a header" if len(choices) == 1 else "are not headers"
                raise MappingError(
                    f"the mapping's [columns] {name} names {_listed(choices)}, which {which}; "
                    f"{self.hint}"
                )
            fields[name] = found[0]
            if found[1:]:
                fallbacks[name] = tuple(found[1:])
        return fields, fallbacks

    def matched_fields(self, fields: dict[str, int], constants: dict[str, str]) -> dict[str, int]:
        """The fields neither mapped nor constant whose name a header reads as."""
        headers = self.headers
        by_name: dict[str, list[int]] = {}
        for position, header in enumerate(headers):
            if header:
                by_name.setdefault(normalise_header(header), []).append(position)
        matched: dict[str, int] = {}
        for name in FIELDS:
            if name in fields or name in constants:
                continue
            matches = by_name.get(name, [])
            if len(matches) > 1:
                if len({headers[p] for p in matches}) == 1:
                    raise _duplicate(headers[matches[0]], matches)
                shown = " and ".join(f"'{headers[p]}'" for p in matches)
                raise MappingError(
                    f"columns {shown} both match the field {name}; "
                    "name one in a mapping file's [columns]"
                )
            if matches:
                matched[name] = matches[0]
        return matched

    def named_extras(
        self, named: dict[str, tuple[str, ...]]
    ) -> tuple[tuple[tuple[str, int], ...], list[str]]:
        """The mapping's [additional_information] found, and those absent as the warning
        names them."""
        found_extras: list[tuple[str, int]] = []
        absent: list[str] = []
        for key, choices in named.items():
            extra = self.first_found(choices)
            if extra is None:
                absent.append(f"{key} ({_listed(choices)})")
            else:
                found_extras.append((key, extra))
        return tuple(found_extras), absent

    def other_extras(self, used: set[int]) -> tuple[tuple[str, int], ...]:
        """Without [additional_information]: every other column with a header, under it."""
        for header, places in self.positions.items():
            unused = [p for p in places if p not in used]
            if len(unused) > 1:
                raise _duplicate(header, unused)
        return tuple(
            (header, position)
            for position, header in enumerate(self.headers)
            if header and position not in used
        )


def _listed(choices: tuple[str, ...]) -> str:
    return " or ".join(f"'{header}'" for header in choices)


#: a mapping's way to pick one of several columns with the same header: ``"Email #2"``
_OCCURRENCE = re.compile(r"(?P<header>.*\S)\s+#(?P<number>\d+)", re.DOTALL)


def _duplicate(header: str, places: list[int]) -> MappingError:
    shown = ", ".join(column_name(p) for p in places)
    picks = " or ".join(f'"{header} #{n}"' for n in range(1, len(places) + 1))
    return MappingError(
        f"{len(places)} columns are headed '{header}' (columns {shown}): one would be lost. "
        f"Rename them, or say which to use in a mapping file, e.g. {picks}"
    )


def column_name(position: int) -> str:
    """A column position as a spreadsheet shows it: 0 → ``A``, 27 → ``AB``."""
    name = ""
    number = position + 1
    while number:
        number, rest = divmod(number - 1, 26)
        name = chr(ord("A") + rest) + name
    return name
