"""Write the reconciliation report, the retry file and the run summary.

The report has one line per input row, in input order: ``source_row``, ``status``,
``reference``, ``activity_id``, ``http_status``, ``attempts``, ``errors``, then every
original column under its original header (``<header> (input)`` where it equals an
outcome column's name). It is written chunk by chunk, never held whole; its problems are
tallied on the way (``ProblemTally``: counts per grouped message, never every row).
Workbooks (an ``.xlsx`` report, the retry workbook, the summary workbook) are written by
``workbook.py``, loaded only when one is wanted. Spreadsheet content is data, never a
formula: in XLSX every input cell is written as text; in CSV a cell Excel could read as a
formula gets its ``'`` marks (``excel_text.formula_safe``), which the reader takes away.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import ReportError
from .excel_text import formula_safe, may_need_marks
from .files import create_new, partial_path
from .outcome import ERROR_SEPARATOR, NOTHING_LEFT, OUTCOME_COLUMNS
from .problems import ProblemTally
from .shared_references import SharedReferences
from .trace import retry_headers, traced

if TYPE_CHECKING:
    from .mapping import ColumnPlan

REPORT_SUFFIXES = (".csv", ".xlsx")
#: the retry file's formats: a workbook for people (default), CSV for machines
RETRY_FORMATS = ("xlsx", "csv")


def retry_path(report: Path, retry_format: str = "xlsx") -> Path:
    """``reports/x.csv`` → ``reports/x.retry.xlsx`` (or ``x.retry.csv``)."""
    return report.with_name(f"{report.stem}.retry.{retry_format}")


def summary_book_path(report: Path) -> Path:
    """``reports/x.csv`` → ``reports/x.summary.xlsx``: the Summary sheet beside a CSV report."""
    return report.with_name(f"{report.stem}.summary.xlsx")


def report_headers(headers: list[str]) -> list[str]:
    """The original headers as the report shows them: one equal to an outcome column's name
    becomes ``<header> (input)``, so that no report has two ``status`` columns."""
    return [f"{h} (input)" if h in OUTCOME_COLUMNS else h for h in headers]


def summary_path(report: Path) -> Path:
    """``reports/x.csv`` → ``reports/x.csv.summary.json``."""
    return report.with_name(report.name + ".summary.json")


class TableWriter:
    """Appends chunks of text rows to a CSV file (UTF-8 with BOM).

    The rows go to ``<name>.partial`` beside it, which replaces the file on ``close``: a
    run stopped half-way leaves the last whole file (or none), never half of one.
    """

    def __init__(self, path: Path, headers: list[str], delimiter: str = ",") -> None:
        self.path = path
        self.headers = headers
        self.rows = 0
        self._sep = delimiter
        self._partial = partial_path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # created afresh: a link planted at the .partial name is removed, never followed
            self._handle = open(  # noqa: SIM115 - closed by close() or abandon()
                create_new(self._partial), "w", encoding="utf-8-sig", newline=""
            )
            self.write([np.array([h], dtype=object) for h in headers], count=False)
        except OSError as err:
            raise ReportError(
                f"cannot write {path}: {err.strerror}; choose another --report"
            ) from None

    def write(self, columns: list[np.ndarray], *, count: bool = True, safe: int = 0) -> None:
        """Append rows given as columns (object arrays of texts, in ``headers`` order).

        The first ``safe`` columns hold only texts this program wrote (row numbers,
        statuses): they need no formula check.
        """
        rows = len(columns[0]) if columns else 0
        if not rows:
            return
        if count:
            self.rows += rows
        try:
            self._handle.write(_csv_lines(columns, self._sep, safe))
        except OSError as err:
            raise ReportError(f"cannot write {self.path}: {err.strerror}") from None

    def close(self) -> None:
        """Finish the file."""
        try:
            self._handle.close()
            os.replace(self._partial, self.path)
        except OSError as err:
            raise ReportError(f"cannot write {self.path}: {err.strerror}") from None

    def abandon(self) -> None:
        """Drop the rows written: the file stays as it was."""
        with contextlib.suppress(OSError):
            self._handle.close()
        with contextlib.suppress(OSError):
            self._partial.unlink()


def _csv_lines(columns: list[np.ndarray], sep: str, safe: int = 0) -> str:
    """The rows as CSV text, CRLF-terminated, safe to open in Excel.

    Cells that Excel could read as a formula get their ``'`` marks (``formula_safe``);
    cells are quoted as the csv module quotes them (only when they hold the delimiter, a
    quote or a line break). Everything runs column by column at C speed (joins, substring
    and regex searches; ``\x00`` marks where a cell starts); a column is looked at cell by
    cell only when it holds such a cell.
    """
    texts: list[list[str]] = []
    for number, column in enumerate(columns):
        cells = column.tolist()
        joined = "\x00" + "\x00".join(cells)
        if number >= safe and may_need_marks(joined):
            cells = [formula_safe(cell) for cell in cells]
        if sep in joined or '"' in joined or "\n" in joined or "\r" in joined:
            cells = _quoted(cells, joined, sep)
        texts.append(cells)
    return _joined_rows(texts, sep)


def _quoted(cells: list[str], joined: str, sep: str) -> list[str]:
    """``cells`` with those that hold the delimiter, a quote or a line break quoted (as
    the csv module quotes them); ``joined``: the cells, each after a ``\x00``. Where few
    cells need it, they are found by one search of ``joined`` (the cell of each match
    from the cells' offsets), not by four searches of every cell."""
    special = re.compile("[" + re.escape(sep) + '"\r\n]')
    where = [found.start() for found in special.finditer(joined)]
    if len(where) > len(cells) // 8:
        rows: Any = range(len(cells))  # most cells: each is looked at
    else:
        lengths = np.fromiter(map(len, cells), dtype=np.int64, count=len(cells))
        starts = np.cumsum(lengths + 1) - lengths  # each cell's first character in joined
        rows = np.unique(np.searchsorted(starts, where, side="right") - 1).tolist()
    quoted = list(cells)
    for row in rows:
        cell = cells[row]
        if sep in cell or '"' in cell or "\n" in cell or "\r" in cell:
            quoted[row] = '"' + cell.replace('"', '""') + '"'
    return quoted


def _joined_rows(texts: list[list[str]], sep: str) -> str:
    """The cells (columns of equal length) as CRLF-terminated lines, in one join: each
    row's last cell carries the line break and the next row's first cell, and every other
    cell takes its place in one flat list by slice (a quarter less than a join per row)."""
    width, rows = len(texts), len(texts[0])
    if width == 1:
        return "\r\n".join([*texts[0], ""])
    first, last = texts[0], texts[-1]
    flat: list[str] = [""] * (rows * (width - 1) + 1)
    flat[0] = first[0]
    for position in range(1, width - 1):
        flat[position :: width - 1] = texts[position]
    ends = [cell + "\r\n" + following for cell, following in zip(last, first[1:], strict=False)]
    ends.append(last[-1] + "\r\n")
    flat[width - 1 :: width - 1] = ends
    return sep.join(flat)


def as_text(values: pd.Series) -> np.ndarray:
    """A column as an object array of texts: whole numbers without ``.0``, missing as ``""``."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.astype("Int64")
        texts = numbers.astype(str).to_numpy(dtype=object)
        texts[numbers.isna().to_numpy()] = ""
        return texts
    texts = values.to_numpy(dtype=object, copy=True)
    texts[pd.isna(texts)] = ""
    return texts


def cell_columns(plan: ColumnPlan) -> dict[str, int]:
    """Which column feeds each name an error may carry: API fields, additional-information
    keys (also as ``additional_information_object.<key>``, as the API names them)."""
    found: dict[str, int] = {}
    for key, position in plan.extras:
        found[f"additional_information_object.{key}"] = position
        found.setdefault(key, position)
    found.update(plan.fields)
    return found


def original_cells(
    outcomes: pd.DataFrame, cells: pd.DataFrame | list[np.ndarray], width: int
) -> list[np.ndarray]:
    """The original cells of the outcomes' rows, column by column (``width`` columns);
    ``cells``: the chunk as read, or these columns already."""
    if isinstance(cells, list):
        return cells
    same = len(cells) == len(outcomes) and cells.index.equals(outcomes.index)
    rows = cells if same else cells.loc[outcomes.index]
    return [rows.iloc[:, i].to_numpy(dtype=object) for i in range(width)]


def sent_cells(original: list[np.ndarray], cell_columns: dict[str, int]) -> list[np.ndarray]:
    """The original columns whose cells are sent (all of them when ``cell_columns`` is
    empty): what tells a row that replaces an earlier row's values."""
    sent = sorted(set(cell_columns.values())) or range(len(original))
    return [original[i] for i in sent]


class ReportWriter:
    """The reconciliation report and, for runs, the retry file of rows not imported.

    ``cell_columns`` (field → column position, from the mapping's plan) says which cell to
    mark in a retry workbook for each error's field; ``sheet`` names its sheet (the input's
    own, so that a mapping naming it still reads the retry file). Rows to resend carry
    their trace (``trace.py``): their row in the input named ``source_name``, or in the
    first file if the input is itself a retry file.
    """

    def __init__(
        self,
        report: Path,
        headers: list[str],
        *,
        retry: bool,
        delimiter: str = ",",
        retry_format: str = "xlsx",
        cell_columns: dict[str, int] | None = None,
        sheet: str | None = None,
        source_name: str = "",
    ) -> None:
        self.report = report
        self.headers = headers
        self._source_name = source_name
        self._retry_headers = retry_headers(headers)
        self.problems = ProblemTally()
        self.counts: Counter[str] = Counter()
        #: rows that replace an earlier row's values of their reference, flagged as written
        self.shared = SharedReferences()
        self._book: Any = None  # workbook.ReportBook of an .xlsx report
        self._main: TableWriter | None = None
        if report.suffix.lower() == ".xlsx":
            from .workbook import ReportBook

            self._book = ReportBook(
                report, self._retry_headers, report_headers(headers), cell_columns
            )
        else:
            self._main = TableWriter(report, [*OUTCOME_COLUMNS, *report_headers(headers)])
        self._retry_path = retry_path(report, retry_format)
        self._retry_wanted = retry
        self._retry: Any = None  # TableWriter (CSV) or workbook.RetryBook
        self._delimiter = delimiter
        self._cell_columns = cell_columns or {}
        self._sheet = sheet
        self.retry_rows = 0
        # an earlier run's retry file and summary workbook: removed when this report is
        # whole (beside it they would mislead), kept with the earlier report until then
        self._stale = [retry_path(report, kind) for kind in RETRY_FORMATS]
        if self._book is None:
            self._stale.append(summary_book_path(report))

    def write(
        self,
        outcomes: pd.DataFrame,
        cells: pd.DataFrame | list[np.ndarray],
        *,
        hashed: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Append the rows of one chunk: outcomes and original cells share the index
        (``cells`` may be ``original_cells`` already).

        A boolean ``retry`` column in ``outcomes`` says which rows go to the retry file
        (default: every row with something left to do: invalid, rejected, failed).
        ``hashed``: the rows' ``row_hashes``, if found ahead (by the process that checked
        every chunk of this report).
        """
        if outcomes.empty:
            return
        original = original_cells(outcomes, cells, len(self.headers))
        columns = self._outcome_columns(outcomes, original, hashed)
        statuses, errors = columns[1], columns[6]
        self.counts.update(statuses.tolist())
        self.problems.add(outcomes.index.to_numpy(), statuses, errors)
        if self._book is not None:
            self._book.write(columns, original)
        else:
            assert self._main is not None
            self._main.write([*columns, *original], safe=2)  # source_row, status
        if self._book is None and not self._retry_wanted:
            return  # no rows to resend are kept (validate's CSV report)
        again = (
            outcomes["retry"].to_numpy(dtype=bool)
            if "retry" in outcomes.columns
            else ~np.isin(statuses, NOTHING_LEFT)
        )
        if not again.any():
            return
        numbers = outcomes.index.to_numpy()[again]
        kept = traced(
            [column[again] for column in original], self.headers, numbers, self._source_name
        )
        if self._book is not None:
            self._book.write_retry(kept, errors[again])
        if not self._retry_wanted:
            return
        if self._retry is None:
            self._retry = self._open_retry()
        if isinstance(self._retry, TableWriter):
            self._retry.write(kept)
        else:
            self._retry.write(kept, errors[again])
        self.retry_rows += int(again.sum())

    def _outcome_columns(
        self,
        outcomes: pd.DataFrame,
        original: list[np.ndarray],
        hashed: tuple[np.ndarray, np.ndarray] | None,
    ) -> list[np.ndarray]:
        """The report's outcome columns as texts, a row's note of the earlier row of its
        reference whose values it replaces (``self.shared``) added to its errors."""
        columns = [np.array(list(map(str, outcomes.index.tolist())), dtype=object)]
        for name in OUTCOME_COLUMNS[1:]:
            if name in outcomes.columns:
                columns.append(as_text(outcomes[name]))
            else:
                columns.append(np.full(len(outcomes), "", dtype=object))
        notes = self.shared.notes(
            outcomes.index.to_numpy(),
            columns[2],
            columns[1],
            sent_cells(original, self._cell_columns),
            hashed,
        )
        if notes is not None:
            joined = np.where(columns[6] == "", notes, columns[6] + ERROR_SEPARATOR + notes)
            columns[6] = np.where(notes != "", joined, columns[6])
        return columns

    def _open_retry(self) -> Any:
        if self._retry_path.suffix == ".csv":
            return TableWriter(self._retry_path, self._retry_headers, self._delimiter)
        from .workbook import RetryBook

        return RetryBook(self._retry_path, self._retry_headers, self._cell_columns, self._sheet)

    @property
    def retry_file(self) -> Path | None:
        """The retry file, if any row needed one."""
        return self._retry_path if self._retry is not None else None

    def close(self, summary: dict[str, Any] | None = None) -> None:
        """Finish every file; ``summary`` (``RunSummary.as_json``) fills the Summary sheet,
        in the ``.xlsx`` report or, beside a CSV report, in ``<stem>.summary.xlsx``."""
        if summary is not None:
            summary = {**summary, "retry_file": str(self.retry_file) if self.retry_file else None}
        try:
            if self._book is not None:
                self._book.close(summary or {}, self.counts, self.problems)
            else:
                assert self._main is not None
                self._main.close()
        finally:
            if self._retry is not None:
                self._retry.close()
        written = {self.retry_file}
        if self._book is None and summary is not None:
            from .workbook import write_summary_book

            write_summary_book(summary_book_path(self.report), summary, self.counts, self.problems)
            written.add(summary_book_path(self.report))
        for path in self._stale:
            if path not in written:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def abandon(self) -> None:
        """Drop everything written so far (a report written again from the start follows,
        or none: an interrupted ``validate``)."""
        if self._main is not None:
            self._main.abandon()
        if self._retry is not None:
            if isinstance(self._retry, TableWriter):
                self._retry.abandon()
            else:
                self._retry.discard()
        if self._book is not None:
            self._book.discard()  # a workbook reaches the disk only when closed
        self._book = self._retry = None


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    """``<report>.summary.json``: counts per status, speed, times, input hash, API host."""
    try:
        with open(create_new(path), "w", encoding="utf-8") as handle:
            handle.write(json.dumps(summary, indent=2, default=str) + "\n")
    except OSError as err:
        raise ReportError(f"cannot write {path}: {err.strerror}") from None
