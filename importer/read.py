"""Read CSV and Excel files as chunks of text cells, numbered as the analyst sees them.

Every cell is text (``""`` for blank): leading zeros stay, Excel whole numbers lose their
``.0``, Excel date cells become ``Y-m-d H:i:s``, formulas give their cached values. A chunk
is a DataFrame whose index is the source row (header = row 1, unless a title block sits
above it; for Excel the sheet's own row number) and whose columns are the input's column
positions ``0..n-1``; the headers are kept on the ``Table``. Files are never loaded whole,
except an Excel sheet small enough for ``CALAMINE_MAX_BYTES``: memory stays bounded.
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import csv
import datetime as dt
import functools
import hashlib
import io
import itertools
import os
import posixpath
import re
import stat
import warnings
import xml.etree.ElementTree as ET
import zipfile
from array import array
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import unescape

import numpy as np
import pandas as pd

from . import aside
from .errors import InputError
from .excel_text import strip, unmark

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
DELIMITERS = (",", ";", "\t", "|")
DEFAULT_CHUNK_ROWS = 50_000
#: Column of a CSV chunk holding cells beyond the header's width (present only if any)
OVERFLOW = "overflow"
#: Column of a chunk holding what the reader found wrong with a row ("" for nothing); present
#: only if any row has a problem. ``validate`` turns each into a problem of that row.
PROBLEM = "problem"
#: Excel's error values: a cell showing one holds no data (its formula broke)
EXCEL_ERRORS = ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A")
#: rows at the top of a sheet looked at for the header row (title blocks sit above it)
HEADER_SEARCH_ROWS = 30
#: picks the header among the top rows (0-based index), None for the first non-blank one
HeaderFinder = Callable[[list[list[str]]], "int | None"]
#: Excel's own limits: a sheet claiming more is not a workbook Excel wrote
EXCEL_ROWS = 1_048_576
EXCEL_COLUMNS = 16_384
#: The largest sheet read with python-calamine: its XML part plus the shared strings,
#: uncompressed. calamine reads ~10x faster than openpyxl but holds the whole sheet (every
#: cell as a 32-byte value, each text cell with its own copy of the text); a larger sheet is
#: streamed by openpyxl in flat memory (~150 MB). Measured (``python benchmarks/excel.py
#: --budget``): peak RSS of the whole ``validate`` = ~100 MB + k x the sheet's bytes, k for
#: 100-240 MB sheets: 1.5 activity rows written by openpyxl (inline strings); 1.8-2.0 the
#: same as Excel saves them (shared strings); 2.1 twelve one-letter texts a row; 2.4 twelve
#: one-digit numbers a row, the shortest cells and the worst case (210 MB sheet: 596 MB).
#: So a sheet within 200 MiB peaks at ~600 MB; any larger one (Excel holds up to
#: 1,048,576 x 16,384 cells) is streamed at ~150 MB.
CALAMINE_MAX_BYTES = 200 << 20
#: calamine lays a sheet out as a grid of every cell between the first and the last one,
#: 32 bytes each (8 million: 256 MB): a sheet whose used cells span more is streamed by
#: openpyxl too (two cells at A1 and XFD1048576 would take 512 TiB)
CALAMINE_MAX_CELLS = 8_000_000
#: a sheet this large (XML and shared strings, ~7,000 activity rows) may be loaded by a child
#: process while this one scans it (``open_table(load_aside=True)``); the child's address
#: space may grow by ASIDE_MEMORY + ASIDE_MEMORY_PER_BYTE x that size (measured peak: ~100 MB
#: + 2.4 x; a grid beyond it, which the scan refuses anyway, makes the child fail at once)
ASIDE_MIN_BYTES = 4 << 20
ASIDE_MEMORY = 1 << 30
ASIDE_MEMORY_PER_BYTE = 8
_SPARE_CELLS = 4
_BLOCK = 1 << 20
# a workbook expanding beyond this is refused before it is opened (zip bomb)
_EXPANSION_RATIO = 100
_EXPANSION_FLOOR = 64 << 20


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
    #: the sheet calamine read when the table was opened, until its rows are read
    _calamine: Any = field(default=None, repr=False, compare=False)

    def chunks(self, rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """Yield the data rows (blank ones included) in chunks of at most ``rows``."""
        if self.kind == "csv":
            yield from _csv_chunks(self, rows)
        else:
            yield from _excel_chunks(self, rows)

    def check_parses(self) -> None:
        """Parse a CSV to its end once, so a file broken mid-way is refused before any send."""
        if self.kind != "csv":
            return
        try:
            for _ in _parsed_csv(self, DEFAULT_CHUNK_ROWS):
                pass
        except InputError as err:
            raise InputError(f"{err}; nothing was sent") from None


def open_table(
    path: Path,
    *,
    sheet: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    header_row: int | None = None,
    find_header: HeaderFinder | None = None,
    load_aside: bool = False,
) -> Table:
    """Open ``path``, check it is a readable table and read its header row.

    The header is row ``header_row`` if given, else the one ``find_header`` picks among the
    top rows, else the first row (for Excel: the first that holds anything).
    ``load_aside``: a large sheet may be loaded by a child process (``aside.Aside``) while
    this one scans it; its rows are then read once (``chunks``), from the child.
    """
    _refuse_non_file(path)
    suffix = path.suffix.lower()
    header = _HeaderChoice(header_row, find_header)
    if suffix in EXCEL_SUFFIXES:
        return _open_excel(path, sheet, header, load_aside)
    if suffix == ".xls":
        raise InputError(
            f"{path.name} is an old-style .xls workbook; open it in Excel and save as .xlsx or .csv"
        )
    if suffix in CSV_SUFFIXES or suffix == "":
        return _open_csv(path, delimiter, encoding, header)
    raise InputError(f"{path.name}: cannot read '{suffix}' files; save it as .csv or .xlsx")


@dataclass(frozen=True)
class _HeaderChoice:
    """How to find the header row: a given number, a finder, or the first row."""

    number: int | None
    finder: HeaderFinder | None

    def pick(self, path: Path, rows: list[list[str]], first: int) -> int:
        """The header's index in ``rows`` (``first`` when nothing says otherwise)."""
        if self.number is not None:
            if self.number > len(rows):
                raise InputError(
                    f"{path.name}: header_row {self.number} is beyond the rows looked at "
                    f"(the first {len(rows)}); check the mapping's header_row"
                )
            return self.number - 1
        if self.finder is not None:
            found = self.finder(rows)
            if found is not None:
                return found
        return first


def top_rows(
    path: Path,
    *,
    sheet: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    rows: int = HEADER_SEARCH_ROWS,
) -> list[list[str]]:
    """The first ``rows`` rows of the file as texts (rows 1, 2, … as the analyst numbers them)."""
    found: list[list[str]] = []

    def keep(candidates: list[list[str]]) -> int | None:
        found.extend(candidates[:rows])
        return None

    open_table(path, sheet=sheet, delimiter=delimiter, encoding=encoding, find_header=keep)
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


def is_blank(chunk: pd.DataFrame) -> pd.Series:
    """Rows whose every cell is blank (they are not activities)."""
    blank = np.ones(len(chunk), dtype=bool)
    for position in range(chunk.shape[1]):
        # most rows are decided by their first cells: look only at the undecided ones
        rows = np.flatnonzero(blank)
        if not len(rows):
            break
        cells = chunk.iloc[:, position].to_numpy(dtype=object)[rows]
        filled = strip(cells) != ""
        blank[rows[filled]] = False
    return pd.Series(blank, index=chunk.index)


def column_letter(position: int) -> str:
    """``0`` → ``A``, ``26`` → ``AA``: a column as Excel names it."""
    letters = ""
    number = position + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _headerless_problem(position: int, value: str | None) -> str:
    """The problem of a row holding ``value`` in a column without a header."""
    column = f"column {position + 1} ({column_letter(position)}) has no header but this row"
    if value is None:
        found = "holds a formula without a saved value there"
    else:
        text = " ".join(value.split())
        found = f"has a value there ('{text[:40]}{'…' if len(text) > 40 else ''}')"
    return f"{column} {found}; give the column a header or clear the cell"


# --- CSV -------------------------------------------------------------------------------

#: the bytes cp1252 leaves undefined: a file holding one is in neither UTF-8 nor cp1252
_NOT_CP1252 = b"\x81\x8d\x8f\x90\x9d"
_NON_ASCII = re.compile("[^\x00-\x7f]")
#: Excel's first line naming the delimiter (Excel hides it and shows the header as row 1)
_EXCEL_SEP_LINE = re.compile(r"\ufeff?sep=([^\r\n\"])[ \t]*(?:\r\n|\r|\n|$)")


@dataclass
class _ByteScan:
    """What the one streaming pass over a CSV learns: its hash, lines and encoding evidence.

    A file that is not valid UTF-8 is read as cp1252 only if that reading is plausible for
    the whole file: no byte undefined in cp1252, and no UTF-8 text beside the invalid bytes.
    UTF-8 for Western letters and punctuation (leads C2-C5, 3- and 4-byte sequences) reads
    in cp1252 as mojibake (``Ã¼``, ``â€™``) that no one types, so one is proof; other 2-byte
    sequences can be a capital letter before a curly quote (``É”``), so they only count
    when they outnumber the invalid bytes.
    """

    eol: bytes
    weigh: bool  # False when the encoding is already decided (BOM of UTF-16, mapping)
    digest: Any = field(default_factory=hashlib.sha256)
    lines: int = 0
    is_utf8: bool = True
    first_bad_line: int = 0  # the first line that is not valid UTF-8
    utf8_text_before: bool = False  # non-ASCII UTF-8 text before the first invalid byte
    western_utf8: int = 0
    other_utf8: int = 0
    stray_bytes: int = 0
    undefined: tuple[int, int] | None = None  # (line, byte) of the first byte cp1252 lacks

    def __post_init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")()

    def feed(self, block: bytes) -> None:
        self.digest.update(block)
        lines_before = self.lines
        self.lines += block.count(self.eol)
        if self.is_utf8:
            pending = len(self._utf8.getstate()[0])
            if block.isascii() and not pending:
                return
            try:
                if not self._utf8.decode(block).isascii():
                    self.utf8_text_before = True
                return
            except UnicodeDecodeError as err:
                self.is_utf8 = False
                at = max(0, err.start - pending)
                self.first_bad_line = lines_before + block.count(self.eol, 0, at) + 1
        if self.weigh:
            self._weigh(block, lines_before)

    def finish(self) -> None:
        if self.is_utf8:
            try:
                self._utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                self.is_utf8 = False
                self.first_bad_line = self.lines + 1

    def _weigh(self, block: bytes, lines_before: int) -> None:
        if block.isascii():
            return
        if self.undefined is None and len(block.translate(None, _NOT_CP1252)) < len(block):
            at = min(at for byte in _NOT_CP1252 if (at := block.find(byte)) >= 0)
            self.undefined = (lines_before + block.count(self.eol, 0, at) + 1, block[at])
        if self.western_utf8:
            return  # UTF-8 text already found: the file is refused whatever follows
        # the decoder (C) does the scanning; a few pages of Python look at what it found
        text = block.decode("utf-8", errors="replace")
        stray = text.count("\ufffd")
        self.stray_bytes += stray
        utf8_text = text.replace("\ufffd", "") if stray else text
        if utf8_text.isascii():
            return
        for char in _NON_ASCII.findall(utf8_text):
            if char <= "\u017f" or char >= "\u0800":
                self.western_utf8 += 1
            else:
                self.other_utf8 += 1

    def mixes_utf8(self) -> bool:
        """Whether a file that is not valid UTF-8 holds UTF-8 text too."""
        return self.utf8_text_before or self.western_utf8 > 0 or self.other_utf8 > self.stray_bytes


def _open_csv(
    path: Path, delimiter: str | None, encoding: str | None, choice: _HeaderChoice
) -> Table:
    try:
        with path.open("rb") as handle:
            head = handle.read(_BLOCK)
            _refuse_binary(path, head)
            utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
            scan = _ByteScan(
                eol=b"\n" if b"\n" in head or b"\r" not in head else b"\r",
                weigh=not utf16 and not encoding,
            )
            block = head
            while block:
                scan.feed(block)
                block = handle.read(_BLOCK)
    except OSError as err:
        raise InputError(f"{path.name} cannot be read ({err.strerror}); check it") from None
    scan.finish()
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        raise InputError(f"{path.name} is empty; it needs a header row and at least one row")

    if head.startswith(codecs.BOM_UTF8):
        chosen = "utf-8-sig"  # a BOM is definitive, whatever the mapping says
        if not scan.is_utf8:
            raise InputError(
                f"{path.name}: line {scan.first_bad_line:,} is not valid UTF-8, though the "
                "file starts with a UTF-8 mark; the file mixes UTF-8 with another encoding: "
                "fix that line, or save the whole file as UTF-8 again"
            )
    elif utf16:
        chosen = "utf-16"  # Excel's "Unicode Text" export
    elif encoding:
        chosen = encoding
    elif scan.is_utf8:
        chosen = "utf-8"
    else:
        _refuse_unclear_encoding(path, scan)
        chosen = "cp1252"
    try:
        codecs.lookup(chosen)
    except LookupError:
        raise InputError(
            f"unknown encoding '{chosen}'; use e.g. utf-8 or cp1252 in the mapping"
        ) from None

    text = head.decode(chosen, errors="replace")
    preamble = 0
    if excel_sep := _EXCEL_SEP_LINE.match(text):
        preamble = 1
        text = text[excel_sep.end() :]
    sep = delimiter or (excel_sep.group(1) if excel_sep else _sniff_delimiter(text))
    if len(sep) != 1:
        raise InputError(f"the delimiter must be one character, not '{sep}'")
    top = _csv_top_rows(text, sep, max(HEADER_SEARCH_ROWS, choice.number or 0))
    at = choice.pick(path, top, 0)
    header = top[at] if at < len(top) else []
    if not any(h.strip() for h in header):
        where = "the first row" if at == 0 else f"row {at + 1}"
        raise InputError(f"{path.name}: {where} is blank; it must hold the column headers")
    return Table(
        path,
        "csv",
        # an Excel error value saved into a CSV (#REF!) is no header: the column is headerless
        ["" if h.strip() in EXCEL_ERRORS else unmark(h).strip() for h in header],
        scan.digest.hexdigest(),
        chosen,
        sep,
        header_row=at + 1,
        estimated_rows=max(0, scan.lines - 1 - at - preamble),
        preamble_lines=preamble,
    )


def _csv_top_rows(text: str, sep: str, wanted: int) -> list[list[str]]:
    """The first rows of a CSV's first block, as records (a quoted cell may span lines)."""
    rows: list[list[str]] = []
    # newline="": a CR-only (old Mac) file is split into lines too
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        for row in reader:
            rows.append(row)
            if len(rows) >= wanted:
                break
    except csv.Error:
        pass
    return rows


def _refuse_unclear_encoding(path: Path, scan: _ByteScan) -> None:
    """Refuse a file that is not UTF-8 and that cp1252 cannot read plausibly either."""
    fix = 'save it as UTF-8, or set encoding in a mapping file (e.g. encoding = "cp1252")'
    if scan.mixes_utf8():
        raise InputError(
            f"{path.name}: line {scan.first_bad_line:,} is not valid UTF-8 but other lines "
            f"are: the file mixes UTF-8 with another encoding; {fix}"
        )
    if scan.undefined:
        line, byte = scan.undefined
        raise InputError(
            f"{path.name}: line {line:,} holds the byte 0x{byte:02X}, which is neither UTF-8 "
            f"nor cp1252 (Windows Western): the file is in another encoding; {fix}"
        )


def _refuse_binary(path: Path, head: bytes) -> None:
    if head.startswith(b"PK\x03\x04"):
        raise InputError(
            f"{path.name} is an Excel workbook (or another zip file), not a CSV; rename it to .xlsx"
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(
            f"{path.name} is an old-style Excel file, not a CSV; open it in Excel and save as .csv"
        )
    if b"\x00" in head[:8192] and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(
            f"{path.name} is a binary file, not a CSV text file; export the data as .csv or .xlsx"
        )


def _sniff_delimiter(text: str) -> str:
    """The delimiter the first line uses most; for a title line without any, the first
    lines' (a title block above the header)."""
    lines = text.lstrip("\ufeff").splitlines()[:HEADER_SEARCH_ROWS] if text.strip() else [""]
    for line in (lines[0], "\n".join(lines)):
        counts = {sep: line.count(sep) for sep in DELIMITERS}
        best = max(counts, key=lambda sep: counts[sep])
        if counts[best]:
            return best
    return ","


def _parsed_csv(table: Table, rows: int) -> Iterator[pd.DataFrame]:
    """The data rows as pandas parses them, ``rows`` at a time; a broken file → InputError."""
    width = len(table.headers)
    try:
        reader = pd.read_csv(
            table.path,
            sep=table.delimiter,
            header=None,
            # room for a few cells too many: such a row is shown as invalid, not shifted
            names=range(width + _SPARE_CELLS),
            index_col=False,
            skiprows=table.header_row + table.preamble_lines,
            dtype=object,  # plain Python texts: the fastest for the per-cell loops later
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            encoding=table.encoding,
            encoding_errors="replace",
            chunksize=rows,
            engine="c",
            quotechar='"',
            doublequote=True,
        )
        with reader:
            while True:
                with warnings.catch_warnings():
                    # pandas would cut a row with more cells than names, keeping quiet
                    warnings.simplefilter("error", pd.errors.ParserWarning)
                    chunk = next(reader, None)
                if chunk is None:
                    return
                yield chunk
    except (pd.errors.ParserError, pd.errors.ParserWarning) as err:
        raise InputError(_explain_parser_error(table, err)) from None
    except pd.errors.EmptyDataError:
        return


def _csv_chunks(table: Table, rows: int) -> Iterator[pd.DataFrame]:
    width = len(table.headers)
    headerless = [p for p, header in enumerate(table.headers) if not header]
    start = table.header_row + 1
    for chunk in _parsed_csv(table, rows):
        chunk.index = pd.RangeIndex(start, start + len(chunk), name="source_row")
        start += len(chunk)
        chunk = _tidy(chunk, width)
        chunk = _unmarked(chunk, width)
        if headerless:
            chunk = _flag_headerless(chunk, headerless)
        yield _flag_swallowed(chunk, table)


def _tidy(chunk: pd.DataFrame, width: int) -> pd.DataFrame:
    """Blank the missing cells of short rows; cells beyond the header go to ``OVERFLOW``.

    pandas fills a short row's missing cells from the right, so the last column tells
    whether there is anything to fill.
    """
    spare = chunk.iloc[:, width:]
    chunk = chunk.iloc[:, :width]
    if width and chunk.iloc[:, -1].hasnans:
        chunk = chunk.fillna("")
    if spare.shape[1] and (spare.to_numpy(dtype=object) != "").any():
        spare = spare.fillna("")
        extra = spare.apply(lambda col: col.str.strip() != "").any(axis=1)
        if extra.any():
            chunk = chunk.copy()
            chunk[OVERFLOW] = spare.where(extra, "").agg(" ".join, axis=1).str.strip()
    return chunk


def _unmarked(chunk: pd.DataFrame, width: int) -> pd.DataFrame:
    """Take away the ``'`` marks our CSV reports put before formula-like text (see
    ``report.formula_safe``), so a retry file fed back holds the original values."""
    for position in range(width):
        cells = chunk[position].to_numpy(dtype=object)
        if "'" in "".join(cells):
            chunk[position] = [unmark(cell) if "'" in cell else cell for cell in cells]
    return chunk


def _flag_headerless(chunk: pd.DataFrame, positions: list[int]) -> pd.DataFrame:
    """Rows with a value under a blank header get a ``PROBLEM`` (the first such column)."""
    problem = np.full(len(chunk), "", dtype=object)
    for position in positions:
        cells = chunk[position].to_numpy(dtype=object)
        rows = np.flatnonzero((strip(cells) != "") & (problem == ""))
        for row in rows:
            problem[row] = _headerless_problem(position, cells[row])
    if (problem != "").any():
        chunk = chunk.copy()
        chunk[PROBLEM] = problem
    return chunk


#: a quoted cell with at least this many lines shaped like the file's rows has swallowed them
SWALLOWED_ROWS = 3
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _flag_swallowed(chunk: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Rows with a cell that swallowed the rows after it get a ``PROBLEM``.

    A cell that starts with a stray quote runs on, line breaks and delimiters included,
    until the next quote in the file: the rows in between become its text (RFC 4180 says
    so, and no parser can tell). They are found by their shape: of the cell's lines after
    its first, at least ``SWALLOWED_ROWS``, and at least half, hold exactly as many
    delimiters as a row of the file. A text with a few line breaks (a description, an
    e-mail) has nothing like it; a file of fewer than 3 columns is not judged.
    """
    width = len(table.headers)
    sep = table.delimiter or ","
    if width < 3:
        return chunk
    problem = chunk[PROBLEM].to_numpy(dtype=object, copy=True) if PROBLEM in chunk else None
    for position in range(width):
        cells = chunk[position].to_numpy(dtype=object)
        joined = "".join(cells)
        if joined.count("\n") + joined.count("\r") < SWALLOWED_ROWS:
            continue  # the common case, decided at C speed
        for row, cell in enumerate(cells):
            if cell.count("\n") + cell.count("\r") < SWALLOWED_ROWS:
                continue
            lines = _LINE_BREAK.split(cell)[1:]
            shaped = sum(line.count(sep) == width - 1 for line in lines)
            if shaped >= SWALLOWED_ROWS and shaped * 2 >= len(lines):
                if problem is None:
                    problem = np.full(len(chunk), "", dtype=object)
                problem[row] = _swallowed_problem(table, position, len(lines))
    if problem is None:
        return chunk
    chunk = chunk.copy()
    chunk[PROBLEM] = problem
    return chunk


def _swallowed_problem(table: Table, position: int, lines: int) -> str:
    column = f"column {column_letter(position)} ({table.headers[position] or 'no header'})"
    return (
        f"a quote in {column} swallowed the next {lines:,} lines of the file into this cell, "
        "rows of the file among them: a stray quote at the start of the cell? Fix the quotes "
        "(a cell that holds a quote must be quoted, its quotes doubled), then check the rows "
        "after this one"
    )


_PANDAS_ROW = re.compile(r"starting at row (\d+)")
_PANDAS_FIELDS = re.compile(r"Expected \d+ fields in line (\d+), saw (\d+)")


def _explain_parser_error(table: Table, err: Exception) -> str:
    """One line naming the row (as the analyst numbers it) where pandas gave up, and why."""
    name, preamble = table.path.name, table.preamble_lines
    message = str(err).strip().splitlines()[-1]
    if unclosed := _PANDAS_ROW.search(message):
        # pandas counts records from 0, the header (and a `sep=` line) included
        row = int(unclosed.group(1)) + 1 - preamble
        return (
            f"{name}: row {row:,}: a quote opened here is never closed; fix the quotes "
            "(a cell that holds a quote must be quoted, its quotes doubled)"
        )
    if too_many := _PANDAS_FIELDS.search(message):
        row = int(too_many.group(1)) - preamble  # counted from 1, in records
        return (
            f"{name}: row {row:,} has many more cells than the {len(table.headers)} headers "
            f"({too_many.group(2)} cells); quote cells that contain '{table.delimiter}' or "
            "check the delimiter"
        )
    if isinstance(err, pd.errors.ParserWarning):
        return (
            f"{name}: a row has many more cells than the {len(table.headers)} headers (more "
            f"than {len(table.headers) + _SPARE_CELLS}); quote cells that contain "
            f"'{table.delimiter}' or check the delimiter"
        )
    return f"{name}: not a readable CSV ({message}); check quotes and the delimiter"


# --- Excel -----------------------------------------------------------------------------
#
# Two readers give the same chunks. python-calamine (Rust) reads a sheet ~10x faster than
# openpyxl but holds all of it in memory, so it reads the sheets that fit
# ``CALAMINE_MAX_BYTES``; openpyxl streams the others in flat memory. Before calamine sees a
# sheet, one pass over its XML (``_scan_sheet``) learns what calamine cannot tell: the
# cells that hold an Excel error or a formula without a saved value (calamine gives both as
# blank), and where the cells lie (calamine lays out every cell between the first and the
# last: two far-apart cells would take terabytes). For ``validate`` (``load_aside``) a large
# sheet is loaded by a child process under a memory limit while this one scans it
# (``aside.Aside``), and the child builds the chunks; nothing of it is used unless the scan
# passes.


def _open_excel(path: Path, sheet: str | None, choice: _HeaderChoice, load_aside: bool) -> Table:
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if not zipfile.is_zipfile(path):
        with path.open("rb") as handle:
            head = handle.read(8)
        hint = (
            "it looks like an old-style .xls file; save it as .xlsx"
            if head.startswith(b"\xd0\xcf\x11\xe0")
            else "if it is a CSV, rename it to .csv"
        )
        raise InputError(f"{path.name} is not an Excel workbook; {hint}")
    _refuse_zip_bomb(path)
    with _open_archive(path) as archive:
        book = _read_book(archive, path)
        entry = _choose_sheet(book, path, sheet)
        state = _calamine_state(path, archive, book, entry, load_aside=load_aside)
        if state is None:
            _refuse_doctype(path, _head(archive, entry.part, _SHEET_DATA), entry.part)
    last: int | None  # the sheet's last row, as far as it says
    if state is None:
        header, header_row, last = _openpyxl_header(path, entry, choice)
    else:
        header, header_row = _excel_header(_calamine_rows(state), path, entry.name, choice)
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
        _calamine=state,
    )


def _refuse_zip_bomb(path: Path) -> None:
    """Refuse a workbook whose parts expand beyond reason, before anything is unpacked.

    zipfile never yields more than a member's declared ``file_size`` (``ZipExtFile`` cuts
    its output there and checks the CRC), so the declared sizes bound what can be read.
    """
    with _open_archive(path) as archive:
        members = archive.infolist()
    size = path.stat().st_size
    bound = max(_EXPANSION_RATIO * size, _EXPANSION_FLOOR)
    total = sum(member.file_size for member in members)
    if members and total > bound:
        biggest = max(members, key=lambda member: member.file_size)
        raise InputError(
            f"{path.name} would expand from {_mib(size)} to {_mib(total)} (its part "
            f"{biggest.filename} alone to {_mib(biggest.file_size)}), more than a workbook "
            f"can hold ({_mib(bound)} at most); it is damaged or hostile: export the sheet "
            "again from the program that made it"
        )


def _mib(size: int) -> str:
    return f"{size / (1 << 20):,.1f} MiB"


def _unreadable(path: Path, err: BaseException) -> InputError:
    return InputError(
        f"{path.name} cannot be opened as an Excel workbook ({err.__class__.__name__}); "
        "open it in Excel and save it again as .xlsx"
    )


def _open_archive(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise _unreadable(path, err) from None


# --- the workbook's parts: its sheets, which one Excel opens on, where each one's XML is ---


@dataclass(frozen=True)
class _SheetEntry:
    """A sheet of the workbook as ``xl/workbook.xml`` and its relationships list it."""

    name: str
    state: str  # "visible", "hidden" or "veryHidden"
    part: str  # its XML part in the archive
    chart: bool  # a chart sheet: no rows


@dataclass(frozen=True)
class _Book:
    sheets: list[_SheetEntry]  # as openpyxl lists them: those whose part exists, in tab order
    active: int  # the tab Excel opens on (``<workbookView activeTab>``), an index of sheets
    shared_strings: int  # uncompressed bytes of the shared strings part (0 without one)


def _read_book(archive: zipfile.ZipFile, path: Path) -> _Book:
    """The sheets and active tab, read from the small parts that list them (never a sheet)."""
    names = set(archive.namelist())
    try:
        workbook_part = "xl/workbook.xml"
        for kind, target in _relationships(archive, "", "_rels/.rels", path).values():
            if kind.endswith("/officeDocument"):
                workbook_part = target
                break
        workbook = _xml_part(archive, workbook_part, path)
        folder, name = posixpath.split(workbook_part)
        rels = _relationships(archive, folder, f"{folder}/_rels/{name}.rels", path)
    except (ET.ParseError, KeyError, ValueError, OSError, zipfile.BadZipFile) as err:
        raise _unreadable(path, err) from None
    active = 0
    sheets = []
    view = next((e for e in workbook.iter() if _local(e.tag) == "workbookView"), None)
    if view is not None:
        tab = view.get("activeTab", "0").strip()
        active = int(tab) if tab.lstrip("-").isdigit() else 0
    listed = next((e for e in workbook.iter() if _local(e.tag) == "sheets"), None)
    for element in listed if listed is not None else ():
        if _local(element.tag) == "sheet":
            rid = next((v for k, v in element.attrib.items() if k.endswith("}id")), None)
            kind, target = rels.get(rid or "", ("", ""))
            if not target or target not in names:
                continue  # no part: openpyxl skips it too
            sheets.append(
                _SheetEntry(
                    element.get("name", ""),
                    element.get("state", "visible"),
                    target,
                    "chartsheet" in kind,
                )
            )
    shared = 0
    for kind, target in rels.values():
        if kind.endswith("/sharedStrings") and target in names:
            shared += archive.getinfo(target).file_size
            _refuse_doctype(path, _head(archive, target, _STRINGS_ROOT), target)
    return _Book(sheets, active, shared)


_STRINGS_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?sst\b")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _relationships(
    archive: zipfile.ZipFile, folder: str, part: str, path: Path
) -> dict[str, tuple[str, str]]:
    """A relationships part: id → (type, target part in the archive)."""
    try:
        root = _xml_part(archive, part, path)
    except KeyError:
        return {}
    found = {}
    for rel in root:
        target = rel.get("Target", "")
        if rel.get("TargetMode") == "External" or not target:
            continue
        if target.startswith("/"):
            target = target[1:]
        else:
            target = posixpath.normpath(posixpath.join(folder, target))
        found[rel.get("Id", "")] = (rel.get("Type", ""), target)
    return found


def _xml_part(archive: zipfile.ZipFile, name: str, path: Path) -> ET.Element:
    """A small part parsed, refusing any DTD: a hostile part must not expand entities."""
    with archive.open(name) as source:
        data = source.read(_EXPANSION_FLOOR + 1)
    if len(data) > _EXPANSION_FLOOR:
        raise ValueError(f"{name} is too large")
    _refuse_doctype(path, data, name)
    return ET.fromstring(data)


_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)")


def _refuse_doctype(path: Path, data: bytes, part: str) -> None:
    """Refuse XML declaring a DTD (entities): no workbook writer makes one."""
    # in UTF-16 (with or without its mark) the markup is ASCII with NULs between
    if _DTD.search(data.replace(b"\x00", b"") if b"\x00" in data else data):
        raise InputError(
            f"{path.name}: its part {part} declares a DTD, which no workbook holds; it is "
            "damaged or hostile: export the sheet again from the program that made it"
        )


def _choose_sheet(book: _Book, path: Path, sheet: str | None) -> _SheetEntry:
    """The sheet named, else the one Excel opens on (the active one if visible)."""
    worksheets = [entry for entry in book.sheets if not entry.chart]  # charts hold no rows
    if sheet is not None:
        for entry in worksheets:
            if entry.name == sheet:
                return entry
        listed = ", ".join(f"'{entry.name}'" for entry in worksheets)
        raise InputError(f"{path.name} has no sheet '{sheet}'; its sheets are: {listed}")
    try:
        active: _SheetEntry | None = book.sheets[book.active]
    except IndexError:
        active = None
    visible = [entry for entry in worksheets if entry.state == "visible"]
    if any(active is entry for entry in visible):
        return active  # type: ignore[return-value]
    if visible or worksheets:
        return (visible or worksheets)[0]
    raise InputError(f"{path.name} holds no worksheet; save the data in a sheet of rows")


def _refuse_oversized_sheet(path: Path, title: str, rows: object, columns: object) -> None:
    """Refuse a sheet whose stored size (``<dimension ref>``) lies beyond Excel's limits."""
    if (isinstance(rows, int) and rows > EXCEL_ROWS) or (
        isinstance(columns, int) and columns > EXCEL_COLUMNS
    ):
        raise InputError(
            f"{path.name}: sheet '{title}' claims {rows:,} rows and {columns:,} "
            f"columns, beyond Excel's {EXCEL_ROWS:,} rows and {EXCEL_COLUMNS:,} columns (XFD); "
            "it is damaged or hostile: export the sheet again from the program that made it"
        )


def _beyond_rows(path: Path, title: str, number: int) -> InputError:
    return InputError(
        f"{path.name}: sheet '{title}' has a row {number:,}, beyond "
        f"Excel's {EXCEL_ROWS:,} rows; it is damaged or hostile: export the "
        "sheet again from the program that made it"
    )


def _beyond_columns(path: Path, title: str, number: int) -> InputError:
    return InputError(
        f"{path.name}: sheet '{title}' row {number:,} has cells beyond "
        f"Excel's {EXCEL_COLUMNS:,} columns (XFD); it is damaged or hostile: "
        "export the sheet again from the program that made it"
    )


#: (row number, its texts from column A, columns of formulas without a saved value)
_SheetRow = tuple[int, list[str], list[int]]


def _excel_header(
    rows: Iterator[_SheetRow], path: Path, title: str, choice: _HeaderChoice
) -> tuple[list[str], int]:
    """The header row as texts (trailing blank headers dropped) and its number: the row
    ``choice`` picks among the top rows, else the first row holding anything.

    ``rows`` gives an Excel error value (``#REF!``) as blank: it is no header."""
    top: list[list[str]] = []
    unsaved_in: dict[int, list[int]] = {}
    first: int | None = None
    wanted = max(HEADER_SEARCH_ROWS, choice.number or 0)
    for number, cells, unsaved in rows:
        if number > wanted:
            break
        while len(top) < number - 1:  # rows the sheet does not store are blank rows
            top.append([])
        texts = list(cells)
        while texts and not texts[-1].strip():
            texts.pop()
        top.append(texts)
        unsaved_in[number] = unsaved
        if first is None and (texts or unsaved):
            first = number - 1
        if first is not None and choice.number is None and choice.finder is None:
            break
    if first is None and choice.number is None:
        raise InputError(
            f"{path.name}: sheet '{title}' is empty; it needs a header row and rows below it"
        )
    at = choice.pick(path, top, first or 0)
    number = at + 1
    if unsaved_in.get(number):
        raise InputError(
            f"{path.name}: the header cell {column_letter(unsaved_in[number][0] - 1)}{number} "
            "holds a formula without a saved value; open and save the file in Excel"
        )
    header = top[at] if at < len(top) else []
    if not any(h.strip() for h in header):
        raise InputError(
            f"{path.name}: sheet '{title}' row {number} is blank; it must hold the "
            "column headers (check header_row)"
        )
    return header, number


def _excel_chunks(table: Table, rows: int) -> Iterator[pd.DataFrame]:
    if table.reader == "calamine":
        state, table._calamine = table._calamine, None  # read once: memory goes with it
        if state is None:
            with _open_archive(table.path) as archive:
                book = _read_book(archive, table.path)
                entry = _choose_sheet(book, table.path, table.sheet)
                state = _calamine_state(table.path, archive, book, entry)
        if state is not None:
            try:
                yield from _calamine_chunks(table, state, rows)
            finally:
                if isinstance(state.sheet, _AsideSheet):
                    state.sheet.aside.close()  # its memory goes with it
            return
    yield from _openpyxl_chunks(table, rows)


# --- openpyxl: streams any sheet in flat memory ------------------------------------------


def _openpyxl_header(
    path: Path, entry: _SheetEntry, choice: _HeaderChoice
) -> tuple[list[str], int, int | None]:
    """The header row, its number and the sheet's last row (None if it does not say)."""
    workbook = _load_workbook(path)
    try:
        worksheet = _openpyxl_sheet(workbook, path, entry.name)
        _refuse_oversized_sheet(path, entry.name, worksheet.max_row, worksheet.max_column)
        estimated = worksheet.max_row if isinstance(worksheet.max_row, int) else None
        with contextlib.closing(_openpyxl_rows(workbook, worksheet, path)) as rows:
            header, header_row = _excel_header(rows, path, entry.name, choice)
    finally:
        workbook.close()
    return header, header_row, estimated


def _openpyxl_sheet(workbook: Any, path: Path, name: str | None) -> Any:
    try:
        return workbook[name]
    except KeyError as err:
        raise _unreadable(path, err) from None


def _load_workbook(path: Path) -> Any:
    from openpyxl.reader.excel import SHARED_STRINGS, ExcelReader

    class Reader(ExcelReader):
        def read_strings(self) -> None:
            # openpyxl drops every "x005F_" of a shared string, so a typed "_x000D_" (stored
            # "_x005F_x000D_") would come out as a carriage return: keep the text as stored
            # and let cell_text decode the escapes once, as it does for inline strings
            found = self.package.find(SHARED_STRINGS)
            if found is not None:
                with self.archive.open(found.PartName[1:]) as source:
                    self.shared_strings = _stored_shared_strings(source)

    try:
        reader = Reader(path, read_only=True, data_only=True)
        reader.read()
        return reader.wb
    except Exception as err:  # a damaged part can fail openpyxl in any way: no traceback
        raise _unreadable(path, err) from None


def _stored_shared_strings(source: Any) -> list[str]:
    """The shared strings as stored (``_xHHHH_`` escapes kept), phonetic runs left out."""
    from openpyxl.cell.text import Text
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from openpyxl.xml.functions import iterparse

    item = f"{{{SHEET_MAIN_NS}}}si"
    strings = []
    for _, node in iterparse(source):
        if node.tag == item:
            strings.append(Text.from_tree(node).content)
            node.clear()
    return strings


@functools.cache
def _sheet_parser() -> Any:
    """openpyxl's sheet parser, also noting formula cells without a saved value.

    With ``data_only`` openpyxl gives such a cell as None, like a blank one; a scripted
    workbook (openpyxl, XlsxWriter without values) holds them until Excel saves it. Only
    cells without a value are looked at again, so ordinary sheets pay almost nothing.
    """
    from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

    class SheetParser(WorkSheetParser):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.unsaved: list[int] = []  # columns of the current row

        def parse_cell(self, element: Any) -> dict[str, Any]:
            cell: dict[str, Any] = super().parse_cell(element)
            if (
                cell["value"] is None
                # Excel saves a formula giving "" as t="str" with an empty value
                and cell["data_type"] not in ("str", "inlineStr")
                and element.find(FORMULA_TAG) is not None
            ):
                self.unsaved.append(cell["column"])
            return cell

    return SheetParser


def _sheet_cells(
    workbook: Any, worksheet: Any, path: Path
) -> Iterator[tuple[int, list[dict[str, Any]], list[int]]]:
    """(row number, cells, columns of unsaved formulas) of each row the sheet stores."""
    parser = _sheet_parser()(
        None,
        worksheet._shared_strings,
        data_only=True,
        epoch=workbook.epoch,
        date_formats=workbook._date_formats,
        timedelta_formats=workbook._timedelta_formats,
    )
    title = worksheet.title
    try:
        with workbook._archive.open(worksheet._worksheet_path) as parser.source:
            for number, cells in parser.parse():
                if number > EXCEL_ROWS:
                    raise _beyond_rows(path, title, number)
                if cells and max(cell["column"] for cell in cells) > EXCEL_COLUMNS:
                    raise _beyond_columns(path, title, number)
                unsaved, parser.unsaved = parser.unsaved, []
                yield number, cells, unsaved
                parser.row_dimensions.clear()  # openpyxl keeps every row's height: not needed
    except (ValueError, KeyError, IndexError, SyntaxError) as err:  # ParseError: SyntaxError
        raise InputError(
            f"{path.name}: sheet '{title}' cannot be read ({err.__class__.__name__}: "
            f"{str(err)[:80]}); open it in Excel and save it again as .xlsx"
        ) from None


def _openpyxl_rows(workbook: Any, worksheet: Any, path: Path) -> Generator[_SheetRow]:
    """The rows the sheet stores as texts from column A (error values blank), for the header."""
    for number, cells, unsaved in _sheet_cells(workbook, worksheet, path):
        texts = [""] * max((cell["column"] for cell in cells), default=0)
        for cell in cells:
            if cell["data_type"] != "e":
                texts[cell["column"] - 1] = cell_text(cell["value"])
        yield number, texts, unsaved


def _openpyxl_chunks(table: Table, rows: int) -> Iterator[pd.DataFrame]:
    workbook = _load_workbook(table.path)
    try:
        worksheet = _openpyxl_sheet(workbook, table.path, table.sheet)
        batch = _ExcelBatch(table.headers, table.error_columns)
        expected = table.header_row + 1
        for number, cells, unsaved in _sheet_cells(workbook, worksheet, table.path):
            if number <= table.header_row:
                continue
            while expected < number:  # rows the sheet does not store are blank rows
                batch.add_blank(expected)
                expected += 1
                if len(batch) >= rows:
                    yield batch.frame()
            batch.add(number, cells, unsaved)
            expected = number + 1
            if len(batch) >= rows:
                yield batch.frame()
        if len(batch):
            yield batch.frame()
    finally:
        workbook.close()


# --- calamine: fast, the whole sheet in memory ---------------------------------------------

#: markup the scan looks for (``%s``: the elements' namespace prefix, mostly none)
_CELL = {
    "open": b"<%sc ",
    "close": b"</%sc>",
    "row_end": b"</%srow>",
}
#: the sheet data's opening, under any prefix (calamine goes by the local name)
_SHEET_DATA = re.compile(rb"<(?:([^\s<>/:]*):)?sheetData(?=[\s/>])[^>]*?(/?)>")
_DIMENSION = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?dimension\b[^>]*?\sref=[\"']([^\"']*)[\"']")
_REFERENCE = re.compile(r"\$?([A-Z]{1,3})\$?([0-9]{1,7})")
_ATTRIBUTE = re.compile(rb"([\w:.-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_LETTERS = bytes(range(65, 91))
_DIGITS = b"0123456789"
#: an error value's cell (t="e") holds this: the blocks without it hold no error value
#: (written t='e', with the reference in double quotes, it would be missed: no writer does)
_ERROR_TYPE = b'"e"'
_UNSAVED = 0  # the code of a formula without a saved value; errors are 1 + their index


@functools.cache
def _patterns(prefix: bytes) -> dict[str, Any]:
    """The scan's patterns for a sheet whose elements carry ``prefix`` (``b""``, ``b"x:"``)."""
    found: dict[str, Any] = {key: text % prefix for key, text in _CELL.items()}
    found["formula"] = b"<%sf" % prefix
    found["row"] = b"<%srow" % prefix
    p = re.escape(prefix)
    # every cell, with its reference when its whole start tag is written as Excel writes it
    # (r="B12" first, then attributes without another r: calamine takes a cell's last r): a
    # cell whose reference is missing, odd, elsewhere or repeated gives b"" and the sheet
    # goes to openpyxl, which reads any legal XML
    found["cells"] = re.compile(
        rb"<%sc(?: r=\"([A-Z]{1,3}[0-9]{1,7})\"(?: (?!r=)[^\s=/>\"]+=\"[^\"]*\")* ?/?>|[\s/>])" % p
    )
    # a cell under another prefix: calamine takes any element named c, whatever its prefix
    found["foreign_hint"] = None if prefix else re.compile(rb":c[\s/>]")
    found["foreign"] = re.compile(rb"<(?!%sc[\s/>])(?:[^\s<>/:]*:)?c[\s/>]" % p)
    found["formula_tag"] = re.compile(rb"<%sf[\s/>]" % p)
    found["value"] = re.compile(rb"<%sv(?:\s[^>]*)?(?:/>|>(.*?)</%sv>)" % (p, p), re.S)
    found["row_number"] = re.compile(rb"<%srow\b[^>]*?\sr=[\"']([0-9]+)[\"']" % p)
    return found


def _column_number(letters: str | bytes) -> int:
    """``"A"`` → 1, ``"XFD"`` → 16384."""
    number = 0
    for char in letters.decode() if isinstance(letters, bytes) else letters:
        number = number * 26 + ord(char) - 64
    return number


def _dimension(ref: bytes) -> tuple[int, int] | None:
    """(rows, columns) a ``<dimension ref="A1:I50001">`` claims, as openpyxl reads it."""
    last = ref.decode(errors="replace").split(":")[-1]
    found = _REFERENCE.fullmatch(last)
    if not found:
        return None
    return int(found.group(2)), _column_number(found.group(1))


@dataclass
class _SheetScan:
    """What one pass over a sheet's XML learns before calamine holds it in memory."""

    dimension: tuple[int, int] | None = None  # (rows, columns) the sheet claims
    first_row: int = 0  # rows and columns holding cells (1-based; 0: no cell)
    last_row: int = 0  # the last row element or cell (openpyxl reads blank rows up to it)
    first_column: int = 0
    last_column: int = 0
    regular: bool = True  # every cell addressed as Excel writes it: calamine may read it
    # the cells calamine gives as blank: (row, column, code), in sheet order
    special_rows: array = field(default_factory=lambda: array("l"))
    special_columns: array = field(default_factory=lambda: array("l"))
    special_codes: array = field(default_factory=lambda: array("B"))
    error_texts: list[str] = field(default_factory=list)

    @property
    def cells(self) -> int:
        """How many cells calamine lays out: every one between the first and the last."""
        if not self.first_row:
            return 0
        return (self.last_row - self.first_row + 1) * (self.last_column - self.first_column + 1)


def _head(archive: zipfile.ZipFile, part: str, until: re.Pattern[bytes]) -> bytes:
    """A part's XML up to where ``until`` matches (its prolog, where a DTD would be)."""
    with archive.open(part) as source:
        head = b""
        while not until.search(head):
            block = source.read(1 << 16)
            if not block or len(head) > _EXPANSION_FLOOR:
                break
            head += block
    return head


def _scan_sheet(archive: zipfile.ZipFile, entry: _SheetEntry, path: Path) -> _SheetScan:
    """One streaming pass over the sheet's XML, a block at a time (memory: a block and the
    special cells, 9 bytes each): every cell's reference (where the cells lie), and the
    cells around a formula or an error value, looked at one by one; a plain export pays one
    regular expression and a few byte searches per block (~0.2 s for 50,000 rows)."""
    scan = _SheetScan()
    with archive.open(entry.part) as source:
        head = b""
        while not (opened := _SHEET_DATA.search(head)):
            block = source.read(_BLOCK)
            if not block or len(head) > _EXPANSION_FLOOR:
                scan.regular = False
                return scan
            head += block
        _refuse_doctype(path, head[: opened.start()], entry.part)
        if dimension := _DIMENSION.search(head, 0, opened.start()):
            scan.dimension = _dimension(dimension.group(1))
        # everything after the (first) opening is scanned, up to the part's end: an empty
        # <sheetData/>, one in a comment or a '/>' in an attribute may hide where calamine
        # starts, and nothing after </sheetData> holds a cell (so scanning it costs nothing)
        prefix = opened.group(1) + b":" if opened.group(1) else b""
        patterns = _patterns(prefix)
        row_end = patterns["row_end"]
        rows: list[int] = []
        letters: set[bytes] = set()
        carry = head[opened.end() :]
        while True:
            block = source.read(_BLOCK)
            text = carry + block if carry else block
            if not block:
                if text and not _scan_block(scan, text, patterns, rows, letters):
                    scan.regular = False
                    return scan
                break
            cut = text.rfind(row_end)
            cut = 0 if cut < 0 else cut + len(row_end)
            if cut and not _scan_block(scan, text[:cut], patterns, rows, letters):
                scan.regular = False
                return scan
            carry = text[cut:]  # a row cut by the block's end, or a row longer than a block
    if rows:
        scan.first_row, scan.last_row = min(rows), max(max(rows), scan.last_row)
        columns = [_column_number(found) for found in letters]
        scan.first_column, scan.last_column = min(columns), max(columns)
    return scan


def _scan_block(
    scan: _SheetScan, text: bytes, patterns: dict[str, Any], rows: list[int], letters: set[bytes]
) -> bool:
    """Scan whole rows of XML; False when a cell is not addressed as Excel writes it."""
    hint = patterns["foreign_hint"]
    if (hint is None or hint.search(text)) and patterns["foreign"].search(text):
        return False  # a cell under another prefix: calamine reads it, the scan would not
    last_row = text.rfind(patterns["row"])
    if last_row >= 0 and (number := patterns["row_number"].match(text, last_row)):
        scan.last_row = max(scan.last_row, int(number.group(1)))  # even a row without cells
    references = patterns["cells"].findall(text)
    if not references:
        return True
    if b"" in references:
        return False
    joined = b" ".join(references)
    numbers = list(map(int, set(joined.translate(None, _LETTERS).split())))
    rows.append(min(numbers))
    rows.append(max(numbers))
    letters.update(joined.translate(None, _DIGITS).split())
    starts: set[int] = set()
    opener, closer = patterns["open"], patterns["close"]
    if patterns["formula"] in text:
        at = text.find(patterns["formula"])
        while at >= 0:
            starts.add(text.rfind(opener, 0, at))
            after = text.find(closer, at)
            at = text.find(patterns["formula"], after if after > at else at + 1)
    at = text.find(_ERROR_TYPE)
    while at >= 0:
        starts.add(text.rfind(opener, 0, at))
        at = text.find(_ERROR_TYPE, at + 1)
    for start in sorted(starts):
        if start >= 0 and not _special_cell(scan, text, start, patterns):
            return False
    return True


def _special_cell(scan: _SheetScan, text: bytes, start: int, patterns: dict[str, Any]) -> bool:
    """Note the cell at ``start`` if it holds an error value or a formula without a saved
    value (as openpyxl's parser tells them apart); False if it is out of order."""
    tag_end = text.find(b">", start)
    if tag_end < 0:
        return False
    tag = text[start : tag_end + 1]
    attributes = {name: a or b for name, a, b in _ATTRIBUTE.findall(tag)}
    if tag.endswith(b"/>"):
        inner = b""
    else:
        close = text.find(patterns["close"], tag_end)
        inner = text[tag_end + 1 : close if close >= 0 else len(text)]
    kind = attributes.get(b"t", b"n")
    value: bytes | None = None
    if kind != b"inlineStr" and (found := patterns["value"].search(inner)):
        value = found.group(1) or None
    if value is None and kind not in (b"str", b"inlineStr"):
        if not patterns["formula_tag"].search(inner):
            return True
        code = _UNSAVED
    elif kind == b"e" and value is not None:
        error = unescape(value.decode("utf-8", errors="replace"))
        if error not in scan.error_texts:
            if len(scan.error_texts) >= 250:
                return False  # not Excel's seven error values: let openpyxl read it
            scan.error_texts.append(error)
        code = 1 + scan.error_texts.index(error)
    else:
        return True
    reference = _REFERENCE.fullmatch(attributes.get(b"r", b"").decode(errors="replace"))
    if not reference:
        return False
    row, column = int(reference.group(2)), _column_number(reference.group(1))
    if scan.special_rows and (scan.special_rows[-1], scan.special_columns[-1]) >= (row, column):
        return False  # cells out of order: openpyxl reads them as they come
    scan.special_rows.append(row)
    scan.special_columns.append(column)
    scan.special_codes.append(code)
    return True


@dataclass
class _CalamineState:
    """A sheet calamine holds in memory, with what the scan learnt about it."""

    sheet: Any
    scan: _SheetScan
    first_column: int = field(init=False)  # 0-based column of calamine's first value
    width: int = field(init=False)  # values in each of calamine's rows (0: no value at all)

    def __post_init__(self) -> None:
        start, end = self.sheet.start, self.sheet.end
        self.first_column = start[1] if start else 0
        self.width = end[1] - start[1] + 1 if start and end else 0


def _calamine_state(
    path: Path,
    archive: zipfile.ZipFile,
    book: _Book,
    entry: _SheetEntry,
    *,
    load_aside: bool = False,
) -> _CalamineState | None:
    """The sheet loaded by calamine if it fits the memory budget, else None (openpyxl).

    With ``load_aside``, a sheet of ``ASIDE_MIN_BYTES`` or more is loaded by a child process
    while this one scans it (``aside.Aside``): nothing it loaded is used unless the scan
    passes."""
    size = archive.getinfo(entry.part).file_size + book.shared_strings
    if entry.chart or size > CALAMINE_MAX_BYTES:
        return None
    wanted = load_aside and size >= ASIDE_MIN_BYTES
    loader = _load_aside(path, entry.name, size) if wanted else None
    sheet: Any = None
    try:
        scan = _calamine_scan(path, archive, entry)
        if scan is None:
            return None
        sheet = _calamine_load(path, entry.name) if loader is None else _aside_sheet(loader)
    finally:
        if loader is not None and sheet is None:
            loader.close()  # refused by the scan (or calamine could not): openpyxl reads it
    return None if sheet is None else _CalamineState(sheet, scan)


def _calamine_scan(path: Path, archive: zipfile.ZipFile, entry: _SheetEntry) -> _SheetScan | None:
    """The scan of a sheet calamine may read, or None when openpyxl must read it."""
    scan = _scan_sheet(archive, entry, path)
    if scan.dimension:
        _refuse_oversized_sheet(path, entry.name, *scan.dimension)
    if not scan.regular or scan.cells > CALAMINE_MAX_CELLS:
        return None  # far-apart or oddly addressed cells: openpyxl reads them as they come
    if scan.last_row > EXCEL_ROWS:
        raise _beyond_rows(path, entry.name, scan.last_row)
    if scan.last_column > EXCEL_COLUMNS:
        return None  # openpyxl names the row holding it
    if not set(scan.error_texts) <= set(EXCEL_ERRORS):
        return None  # calamine refuses newer error values (#SPILL!, #CALC!): openpyxl reads
    return scan


@dataclass(frozen=True)
class _AsideSheet:
    """A sheet calamine loaded in a child process: its extent here, its rows there."""

    aside: aside.Aside
    start: tuple[int, int] | None
    end: tuple[int, int] | None


def _load_aside(path: Path, name: str, size: int) -> aside.Aside | None:
    """A child process loading the sheet, or None where there is none to be had."""
    if not aside.AVAILABLE:
        return None
    try:
        return aside.Aside(
            functools.partial(_calamine_load, path, name),
            _extent,
            memory=ASIDE_MEMORY + ASIDE_MEMORY_PER_BYTE * size,
            what="reading the sheet",
        )
    except (OSError, AssertionError):  # no process to be had, or none allowed here
        return None


def _aside_sheet(loader: aside.Aside) -> _AsideSheet | None:
    """The child's sheet once loaded, or None when calamine could not load it there."""
    done, extent = loader.loaded()
    return _AsideSheet(loader, *extent) if done else None


def _extent(sheet: Any) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    return sheet.start, sheet.end


def _calamine_load(path: Path, name: str) -> Any:
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


def _calamine_rows(state: _CalamineState) -> Iterator[_SheetRow]:
    """Every row from row 1 to the last, as texts from column A; error values blank."""
    if isinstance(state.sheet, _AsideSheet):
        return state.sheet.aside.iterate(_rows_there, state.scan)
    return _sheet_rows(state)


def _rows_there(sheet: Any, scan: _SheetScan) -> Iterator[_SheetRow]:
    """``_calamine_rows`` in the child process holding the sheet."""
    return _sheet_rows(_CalamineState(sheet, scan))


def _sheet_rows(state: _CalamineState) -> Iterator[_SheetRow]:
    pad = [""] * state.first_column
    for number, values, unsaved, errors in _calamine_cells(state):
        texts = pad + [value if type(value) is str else _calamine_text(value) for value in values]
        for column, _ in errors:
            if column <= len(texts):
                texts[column - 1] = ""
        yield number, texts, unsaved


def _calamine_cells(
    state: _CalamineState,
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
    state: _CalamineState, at: int, number: int, values: list[Any]
) -> tuple[int, list[int], list[tuple[int, str]]]:
    """``_specials_of`` row ``number``, its error values written into its ``values``."""
    at, unsaved, errors = _specials_of(state.scan, at, number)
    for offset, error in _error_cells(state, errors):
        values[offset] = error
    return at, unsaved, errors


def _specials_of(
    scan: _SheetScan, at: int, number: int
) -> tuple[int, list[int], list[tuple[int, str]]]:
    """Row ``number``'s special cells from index ``at``: the columns of its unsaved formulas
    and its (column, error value); the index of the next row's."""
    rows, columns, codes = scan.special_rows, scan.special_columns, scan.special_codes
    unsaved: list[int] = []
    errors: list[tuple[int, str]] = []
    while at < len(rows) and rows[at] == number:
        column, code = columns[at], codes[at]
        if code == _UNSAVED:
            unsaved.append(column)
        else:
            errors.append((column, scan.error_texts[code - 1]))
        at += 1
    return at, unsaved, errors


def _error_cells(state: _CalamineState, errors: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """A row's error values as (index in calamine's values, error): calamine gives a blank
    there."""
    for column, error in errors:
        if 0 <= column - 1 - state.first_column < state.width:
            yield column - 1 - state.first_column, error


#: rows taken from calamine at a time and turned into columns: fewer than the garbage
#: collector's threshold (700 new objects), so calamine's row lists go before it runs (held
#: by the tens of thousands, each collection would walk them all: twice the time)
_ROWS_AT_ONCE = 256


def _calamine_chunks(table: Table, state: _CalamineState, rows: int) -> Iterator[pd.DataFrame]:
    shape = (table.headers, table.error_columns, table.header_row + 1, rows)
    if isinstance(state.sheet, _AsideSheet):
        return state.sheet.aside.iterate(_frames_there, state.scan, *shape)
    return _frames(state, *shape)


def _frames_there(sheet: Any, scan: _SheetScan, *shape: Any) -> Iterator[pd.DataFrame]:
    """``_calamine_chunks`` in the child process holding the sheet, equal texts of a column
    made one object (as pandas' CSV parser gives them): the chunk crosses to the parent in
    about half the bytes and time, and checks there hash each text once."""
    return _frames(_CalamineState(sheet, scan), *shape, shared=True)


def _frames(
    state: _CalamineState,
    headers: list[str],
    error_columns: frozenset[int] | None,
    first: int,
    rows: int,
    *,
    shared: bool = False,
) -> Iterator[pd.DataFrame]:
    """The chunks of ``rows`` rows from row ``first`` to the sheet's last (``shared``: equal
    texts of a column are one object)."""
    batch = _CalamineBatch(headers, error_columns, state, shared=shared)
    for number, count, columns, specials in _calamine_blocks(state, first, rows):
        yield batch.block(number, count, columns, specials)


_Specials = dict[int, tuple[list[int], list[tuple[int, str]]]]


def _calamine_blocks(
    state: _CalamineState, first: int, size: int
) -> Iterator[tuple[int, int, list[list[Any]], _Specials]]:
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
        specials: _Specials = {}
        while at < len(special_rows) and special_rows[at] < number + count:
            row = special_rows[at]
            at, unsaved, errors = _specials_of(scan, at, row)
            for offset, error in _error_cells(state, errors):
                columns[offset][row - number] = error
            specials[row - number] = (unsaved, errors)
        yield number, count, columns, specials
        number += count


def _calamine_text(value: object) -> str:
    """A calamine cell's value as text, as ``cell_text`` gives openpyxl's (calamine already
    decodes the ``_xHHHH_`` escapes, and gives a whole-day date cell as a date)."""
    kind = type(value)
    if kind is float:
        number: float = value  # type: ignore[assignment]
        if number.is_integer() and abs(number) < 1e16:
            return str(int(number))
        return repr(number)
    if kind is dt.datetime:
        return value.isoformat(" ", "seconds")  # type: ignore[attr-defined]
    if kind is dt.date:
        return value.isoformat() + " 00:00:00"  # type: ignore[attr-defined]
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is dt.time:
        return value.isoformat("seconds")  # type: ignore[attr-defined]
    return str(value)  # str, int, timedelta


# --- both readers: rows gathered into chunks ------------------------------------------------


class _ExcelBatch:
    """Sheet rows gathered into a chunk: texts in the header's columns, problems beside."""

    def __init__(self, headers: list[str], error_columns: frozenset[int] | None = None) -> None:
        self.headers = headers
        self.width = len(headers)
        # 1-based columns where an error value makes the row invalid
        self.error_columns = frozenset(
            position + 1
            for position, header in enumerate(headers)
            if header and (error_columns is None or position in error_columns)
        )
        self.headerless = [p for p, header in enumerate(headers) if not header]
        self._clear()

    def _clear(self) -> None:
        self.texts: list[list[str]] = []
        self.numbers: list[int] = []
        self.problems: dict[int, str] = {}  # position in the batch → problem

    def __len__(self) -> int:
        return len(self.numbers)

    def add_blank(self, number: int) -> None:
        self.texts.append([""] * self.width)
        self.numbers.append(number)

    def add(self, number: int, cells: list[dict[str, Any]], unsaved: list[int]) -> None:
        """A row as openpyxl's parser gives it (only the cells the sheet stores)."""
        width = self.width
        texts = [""] * width
        beyond: tuple[int, str] | None = None  # first value right of the last header
        errors: list[tuple[int, str]] = []  # (column, error value) in used columns
        for cell in cells:
            value = cell["value"]
            if value is None:
                continue
            column = cell["column"]
            if column <= width:
                texts[column - 1] = cell_text(value)
                if cell["data_type"] == "e" and column in self.error_columns:
                    errors.append((column, str(value)))
            elif beyond is None and (text := cell_text(value)).strip():
                beyond = (column - 1, text)
        if (
            unsaved
            or beyond
            or errors
            or (self.headerless and any(texts[p].strip() for p in self.headerless))
        ):
            self.problems[len(self.numbers)] = self._problem(number, texts, beyond, unsaved, errors)
        self.texts.append(texts)
        self.numbers.append(number)

    def _problem(
        self,
        number: int,
        texts: list[str],
        beyond: tuple[int, str] | None,
        unsaved: list[int],
        errors: list[tuple[int, str]],
    ) -> str:
        problems = [
            f"column '{self.headers[column - 1]}' ({column_letter(column - 1)}{number}): cell "
            f"holds the Excel error {value}; fix the formula in Excel or clear the cell"
            for column, value in errors
        ]
        for column in unsaved:
            position = column - 1
            if position < self.width and self.headers[position]:
                problems.append(
                    f"column '{self.headers[position]}' ({column_letter(position)}{number}) "
                    "holds a formula without a saved value: open and save the file in Excel"
                )
            else:
                problems.append(_headerless_problem(position, None))
        problems.extend(
            _headerless_problem(p, texts[p]) for p in self.headerless if texts[p].strip()
        )
        if beyond:
            problems.append(_headerless_problem(*beyond))
        return "; ".join(dict.fromkeys(problems))

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.texts, columns=range(self.width), dtype=object)
        frame.index = pd.Index(self.numbers, name="source_row")
        if self.problems:
            problem = np.full(len(frame), "", dtype=object)
            for position, text in self.problems.items():
                problem[position] = text
            frame[PROBLEM] = problem
        self._clear()
        return frame


class _CalamineBatch(_ExcelBatch):
    """Rows as calamine gives them, a column at a time, turned into texts a column at a time
    (most cells are text already: only the others are converted)."""

    def __init__(
        self,
        headers: list[str],
        error_columns: frozenset[int] | None,
        state: _CalamineState,
        *,
        shared: bool = False,
    ) -> None:
        super().__init__(headers, error_columns)
        self.first_column = state.first_column
        self.shared = shared

    def block(
        self, first: int, count: int, values: list[list[Any]], specials: _Specials
    ) -> pd.DataFrame:
        """Rows ``first`` to ``first + count - 1``: ``values`` the columns calamine gives."""
        width = self.width
        # one block of texts, a row per column: the frame's own layout, so it is not copied
        grid = np.empty((width, count), dtype=object)
        covered = [False] * width
        beyond: dict[int, tuple[int, str]] = {}
        for position, column in enumerate(values, start=self.first_column):
            texts = _texts_of(column)
            if position < width:
                grid[position] = _one_object_per_text(texts) if self.shared else texts
                covered[position] = True
                continue
            texts = np.asarray(texts, dtype=object)  # right of the headers
            for hit in map(int, np.flatnonzero(strip(texts) != "")):
                if hit not in beyond:
                    beyond[hit] = (position, texts[hit])
        for position in range(width):
            if not covered[position]:
                grid[position] = ""
        flagged = np.zeros(count, dtype=bool)
        for position in self.headerless:
            flagged |= strip(grid[position]) != ""
        flagged[list(specials)] = True
        flagged[list(beyond)] = True
        problems: dict[int, str] = {}
        for row in map(int, np.flatnonzero(flagged)):
            unsaved, errors = specials.get(row, ([], []))
            errors = [(column, value) for column, value in errors if column in self.error_columns]
            cells = grid[:, row].tolist()
            found = self._problem(first + row, cells, beyond.get(row), unsaved, errors)
            if found:  # "": only an error value in a column that is not sent
                problems[row] = found
        chunk = pd.DataFrame(grid.T, columns=range(width), dtype=object, copy=False)
        chunk.index = pd.Index(np.arange(first, first + count, dtype=np.int64), name="source_row")
        if problems:
            problem = np.full(count, "", dtype=object)
            for row, text in problems.items():
                problem[row] = text
            chunk[PROBLEM] = problem
        return chunk


def _texts_of(values: list[Any]) -> Any:
    """A column of calamine values as texts (a list or an array): a column all of one kind
    is converted in one pass; in a mixed one, the cells of each kind that is not text yet
    are converted together."""
    kinds = set(map(type, values))
    if kinds <= _JUST_TEXT:
        return values
    if len(kinds) == 1:
        return _texts_of_kind(kinds.pop(), values)
    types = np.fromiter(map(type, values), dtype=object, count=len(values))
    texts = np.empty(len(values), dtype=object)
    texts[:] = values
    for kind in kinds - _JUST_TEXT:
        rows = np.flatnonzero(types == kind)
        texts[rows] = _texts_of_kind(kind, texts[rows].tolist())
    return texts


_JUST_TEXT: set[type] = {str}


def _one_object_per_text(texts: Any) -> Any:
    """``texts`` with every repeat of a text the same object as its first (as they are
    when anything is not a text: pandas would take None for NaN)."""
    codes, distinct = pd.factorize(np.asarray(texts, dtype=object))
    return texts if (codes < 0).any() else distinct.take(codes)


def _texts_of_kind(kind: type, values: list[Any]) -> list[str]:
    """Calamine values all of type ``kind`` as texts, as ``_calamine_text`` gives each."""
    if kind is float:
        numbers = np.array(values, dtype=np.float64)
        whole = (np.floor(numbers) == numbers) & (np.abs(numbers) < 1e16)
        if whole.all():
            return list(map(str, numbers.astype(np.int64).tolist()))
        texts = np.array(list(map(repr, values)), dtype=object)
        texts[whole] = list(map(str, numbers[whole].astype(np.int64).tolist()))
        return texts.tolist()
    if kind is dt.datetime:
        return _datetime_texts(values)
    if kind is dt.date:
        return list(map("{} 00:00:00".format, values))
    return list(map(_calamine_text, values))


def _datetime_texts(values: list[dt.datetime]) -> list[str]:
    """Naive datetimes as ``isoformat(" ", "seconds")`` gives them, twice as fast: numpy
    writes the texts, the fraction of a second dropped as isoformat drops it."""
    try:
        moments = pd.DatetimeIndex(values, dtype="datetime64[us]").to_numpy()
    except (TypeError, ValueError, OverflowError):  # not for numpy: one at a time
        return [value.isoformat(" ", "seconds") for value in values]
    texts = np.datetime_as_string(moments.astype("datetime64[s]"), unit="s")
    texts.view(np.uint32).reshape(len(texts), -1)[:, 10] = ord(" ")  # the T between
    return texts.tolist()


#: the escapes of text that XML cannot carry as it is (ECMA-376 ST_Xstring)
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescaped(found: re.Match[str]) -> str:
    return chr(int(found.group(1), 16))


def cell_text(value: object) -> str:
    """An Excel cell's value (as openpyxl reads it) as the text an analyst sees and the API
    receives."""
    if value is None:
        return ""
    if isinstance(value, str):
        # Excel stores a carriage return as _x000D_ and a literal "_x" as _x005F_x: decoded
        return _OOXML_ESCAPE.sub(_unescaped, value) if "_x" in value else value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(" ", "seconds")  # Y-m-d H:i:s, microseconds dropped
    if isinstance(value, dt.date):
        # an ISO date cell (t="d") without a time: a date cell like any other
        return value.isoformat() + " 00:00:00"
    if isinstance(value, dt.time):
        return value.isoformat("seconds")
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)
