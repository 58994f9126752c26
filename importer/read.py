"""Read CSV and Excel files as chunks of text cells, numbered as the analyst sees them.

Every cell is text (``""`` for blank): leading zeros stay, Excel whole numbers lose their
``.0``, Excel date cells become ``Y-m-d H:i:s``, formulas give their cached values. A chunk
is a DataFrame whose index is the source row (header = row 1, unless a title block sits
above it; for Excel the sheet's own row number) and whose columns are the input's column
positions ``0..n-1``; the headers are kept on the ``Table``. Files are never loaded whole:
memory is flat in the number of rows.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import hashlib
import io
import os
import re
import stat
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .report import unmark

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
) -> Table:
    """Open ``path``, check it is a readable table and read its header row.

    The header is row ``header_row`` if given, else the one ``find_header`` picks among the
    top rows, else the first row (for Excel: the first that holds anything).
    """
    _refuse_non_file(path)
    suffix = path.suffix.lower()
    header = _HeaderChoice(header_row, find_header)
    if suffix in EXCEL_SUFFIXES:
        return _open_excel(path, sheet, header)
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


#: ``str.strip`` over an object array of texts, element by element in C
strip = np.frompyfunc(str.strip, 1, 1)


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
        yield chunk


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


def _open_excel(path: Path, sheet: str | None, choice: _HeaderChoice) -> Table:
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
    workbook = _load_workbook(path)
    try:
        worksheet = _choose_sheet(workbook, path, sheet)
        _refuse_oversized_sheet(path, worksheet)
        estimated = worksheet.max_row if isinstance(worksheet.max_row, int) else None
        header, header_row = _excel_header(workbook, worksheet, path, choice)
    finally:
        workbook.close()
    return Table(
        path,
        "xlsx",
        [h.strip() for h in header],
        digest,
        sheet=worksheet.title,
        header_row=header_row,
        estimated_rows=None if estimated is None else max(0, estimated - header_row),
    )


def _refuse_zip_bomb(path: Path) -> None:
    """Refuse a workbook whose parts expand beyond reason, before anything is unpacked.

    zipfile never yields more than a member's declared ``file_size`` (``ZipExtFile`` cuts
    its output there and checks the CRC), so the declared sizes bound what can be read.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise InputError(
            f"{path.name} cannot be opened as an Excel workbook ({err.__class__.__name__}); "
            "open it in Excel and save it again as .xlsx"
        ) from None
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


def _choose_sheet(workbook: Any, path: Path, sheet: str | None) -> Any:
    """The sheet named, else the one Excel opens on (the active one if visible)."""
    worksheets = list(workbook.worksheets)  # chart sheets hold no rows
    if sheet is not None:
        for worksheet in worksheets:
            if worksheet.title == sheet:
                return worksheet
        listed = ", ".join(f"'{worksheet.title}'" for worksheet in worksheets)
        raise InputError(f"{path.name} has no sheet '{sheet}'; its sheets are: {listed}")
    active = workbook.active
    visible = [worksheet for worksheet in worksheets if worksheet.sheet_state == "visible"]
    if any(active is worksheet for worksheet in visible):
        return active
    if visible or worksheets:
        return (visible or worksheets)[0]
    raise InputError(f"{path.name} holds no worksheet; save the data in a sheet of rows")


def _refuse_oversized_sheet(path: Path, worksheet: Any) -> None:
    """Refuse a sheet whose stored size (``<dimension ref>``) lies beyond Excel's limits."""
    rows, columns = worksheet.max_row, worksheet.max_column
    if (isinstance(rows, int) and rows > EXCEL_ROWS) or (
        isinstance(columns, int) and columns > EXCEL_COLUMNS
    ):
        raise InputError(
            f"{path.name}: sheet '{worksheet.title}' claims {rows:,} rows and {columns:,} "
            f"columns, beyond Excel's {EXCEL_ROWS:,} rows and {EXCEL_COLUMNS:,} columns (XFD); "
            "it is damaged or hostile: export the sheet again from the program that made it"
        )


def _excel_header(
    workbook: Any, worksheet: Any, path: Path, choice: _HeaderChoice
) -> tuple[list[str], int]:
    """The header row as texts (trailing blank headers dropped) and its number: the row
    ``choice`` picks among the top rows, else the first row holding anything."""
    top: list[list[str]] = []
    unsaved_in: dict[int, list[int]] = {}
    first: int | None = None
    wanted = max(HEADER_SEARCH_ROWS, choice.number or 0)
    for number, cells, unsaved in _sheet_rows(workbook, worksheet, path):
        if number > wanted:
            break
        while len(top) < number - 1:  # rows the sheet does not store are blank rows
            top.append([])
        texts = [""] * (max((cell["column"] for cell in cells), default=0))
        for cell in cells:
            # an error value (#REF!) is no header: the column is headerless
            if cell["data_type"] != "e":
                texts[cell["column"] - 1] = cell_text(cell["value"])
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
            f"{path.name}: sheet '{worksheet.title}' is empty; it needs a header row and rows "
            "below it"
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
            f"{path.name}: sheet '{worksheet.title}' row {number} is blank; it must hold the "
            "column headers (check header_row)"
        )
    return header, number


def _load_workbook(path: Path) -> Any:
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        raise InputError(
            f"{path.name} cannot be opened as an Excel workbook ({err.__class__.__name__}); "
            "open it in Excel and save it again as .xlsx"
        ) from None


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


def _sheet_rows(
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
    try:
        with workbook._archive.open(worksheet._worksheet_path) as parser.source:
            for number, cells in parser.parse():
                if number > EXCEL_ROWS:
                    raise InputError(
                        f"{path.name}: sheet '{worksheet.title}' has a row {number:,}, beyond "
                        f"Excel's {EXCEL_ROWS:,} rows; it is damaged or hostile: export the "
                        "sheet again from the program that made it"
                    )
                if cells and max(cell["column"] for cell in cells) > EXCEL_COLUMNS:
                    raise InputError(
                        f"{path.name}: sheet '{worksheet.title}' row {number:,} has cells beyond "
                        f"Excel's {EXCEL_COLUMNS:,} columns (XFD); it is damaged or hostile: "
                        "export the sheet again from the program that made it"
                    )
                unsaved, parser.unsaved = parser.unsaved, []
                yield number, cells, unsaved
                parser.row_dimensions.clear()  # openpyxl keeps every row's height: not needed
    except (ValueError, KeyError, SyntaxError) as err:  # ParseError is a SyntaxError
        raise InputError(
            f"{path.name}: sheet '{worksheet.title}' cannot be read ({err.__class__.__name__}: "
            f"{str(err)[:80]}); open it in Excel and save it again as .xlsx"
        ) from None


def _excel_chunks(table: Table, rows: int) -> Iterator[pd.DataFrame]:
    workbook = _load_workbook(table.path)
    try:
        worksheet = workbook[table.sheet]
        batch = _ExcelBatch(table.headers, table.error_columns)
        expected = table.header_row + 1
        for number, cells, unsaved in _sheet_rows(workbook, worksheet, table.path):
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


#: the escapes of text that XML cannot carry as it is (ECMA-376 ST_Xstring)
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescaped(found: re.Match[str]) -> str:
    return chr(int(found.group(1), 16))


def cell_text(value: object) -> str:
    """An Excel cell's value as the text an analyst sees and the API receives."""
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
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)
