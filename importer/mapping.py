"""Map input headers to API fields, constants and additional information.

Without a mapping file, headers match field names case-insensitively, with spaces,
hyphens and dots read as underscores (``Happened At`` → ``happened_at``), and every other
column with a header goes into ``additional_information_object`` under its header. A
TOML mapping file (see SPEC.md) names the headers, fixed values and extra keys for real
exports; fields it does not name still match by header.
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
from .read import strip

_SETTINGS = ("sheet", "delimiter", "encoding", "date_format", "timezone")
_TABLES = ("columns", "constants", "additional_information")


@dataclass(frozen=True)
class Mapping:
    """A mapping file's content (all optional)."""

    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    additional_information: dict[str, str] | None = None
    sheet: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    date_format: str | None = None
    timezone: str | None = None
    path: Path | None = None


def load_mapping(path: Path) -> Mapping:
    """Read and check a TOML mapping file."""
    name = path.name
    if path.exists() and not path.is_file():  # a FIFO would be waited on forever
        raise MappingError(f"mapping file {path} is not a regular file; give a .toml file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise MappingError(f"mapping file {path} not found; check the --mapping path") from None
    except UnicodeDecodeError:
        raise MappingError(f"mapping file {name} is not UTF-8 text; save it as UTF-8") from None
    except tomllib.TOMLDecodeError as err:
        raise MappingError(
            f"mapping file {name} is not valid TOML ({err}); "
            'write values in quotes, e.g. account = "Company"'
        ) from None
    unknown = sorted(set(data) - set(_SETTINGS) - set(_TABLES))
    if unknown:
        raise MappingError(
            f"mapping file {name}: unknown key(s) {', '.join(unknown)}; allowed are "
            f"{', '.join(_SETTINGS)} and the tables [{'], ['.join(_TABLES)}]"
        )
    settings: dict[str, str | None] = {}
    for key in _SETTINGS:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise MappingError(
                f'mapping file {name}: {key} must be text in quotes, e.g. {key} = "…"'
            )
        settings[key] = value
    tables = {key: _text_table(name, key, data.get(key)) for key in _TABLES}
    for key in ("columns", "constants"):
        wrong = sorted(set(tables[key] or {}) - set(FIELDS))
        if wrong:
            raise MappingError(
                f"mapping file {name}: [{key}] names unknown field(s) {', '.join(wrong)}; "
                f"the API fields are {', '.join(FIELDS)} (extra columns go in "
                "[additional_information])"
            )
    both = sorted(set(tables["columns"] or {}) & set(tables["constants"] or {}))
    if both:
        raise MappingError(
            f"mapping file {name}: {', '.join(both)} is both in [columns] and [constants]; keep one"
        )
    return Mapping(
        columns=tables["columns"] or {},
        constants=tables["constants"] or {},
        additional_information=tables["additional_information"],
        path=path,
        **settings,
    )


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
    return dict(value)


def normalise_header(header: str) -> str:
    """``Happened At`` → ``happened_at``: how headers match field names by default."""
    return re.sub(r"[\s.\-]+", "_", header.strip().lower())


@dataclass(frozen=True)
class ColumnPlan:
    """Where each API field and additional-information key comes from, for one input."""

    fields: dict[str, int]  # field → column position
    constants: dict[str, str]  # field → fixed value
    extras: tuple[tuple[str, int], ...]  # (key sent, column position)

    def fields_of(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Cells → the API fields, trimmed; blank becomes None."""
        index = chunk.index
        columns: dict[str, pd.Series] = {}
        for name in FIELDS:
            if name in self.fields:
                columns[name] = _clean(chunk[self.fields[name]])
            elif name in self.constants:
                columns[name] = pd.Series(self.constants[name], index=index, dtype=object)
            else:
                columns[name] = pd.Series(None, index=index, dtype=object)
        return pd.DataFrame(columns, index=index)

    def extras_of(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Cells → the additional information, trimmed; blank becomes None."""
        return pd.DataFrame(
            {key: _clean(chunk[position]) for key, position in self.extras}, index=chunk.index
        )


def _clean(cells: pd.Series) -> pd.Series:
    """Trimmed texts, ``None`` for blank cells.

    Plain loops over object arrays, joins and substring searches are the fastest way
    through millions of cells (measured: 2-5 times pandas' ``.str`` methods).
    """
    text = strip(cells.to_numpy(dtype=object))
    text[text == ""] = None
    return pd.Series(text, index=cells.index, dtype=object)


def plan_columns(headers: list[str], mapping: Mapping | None, input_name: str) -> ColumnPlan:
    """Decide, from the header row and the mapping, where every field comes from.

    Two columns with the same header are refused wherever that header would be used (one
    of them would be lost); a mapping picks one as ``"Email #2"`` (the second from the left).
    """
    mapping = mapping or Mapping()
    positions: dict[str, list[int]] = {}
    for position, header in enumerate(headers):
        if header:
            positions.setdefault(header, []).append(position)
    available = ", ".join(f"'{h}'" for h in headers if h) or "(none)"
    hint = f"{input_name} has the headers: {available}"

    def locate(header: str, where: str) -> int:
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
            raise MappingError(
                f"the mapping's {where} names '{header}', which is not a header; {hint}"
            )
        if len(found) > 1:
            raise _duplicate(header, found)
        return found[0]

    fields: dict[str, int] = {}
    for name, header in mapping.columns.items():
        fields[name] = locate(header, f"[columns] {name}")
    by_name: dict[str, list[int]] = {}
    for position, header in enumerate(headers):
        if header:
            by_name.setdefault(normalise_header(header), []).append(position)
    for name in FIELDS:
        if name in fields or name in mapping.constants:
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
            fields[name] = matches[0]
    missing = [name for name in REQUIRED if name not in fields and name not in mapping.constants]
    if missing:
        raise MappingError(
            f"required column(s) {', '.join(missing)} not found; {hint}. Rename the headers "
            "or pass --mapping with a [columns] (or [constants]) entry for each"
        )
    used = set(fields.values())
    if mapping.additional_information is not None:
        extras = tuple(
            (key, locate(header, f"[additional_information] {key}"))
            for key, header in mapping.additional_information.items()
        )
    else:
        for header, places in positions.items():
            unused = [p for p in places if p not in used]
            if len(unused) > 1:
                raise _duplicate(header, unused)
        extras = tuple(
            (header, position)
            for position, header in enumerate(headers)
            if header and position not in used
        )
    return ColumnPlan(fields, dict(mapping.constants), extras)


#: a mapping's way to pick one of several columns with the same header: ``"Email #2"``
_OCCURRENCE = re.compile(r"(?P<header>.*\S)\s+#(?P<number>\d+)")


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
