"""The face of the reading wing: an input file opened as a ``Table`` of text chunks.

Every cell is text (``""`` for blank): leading zeros stay, Excel whole numbers lose their
``.0``, Excel date cells become ``Y-m-d H:i:s``, formulas give their cached values. A chunk
is a DataFrame whose index is the source row (header = row 1, unless a title block sits
above it; for Excel the sheet's own row number) and whose columns are the input's column
positions ``0..n-1``; the headers are kept on the ``Table``. Files are never loaded whole,
except an Excel sheet within ``ReadOptions.calamine_max_bytes``: memory stays bounded.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from .calamine_rows import AsideSheet, calamine_chunks, calamine_state, reload, rows_from_top
from .csv_rows import CsvLayout, csv_chunks, headers_of, parsed_csv, read_head
from .excel_batch import SheetLayout
from .header import HeaderChoice, HeaderFinder, excel_header
from .openpyxl_rows import openpyxl_chunks, openpyxl_top
from .options import HEADER_SEARCH_ROWS, ReadOptions
from .sheet_scan import refuse_sheet_doctype
from .xlsx_package import choose_sheet, open_archive, read_book, workbook_digest

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
DEFAULT_CHUNK_ROWS = 50_000


@dataclass
class Table:
    """An input file opened for reading: its headers and how to stream its rows."""

    path: Path
    kind: str  # "csv" or "xlsx"
    headers: list[str]
    sha256: str
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    header_row: int = 1
    estimated_rows: int | None = None  # for progress bars only; may be off
    preamble_lines: int = 0  # lines before a CSV's header that are no data (Excel's `sep=`)
    #: columns where an Excel error value (``#REF!``) makes the row invalid; None: all
    error_columns: frozenset[int] | None = None
    #: which library reads the workbook: "calamine" (fast, in memory) or "openpyxl"
    reader: str | None = None
    #: the settings the table was opened with (its rows are read with them too)
    options: ReadOptions = field(default_factory=ReadOptions, repr=False)
    #: the sheet calamine read when the table was opened, until its rows are read
    _calamine: Any = field(default=None, repr=False, compare=False)

    def chunks(self, rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """Yield the data rows (blank ones included) in chunks of at most ``rows``."""
        if self.kind == "csv":
            yield from csv_chunks(self._csv_layout(), rows)
        else:
            yield from self._excel_chunks(rows)

    def check_parses(self) -> None:
        """Parse a CSV to its end once, so a file broken mid-way is refused before any send."""
        if self.kind != "csv":
            return
        try:
            for _ in parsed_csv(self._csv_layout(), DEFAULT_CHUNK_ROWS):
                pass
        except InputError as err:
            raise InputError(f"{err}; nothing was sent") from None

    def _csv_layout(self) -> CsvLayout:
        return CsvLayout(
            self.path,
            self.headers,
            self.encoding,
            self.delimiter,
            self.header_row,
            self.preamble_lines,
        )

    def _excel_chunks(self, rows: int) -> Iterator[pd.DataFrame]:
        layout = SheetLayout(
            self.path, self.sheet, self.headers, self.header_row, self.error_columns
        )
        if self.reader == "calamine":
            state, self._calamine = self._calamine, None  # read once: memory goes with it
            if state is None:
                state = reload(self.path, self.sheet, self.options)
            if state is not None:
                try:
                    yield from calamine_chunks(layout, state, rows)
                finally:
                    if isinstance(state.sheet, AsideSheet):
                        state.sheet.aside.close()  # its memory goes with it
                return
        yield from openpyxl_chunks(layout, rows)


def open_table(
    path: Path,
    *,
    sheet: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    header_row: int | None = None,
    find_header: HeaderFinder | None = None,
    load_aside: bool = False,
    options: ReadOptions | None = None,
) -> Table:
    """Open ``path``, check it is a readable table and read its header row.

    The header is row ``header_row`` if given, else the one ``find_header`` picks among the
    top rows, else the first row (for Excel: the first that holds anything).
    ``load_aside``: a large sheet may be loaded by a child process (``loading_child.Aside``)
    while this one scans it; its rows are then read once (``chunks``), from the child.
    ``options``: which reader takes which sheet, and the memory each may take.
    """
    options = options or ReadOptions()
    _refuse_non_file(path)
    suffix = path.suffix.lower()
    header = HeaderChoice(header_row, find_header)
    if suffix in EXCEL_SUFFIXES:
        return _open_excel(path, sheet, header, load_aside, options)
    if suffix == ".xls":
        raise InputError(
            f"{path.name} is an old-style .xls workbook; open it in Excel and save as .xlsx or .csv"
        )
    if suffix in CSV_SUFFIXES or suffix == "":
        return _open_csv(path, delimiter, encoding, header, options)
    raise InputError(f"{path.name}: cannot read '{suffix}' files; save it as .csv or .xlsx")


def top_rows(
    path: Path,
    *,
    sheet: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    rows: int = HEADER_SEARCH_ROWS,
    options: ReadOptions | None = None,
) -> list[list[str]]:
    """The first ``rows`` rows of the file as texts (rows 1, 2, … as the analyst numbers them)."""
    found: list[list[str]] = []

    def keep(candidates: list[list[str]]) -> int | None:
        found.extend(candidates[:rows])
        return None

    open_table(
        path,
        sheet=sheet,
        delimiter=delimiter,
        encoding=encoding,
        find_header=keep,
        options=options,
    )
    return found


def _refuse_non_file(path: Path) -> None:
    """Refuse pipes, devices and folders before opening them (reading a FIFO waits forever)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(
            f"{path}: no such file; check the path (and quote names with spaces)"
        ) from None
    except OSError as err:
        raise InputError(f"{path}: cannot be read ({err.strerror}); check the path") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{path} is a folder; give the path of a .csv or .xlsx file")
    if not stat.S_ISREG(mode):
        raise InputError(
            f"{path} is not a regular file (a pipe, socket or device); "
            "give the path of a saved .csv or .xlsx file"
        )


def _open_csv(
    path: Path,
    delimiter: str | None,
    encoding: str | None,
    choice: HeaderChoice,
    options: ReadOptions,
) -> Table:
    head = read_head(path, delimiter, encoding, max(HEADER_SEARCH_ROWS, choice.number or 0))
    at = choice.pick(path, head.top, 0)
    header = head.top[at] if at < len(head.top) else []
    if not any(h.strip() for h in header):
        where = "the first row" if at == 0 else f"row {at + 1}"
        raise InputError(f"{path.name}: {where} is blank; it must hold the column headers")
    return Table(
        path,
        "csv",
        headers_of(header),
        head.digest,
        head.encoding,
        head.delimiter,
        header_row=at + 1,
        estimated_rows=max(0, head.lines - 1 - at - head.preamble),
        preamble_lines=head.preamble,
        options=options,
    )


def _open_excel(
    path: Path, sheet: str | None, choice: HeaderChoice, load_aside: bool, options: ReadOptions
) -> Table:
    digest = workbook_digest(path)
    with open_archive(path) as archive:
        book = read_book(archive, path)
        entry = choose_sheet(book, path, sheet)
        state = calamine_state(path, archive, book, entry, options, load_aside=load_aside)
        if state is None:
            refuse_sheet_doctype(path, archive, entry)
    last: int | None  # the sheet's last row, as far as it says
    if state is None:
        with openpyxl_top(path, entry) as (rows, last):
            header, header_row = excel_header(rows, path, entry.name, choice)
    else:
        header, header_row = excel_header(rows_from_top(state), path, entry.name, choice)
        last = state.scan.dimension[0] if state.scan.dimension else state.scan.last_row
    return Table(
        path,
        "xlsx",
        [h.strip() for h in header],
        digest,
        sheet=entry.name,
        header_row=header_row,
        estimated_rows=None if last is None else max(0, last - header_row),
        reader="openpyxl" if state is None else "calamine",
        options=options,
        _calamine=state,
    )
