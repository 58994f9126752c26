"""Read CSV and Excel files as chunks of text cells, numbered as the analyst sees them.

Every cell is text (``""`` for blank): leading zeros stay, Excel whole numbers lose their
``.0``, Excel date cells become ``Y-m-d H:i:s``, formulas give their cached values. A chunk
is a DataFrame whose index is the source row (header = row 1; for Excel the sheet's own
row number) and whose columns are the input's column positions ``0..n-1``; the headers are
kept on the ``Table``. Files are never loaded whole: memory is flat in the number of rows.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
DELIMITERS = (",", ";", "\t", "|")
DEFAULT_CHUNK_ROWS = 50_000
#: Column of a CSV chunk holding cells beyond the header's width (present only if any)
OVERFLOW = "overflow"
#: Column of a chunk holding what the reader found wrong with a row ("" for nothing); present
#: only if any row has a problem. ``validate`` turns each into a problem of that row.
PROBLEM = "problem"
_SPARE_CELLS = 4
_BLOCK = 1 << 20


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

    def chunks(self, rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """Yield the data rows (blank ones included) in chunks of at most ``rows``."""
        if self.kind == "csv":
            yield from _csv_chunks(self, rows)
        else:
            yield from _excel_chunks(self, rows)


def open_table(
    path: Path,
    *,
    sheet: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> Table:
    """Open ``path``, check it is a readable table and read its header row."""
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path (and quote names with spaces)")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give the path of a .csv or .xlsx file")
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        return _open_excel(path, sheet)
    if suffix == ".xls":
        raise InputError(
            f"{path.name} is an old-style .xls workbook; open it in Excel and save as .xlsx or .csv"
        )
    if suffix in CSV_SUFFIXES or suffix == "":
        return _open_csv(path, delimiter, encoding)
    raise InputError(f"{path.name}: cannot read '{suffix}' files; save it as .csv or .xlsx")


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


# --- CSV -------------------------------------------------------------------------------


def _open_csv(path: Path, delimiter: str | None, encoding: str | None) -> Table:
    digest = hashlib.sha256()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    is_utf8 = True
    newlines = 0
    with path.open("rb") as handle:
        head = handle.read(_BLOCK)
        _refuse_binary(path, head)
        block = head
        while block:
            digest.update(block)
            newlines += block.count(b"\n")
            if is_utf8 and not (block.isascii() and not utf8.getstate()[0]):
                try:
                    utf8.decode(block)
                except UnicodeDecodeError:
                    is_utf8 = False
            block = handle.read(_BLOCK)
    if is_utf8:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            is_utf8 = False
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        raise InputError(f"{path.name} is empty; it needs a header row and at least one row")

    if head.startswith(codecs.BOM_UTF8):
        chosen = "utf-8-sig"  # a BOM is definitive, whatever the mapping says
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        chosen = "utf-16"  # Excel's "Unicode Text" export
    elif encoding:
        chosen = encoding
    else:
        chosen = "utf-8" if is_utf8 else "cp1252"
    try:
        codecs.lookup(chosen)
    except LookupError:
        raise InputError(
            f"unknown encoding '{chosen}'; use e.g. utf-8 or cp1252 in the mapping"
        ) from None

    text = head.decode(chosen, errors="replace")
    sep = delimiter or _sniff_delimiter(text)
    if len(sep) != 1:
        raise InputError(f"the delimiter must be one character, not '{sep}'")
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=sep))
    except (StopIteration, csv.Error):
        header = []
    if not any(h.strip() for h in header):
        raise InputError(f"{path.name}: the first row is blank; it must hold the column headers")
    return Table(
        path,
        "csv",
        [h.strip() for h in header],
        digest.hexdigest(),
        chosen,
        sep,
        estimated_rows=max(0, newlines - 1),
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
    first_line = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    counts = {sep: first_line.count(sep) for sep in DELIMITERS}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _csv_chunks(table: Table, rows: int) -> Iterator[pd.DataFrame]:
    width = len(table.headers)
    try:
        reader = pd.read_csv(
            table.path,
            sep=table.delimiter,
            header=None,
            # room for a few cells too many: such a row is shown as invalid, not shifted
            names=range(width + _SPARE_CELLS),
            index_col=False,
            skiprows=1,
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
        start = 2
        with reader:
            while True:
                with warnings.catch_warnings():
                    # pandas would cut a row with more cells than names, keeping quiet
                    warnings.simplefilter("error", pd.errors.ParserWarning)
                    chunk = next(reader, None)
                if chunk is None:
                    return
                chunk.index = pd.RangeIndex(start, start + len(chunk), name="source_row")
                start += len(chunk)
                yield _tidy(chunk, width)
    except (pd.errors.ParserError, pd.errors.ParserWarning) as err:
        raise InputError(_explain_parser_error(table, err)) from None
    except pd.errors.EmptyDataError:
        return


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


def _explain_parser_error(table: Table, err: Exception) -> str:
    message = str(err).strip().splitlines()[-1]
    if isinstance(err, pd.errors.ParserWarning) or ("Expected" in message and "fields" in message):
        message = f"more than {len(table.headers) + _SPARE_CELLS} cells"
        return (
            f"{table.path.name}: a row has many more cells than the {len(table.headers)} "
            f"headers ({message}); quote cells that contain '{table.delimiter}' or check the "
            "delimiter"
        )
    return f"{table.path.name}: not a readable CSV ({message}); check quotes and the delimiter"


# --- Excel -----------------------------------------------------------------------------


def _open_excel(path: Path, sheet: str | None) -> Table:

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
    workbook = _load_workbook(path)
    try:
        names = list(workbook.sheetnames)
        if sheet is None:
            chosen = names[0]
        elif sheet in names:
            chosen = sheet
        else:
            listed = ", ".join(f"'{name}'" for name in names)
            raise InputError(f"{path.name} has no sheet '{sheet}'; its sheets are: {listed}")
        worksheet = workbook[chosen]
        estimated = worksheet.max_row if isinstance(worksheet.max_row, int) else None
        worksheet.reset_dimensions()  # some writers store wrong dimensions
        header: list[str] = []
        header_row = 0
        for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
            cells = [cell_text(v) for v in values]
            if any(c.strip() for c in cells):
                header, header_row = cells, number
                break
        if not header:
            raise InputError(
                f"{path.name}: sheet '{chosen}' is empty; it needs a header row and rows below it"
            )
        while header and not header[-1].strip():
            header.pop()
    finally:
        workbook.close()
    return Table(
        path,
        "xlsx",
        [h.strip() for h in header],
        digest,
        sheet=chosen,
        header_row=header_row,
        estimated_rows=None if estimated is None else max(0, estimated - header_row),
    )


def _load_workbook(path: Path) -> Any:
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        raise InputError(
            f"{path.name} cannot be opened as an Excel workbook ({err.__class__.__name__}); "
            "open it in Excel and save it again as .xlsx"
        ) from None


def _excel_chunks(table: Table, rows: int) -> Iterator[pd.DataFrame]:
    workbook = _load_workbook(table.path)
    try:
        worksheet = workbook[table.sheet]
        worksheet.reset_dimensions()
        width = len(table.headers)
        first = table.header_row + 1
        batch: list[list[str]] = []
        numbers: list[int] = []
        for number, values in enumerate(
            worksheet.iter_rows(min_row=first, values_only=True), start=first
        ):
            cells = [cell_text(v) for v in values[:width]]
            if len(cells) < width:
                cells.extend([""] * (width - len(cells)))
            batch.append(cells)
            numbers.append(number)
            if len(batch) >= rows:
                yield _frame(batch, numbers, width)
                batch, numbers = [], []
        if batch:
            yield _frame(batch, numbers, width)
    finally:
        workbook.close()


def _frame(batch: list[list[str]], numbers: list[int], width: int) -> pd.DataFrame:
    frame = pd.DataFrame(batch, columns=range(width), dtype=object)
    frame.index = pd.Index(numbers, name="source_row")
    return frame


def cell_text(value: object) -> str:
    """An Excel cell's value as the text an analyst sees and the API receives."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
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
