"""CSV rows: the delimiter, the first rows, and the data rows parsed by pandas into chunks.

Besides the text cells, a chunk says what is wrong with a row that parsing alone cannot:
cells beyond the header (``OVERFLOW``), values under a blank header, and a stray quote that
swallowed the rows after it (``PROBLEM``).
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..excel_text import unmark
from .cells import EXCEL_ERRORS, column_letter
from .csv_encoding import choose_encoding, scan_bytes
from .options import HEADER_SEARCH_ROWS
from .rows import OVERFLOW, PROBLEM, headerless_problem, strip

DELIMITERS = (",", ";", "\t", "|")
#: room for a few cells too many: such a row is shown as invalid, not shifted
_SPARE_CELLS = 4
#: Excel's first line naming the delimiter (Excel hides it and shows the header as row 1)
_EXCEL_SEP_LINE = re.compile(r"\ufeff?sep=([^\r\n\"])[ \t]*(?:\r\n|\r|\n|$)")


@dataclass(frozen=True)
class CsvHead:
    """What the top of a CSV says: how to read it, its first rows, and how long it is."""

    digest: str  # sha256 of the whole file
    encoding: str
    delimiter: str
    preamble: int  # lines before the first row that are no data (Excel's ``sep=``)
    top: list[list[str]]  # the first rows, as records
    lines: int  # line breaks in the whole file


def read_head(path: Path, delimiter: str | None, encoding: str | None, wanted: int) -> CsvHead:
    """Read the whole file once (hash, encoding evidence), then its first ``wanted`` rows."""
    head, scan = scan_bytes(path, encoding)
    chosen = choose_encoding(path, head, scan, encoding)
    text = head.decode(chosen, errors="replace")
    preamble = 0
    if excel_sep := _EXCEL_SEP_LINE.match(text):
        preamble = 1
        text = text[excel_sep.end() :]
    sep = delimiter or (excel_sep.group(1) if excel_sep else _sniff_delimiter(text))
    if len(sep) != 1:
        raise InputError(f"the delimiter must be one character, not '{sep}'")
    top = _csv_top_rows(text, sep, wanted)
    return CsvHead(scan.digest.hexdigest(), chosen, sep, preamble, top, scan.lines)


def headers_of(row: list[str]) -> list[str]:
    """The header row's cells as column names."""
    # an Excel error value saved into a CSV (#REF!) is no header: the column is headerless
    return ["" if h.strip() in EXCEL_ERRORS else unmark(h).strip() for h in row]


@dataclass(frozen=True)
class CsvLayout:
    """Where a CSV's data rows start and how they are written: what parsing them needs."""

    path: Path
    headers: list[str]
    encoding: str | None
    delimiter: str | None
    header_row: int
    preamble_lines: int


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


def parsed_csv(table: CsvLayout, rows: int) -> Iterator[pd.DataFrame]:
    """The data rows as pandas parses them, ``rows`` at a time; a broken file → InputError."""
    width = len(table.headers)
    read = 0  # rows handed over
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
            # the chosen encoding reads every byte (the scan saw to that, unless a mapping
            # declared one): a byte it cannot read stops the file, never becomes U+FFFD
            encoding_errors="strict",
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
                read += len(chunk)
                yield chunk
    except (pd.errors.ParserError, pd.errors.ParserWarning) as err:
        raise InputError(_explain_parser_error(table, err)) from None
    except UnicodeDecodeError as err:
        raise InputError(
            f"{table.path.name}: a row after the first {read:,} holds the byte "
            f"0x{err.object[err.start]:02X}, which is not {table.encoding}; set the encoding "
            'the file is in, e.g. encoding = "cp1252" in a mapping'
        ) from None
    except pd.errors.EmptyDataError:
        return


def csv_chunks(table: CsvLayout, rows: int) -> Iterator[pd.DataFrame]:
    width = len(table.headers)
    headerless = [p for p, header in enumerate(table.headers) if not header]
    start = table.header_row + 1
    for chunk in parsed_csv(table, rows):
        chunk.index = pd.RangeIndex(start, start + len(chunk), name="source_row")
        start += len(chunk)
        chunk = _tidy(chunk, width)
        # each column joined once: what _unmarked and _flag_swallowed look for, at C speed
        joined = ["".join(chunk[position].to_numpy(dtype=object)) for position in range(width)]
        chunk = _unmarked(chunk, joined)
        if headerless:
            chunk = _flag_headerless(chunk, headerless)
        yield _flag_swallowed(chunk, table, joined)


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


def _unmarked(chunk: pd.DataFrame, joined: list[str]) -> pd.DataFrame:
    """Take away the ``'`` marks our CSV reports put before formula-like text (see
    ``report.formula_safe``), so a retry file fed back holds the original values.
    ``joined``: each column's cells joined, as read."""
    for position, text in enumerate(joined):
        if "'" in text:
            cells = chunk[position].to_numpy(dtype=object)
            chunk[position] = [unmark(cell) if "'" in cell else cell for cell in cells]
    return chunk


def _flag_headerless(chunk: pd.DataFrame, positions: list[int]) -> pd.DataFrame:
    """Rows with a value under a blank header get a ``PROBLEM`` (the first such column)."""
    problem = np.full(len(chunk), "", dtype=object)
    for position in positions:
        cells = chunk[position].to_numpy(dtype=object)
        rows = np.flatnonzero((strip(cells) != "") & (problem == ""))
        for row in rows:
            problem[row] = headerless_problem(position, cells[row])
    if (problem != "").any():
        chunk = chunk.copy()
        chunk[PROBLEM] = problem
    return chunk


#: a quoted cell with at least this many lines shaped like the file's rows has swallowed them
SWALLOWED_ROWS = 3
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _flag_swallowed(chunk: pd.DataFrame, table: CsvLayout, joined: list[str]) -> pd.DataFrame:
    """Rows with a cell that swallowed the rows after it get a ``PROBLEM``.

    A cell that starts with a stray quote runs on, line breaks and delimiters included,
    until the next quote in the file: the rows in between become its text (RFC 4180 says
    so, and no parser can tell). They are found by their shape: of the cell's lines after
    its first, at least ``SWALLOWED_ROWS``, and at least half, hold exactly as many
    delimiters as a row of the file. A text with a few line breaks (a description, an
    e-mail) has nothing like it; a file of fewer than 3 columns is not judged. ``joined``:
    each column's cells joined (marks taken away or not: line breaks are the same).
    """
    width = len(table.headers)
    sep = table.delimiter or ","
    if width < 3:
        return chunk
    problem = chunk[PROBLEM].to_numpy(dtype=object, copy=True) if PROBLEM in chunk else None
    for position in range(width):
        text = joined[position]
        if text.count("\n") + text.count("\r") < SWALLOWED_ROWS:
            continue  # the common case, decided at C speed
        cells = chunk[position].to_numpy(dtype=object)
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


def _swallowed_problem(table: CsvLayout, position: int, lines: int) -> str:
    column = f"column {column_letter(position)} ({table.headers[position] or 'no header'})"
    return (
        f"a quote in {column} swallowed the next {lines:,} lines of the file into this cell, "
        "rows of the file among them: a stray quote at the start of the cell? Fix the quotes "
        "(a cell that holds a quote must be quoted, its quotes doubled), then check the rows "
        "after this one"
    )


_PANDAS_ROW = re.compile(r"starting at row (\d+)")
_PANDAS_FIELDS = re.compile(r"Expected \d+ fields in line (\d+), saw (\d+)")


def _explain_parser_error(table: CsvLayout, err: Exception) -> str:
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
