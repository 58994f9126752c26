"""calamine rows: a sheet held in memory (here, or by a loading child) and read into chunks.

python-calamine (Rust) reads a sheet ~10x faster than openpyxl but holds all of it, so it
reads only the sheets within ``ReadOptions.calamine_max_bytes`` whose scan (``sheet_scan``)
passes; what calamine gives as blank (error values, formulas without a saved value) is
written back from the scan. For ``validate`` (``load_aside``) a large sheet is loaded by a
child process under a memory limit while this one scans it (``loading_child.Aside``), and
the child builds the chunks; nothing of it is used unless the scan passes.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import loading_child
from .cells import EXCEL_ERRORS, calamine_text
from .excel_batch import CalamineBatch, SheetLayout, SheetRow, Specials
from .options import EXCEL_COLUMNS, EXCEL_ROWS, ReadOptions
from .sheet_scan import UNSAVED, SheetScan, scan_sheet
from .xlsx_package import (
    Book,
    SheetEntry,
    beyond_rows,
    choose_sheet,
    open_archive,
    read_book,
    refuse_oversized_sheet,
)


@dataclass
class CalamineState:
    """A sheet calamine holds in memory, with what the scan learnt about it."""

    sheet: Any
    scan: SheetScan
    first_column: int = field(init=False)  # 0-based column of calamine's first value
    width: int = field(init=False)  # values in each of calamine's rows (0: no value at all)

    def __post_init__(self) -> None:
        start, end = self.sheet.start, self.sheet.end
        self.first_column = start[1] if start else 0
        self.width = end[1] - start[1] + 1 if start and end else 0


def calamine_state(
    path: Path,
    archive: zipfile.ZipFile,
    book: Book,
    entry: SheetEntry,
    options: ReadOptions,
    *,
    load_aside: bool = False,
) -> CalamineState | None:
    """The sheet loaded by calamine if it fits the memory budget, else None (openpyxl).

    With ``load_aside``, a sheet of ``options.aside_min_bytes`` or more is loaded by a child
    process while this one scans it (``loading_child.Aside``): nothing it loaded is used
    unless the scan passes."""
    size = archive.getinfo(entry.part).file_size + book.shared_strings
    if entry.chart or size > options.calamine_max_bytes:
        return None
    wanted = load_aside and size >= options.aside_min_bytes
    loader = start_loading_child(path, entry.name, options.aside_limit(size)) if wanted else None
    sheet: Any = None
    try:
        scan = _calamine_scan(path, archive, entry, options.calamine_max_cells)
        if scan is None:
            return None
        sheet = calamine_load(path, entry.name) if loader is None else _aside_sheet(loader)
    finally:
        if loader is not None and sheet is None:
            loader.close()  # refused by the scan (or calamine could not): openpyxl reads it
    return None if sheet is None else CalamineState(sheet, scan)


def _calamine_scan(
    path: Path, archive: zipfile.ZipFile, entry: SheetEntry, max_cells: int
) -> SheetScan | None:
    """The scan of a sheet calamine may read, or None when openpyxl must read it."""
    scan = scan_sheet(archive, entry, path)
    if scan.dimension:
        refuse_oversized_sheet(path, entry.name, *scan.dimension)
    if not scan.regular or scan.cells > max_cells:
        return None  # far-apart or oddly addressed cells: openpyxl reads them as they come
    if scan.last_row > EXCEL_ROWS:
        raise beyond_rows(path, entry.name, scan.last_row)
    if scan.last_column > EXCEL_COLUMNS:
        return None  # openpyxl names the row holding it
    if not set(scan.error_texts) <= set(EXCEL_ERRORS):
        return None  # calamine refuses newer error values (#SPILL!, #CALC!): openpyxl reads
    return scan


@dataclass(frozen=True)
class AsideSheet:
    """A sheet calamine loaded in a child process: its extent here, its rows there."""

    aside: loading_child.Aside
    start: tuple[int, int] | None
    end: tuple[int, int] | None


def start_loading_child(path: Path, name: str, memory: int) -> loading_child.Aside | None:
    """A child process loading the sheet, or None where there is none to be had."""
    if not loading_child.AVAILABLE:
        return None
    try:
        return loading_child.Aside(
            functools.partial(calamine_load, path, name),
            _extent,
            memory=memory,
            what="reading the sheet",
        )
    except (OSError, AssertionError):  # no process to be had, or none allowed here
        return None


def _aside_sheet(loader: loading_child.Aside) -> AsideSheet | None:
    """The child's sheet once loaded, or None when calamine could not load it there."""
    done, extent = loader.loaded()
    return AsideSheet(loader, *extent) if done else None


def _extent(sheet: Any) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    return sheet.start, sheet.end


def calamine_load(path: Path, name: str) -> Any:
    """The sheet as calamine reads it, or None when calamine cannot (openpyxl then tries,
    and names the problem if there is one)."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        with CalamineWorkbook.from_path(str(path)) as workbook:
            return workbook.get_sheet_by_name(name)
    except CalamineError:
        return None
    except BaseException as err:
        if type(err).__name__ == "PanicException":  # a Rust panic: pyo3 raises this
            return None
        raise


def rows_from_top(state: CalamineState) -> Iterator[SheetRow]:
    """Every row from row 1 to the last, as texts from column A; error values blank."""
    if isinstance(state.sheet, AsideSheet):
        return state.sheet.aside.iterate(_rows_there, state.scan)
    return _sheet_rows(state)


def _rows_there(sheet: Any, scan: SheetScan) -> Iterator[SheetRow]:
    """``calamine_rows`` in the child process holding the sheet."""
    return _sheet_rows(CalamineState(sheet, scan))


def _sheet_rows(state: CalamineState) -> Iterator[SheetRow]:
    pad = [""] * state.first_column
    for number, values, unsaved, errors in _calamine_cells(state):
        texts = pad + [value if type(value) is str else calamine_text(value) for value in values]
        for column, _ in errors:
            if column <= len(texts):
                texts[column - 1] = ""
        yield number, texts, unsaved


def _calamine_cells(
    state: CalamineState,
) -> Iterator[tuple[int, list[Any], list[int], list[tuple[int, str]]]]:
    """(row number, its values as calamine gives them, columns of unsaved formulas, (column,
    error value)) of every row from row 1 to the sheet's last row. The values start at
    column ``state.first_column`` (0-based) and are ``state.width`` long; an error value is
    written in as text (calamine gives it as blank)."""
    sheet, scan = state.sheet, state.scan
    special_rows = scan.special_rows
    at = 0
    number = 0
    values: Any
    none: list[Any] = []
    for values in sheet.iter_rows() if state.width else ():
        number += 1
        if at >= len(special_rows) or special_rows[at] != number:
            yield number, values, none, none
            continue
        values = list(values)
        at, unsaved, errors = _specials_written(state, at, number, values)
        yield number, values, unsaved, errors
    blank = [""] * state.width
    for empty in range(number + 1, scan.last_row + 1):  # rows without a value
        values = list(blank)
        at, unsaved, errors = _specials_written(state, at, empty, values)
        yield empty, values, unsaved, errors


def _specials_written(
    state: CalamineState, at: int, number: int, values: list[Any]
) -> tuple[int, list[int], list[tuple[int, str]]]:
    """``_specials_of`` row ``number``, its error values written into its ``values``."""
    at, unsaved, errors = _specials_of(state.scan, at, number)
    for offset, error in _error_cells(state, errors):
        values[offset] = error
    return at, unsaved, errors


def _specials_of(
    scan: SheetScan, at: int, number: int
) -> tuple[int, list[int], list[tuple[int, str]]]:
    """Row ``number``'s special cells from index ``at``: the columns of its unsaved formulas
    and its (column, error value); the index of the next row's."""
    rows, columns, codes = scan.special_rows, scan.special_columns, scan.special_codes
    unsaved: list[int] = []
    errors: list[tuple[int, str]] = []
    while at < len(rows) and rows[at] == number:
        column, code = columns[at], codes[at]
        if code == UNSAVED:
            unsaved.append(column)
        else:
            errors.append((column, scan.error_texts[code - 1]))
        at += 1
    return at, unsaved, errors


def _error_cells(state: CalamineState, errors: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """A row's error values as (index in calamine's values, error): calamine gives a blank
    there."""
    for column, error in errors:
        if 0 <= column - 1 - state.first_column < state.width:
            yield column - 1 - state.first_column, error


#: rows taken from calamine at a time and turned into columns: fewer than the garbage
#: collector's threshold (700 new objects), so calamine's row lists go before it runs (held
#: by the tens of thousands, each collection would walk them all: twice the time)
_ROWS_AT_ONCE = 256


def calamine_chunks(table: SheetLayout, state: CalamineState, rows: int) -> Iterator[pd.DataFrame]:
    shape = (table.headers, table.error_columns, table.header_row + 1, rows)
    if isinstance(state.sheet, AsideSheet):
        return state.sheet.aside.iterate(_frames_there, state.scan, *shape)
    return _frames(state, *shape)


def _frames_there(sheet: Any, scan: SheetScan, *shape: Any) -> Iterator[pd.DataFrame]:
    """``calamine_chunks`` in the child process holding the sheet, equal texts of a column
    made one object (as pandas' CSV parser gives them): the chunk crosses to the parent in
    about half the bytes and time, and checks there hash each text once."""
    return _frames(CalamineState(sheet, scan), *shape, shared=True)


def _frames(
    state: CalamineState,
    headers: list[str],
    error_columns: frozenset[int] | None,
    first: int,
    rows: int,
    *,
    shared: bool = False,
) -> Iterator[pd.DataFrame]:
    """The chunks of ``rows`` rows from row ``first`` to the sheet's last (``shared``: equal
    texts of a column are one object)."""
    batch = CalamineBatch(headers, error_columns, state.first_column, shared=shared)
    for number, count, columns, specials in _calamine_blocks(state, first, rows):
        yield batch.block(number, count, columns, specials)


def _calamine_blocks(
    state: CalamineState, first: int, size: int
) -> Iterator[tuple[int, int, list[list[Any]], Specials]]:
    """The rows from row ``first`` to the sheet's last, ``size`` at a time, as (the first
    one's number, how many, calamine's values a column at a time, {position in the block:
    (columns of unsaved formulas, (column, error value))}), as ``_calamine_cells`` gives
    them row by row: an error value is written in as text (calamine gives it as blank)."""
    scan, width = state.scan, state.width
    special_rows = scan.special_rows
    at = bisect.bisect_left(special_rows, first)
    rows: Iterator[list[Any]] = iter(state.sheet.iter_rows() if width else ())
    for _ in itertools.islice(rows, first - 1):
        pass  # the header and the rows above it
    number = first
    while True:
        columns: list[list[Any]] = [[] for _ in range(width)]
        count = 0
        while count < size:
            some = list(itertools.islice(rows, min(_ROWS_AT_ONCE, size - count)))
            if not some:
                rows = iter(())
                break
            for column, values in zip(columns, zip(*some, strict=True), strict=True):
                column.extend(values)
            count += len(some)
            del some
        if count < size:  # calamine's rows are over: the others to the last are blank
            blanks = min(size - count, scan.last_row + 1 - number - count)
            if blanks > 0:
                for column in columns:
                    column.extend(itertools.repeat("", blanks))
                count += blanks
        if not count:
            return
        specials: Specials = {}
        while at < len(special_rows) and special_rows[at] < number + count:
            row = special_rows[at]
            at, unsaved, errors = _specials_of(scan, at, row)
            for offset, error in _error_cells(state, errors):
                columns[offset][row - number] = error
            specials[row - number] = (unsaved, errors)
        yield number, count, columns, specials
        number += count


def reload(path: Path, sheet: str | None, options: ReadOptions) -> CalamineState | None:
    """The sheet loaded by calamine again (its table's first load is read once), or None."""
    with open_archive(path) as archive:
        book = read_book(archive, path)
        entry = choose_sheet(book, path, sheet)
        return calamine_state(path, archive, book, entry, options)
