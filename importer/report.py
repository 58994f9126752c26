"""Write the reconciliation report, the retry file and the run summary.

The report has one line per input row, in input order: ``source_row``, ``status``,
``reference``, ``activity_id``, ``http_status``, ``attempts``, ``errors``, then every
original column under its original header. It is written chunk by chunk, never held
whole. Spreadsheet content is data, never a formula: in XLSX every cell is written as
text; in CSV, Excel starts a field wherever a cell starts and, when it splits the line
on the other list separator (``;`` in most of Europe, ``,`` elsewhere) or at a line break
inside a cell, after each of those too. Wherever such a field would begin with
``= + - @``, tab or carriage return, a ``'`` is put in front (``formula_safe``); the reader
takes exactly those marks away again (``unmark``), so a retry file fed back sends the
original values byte for byte.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ReportError

OUTCOME_COLUMNS = (
    "source_row",
    "status",
    "reference",
    "activity_id",
    "http_status",
    "attempts",
    "errors",
)
REPORT_SUFFIXES = (".csv", ".xlsx")
#: between the ``field: message`` entries of the errors column, from the schema or the API
ERROR_SEPARATOR = " | "
EXCEL_MAX_ROWS = 1_048_576
#: the longest text an Excel cell holds
EXCEL_MAX_CHARS = 32_767
#: where Excel may start a field (a cell's start, either list separator, a line break, a
#: quote) followed by what would start a formula; ``'`` runs are included so that marking
#: is reversible
_UNSAFE = re.compile(r"(^|[,;\r\n\"])(?='*[=+\-@\t\r])")
_MARKED = re.compile(r"(^|[,;\r\n\"])'(?='*[=+\-@\t\r])")
#: what may follow a field start in a cell that needs marks (``'`` for runs of them), and
#: the field starts, with NUL for a cell's own start in a column joined with NUL
_MARKS = ("=", "+", "-", "@", "\t", "\r", "'")
_STARTS = ("\x00", ",", ";", "\r", "\n", '"')


def formula_safe(text: str) -> str:
    """``text`` with a ``'`` wherever Excel could start a formula field in it."""
    return _UNSAFE.sub(r"\1'", text)


def unmark(text: str) -> str:
    """Undo ``formula_safe`` exactly: ``unmark(formula_safe(t)) == t`` for every text."""
    return _MARKED.sub(r"\1", text)


def excel_problem(text: str) -> str | None:
    """Why an .xlsx cell cannot hold ``text`` exactly (None if it can)."""
    if len(text) > EXCEL_MAX_CHARS:
        return (
            f"is {len(text):,} characters long, more than an Excel cell holds ({EXCEL_MAX_CHARS:,})"
        )
    found = control_character(text)
    if found:
        return f"holds a control character (U+{ord(found):04X}) that Excel cannot store"
    return None


def control_character(text: str) -> str | None:
    """The first character in ``text`` that an .xlsx cell cannot hold, if any."""
    found = _illegal().search(text)
    return found.group() if found else None


def _illegal() -> re.Pattern[str]:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE


def _shown_in_excel(text: str) -> str:
    """A text an .xlsx cell can hold: control characters as their visible symbols (␁), cut
    at Excel's limit. Only rows already marked invalid for it carry such cells."""
    text = _illegal().sub(lambda m: chr(0x2400 + ord(m.group())), text)
    if len(text) > EXCEL_MAX_CHARS:
        text = text[: EXCEL_MAX_CHARS - 40] + f" … [cut: {len(text):,} characters]"
    return text


def retry_path(report: Path) -> Path:
    """``reports/x.csv`` → ``reports/x.retry.csv``."""
    return report.with_name(f"{report.stem}.retry{report.suffix}")


def summary_path(report: Path) -> Path:
    """``reports/x.csv`` → ``reports/x.csv.summary.json``."""
    return report.with_name(report.name + ".summary.json")


class TableWriter:
    """Appends chunks of text rows to a CSV (UTF-8 with BOM) or XLSX file."""

    def __init__(self, path: Path, headers: list[str], delimiter: str = ",") -> None:
        self.path = path
        self.headers = headers
        self.rows = 0
        self._sep = delimiter
        self._excel = path.suffix.lower() == ".xlsx"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if self._excel:
                from openpyxl import Workbook

                self._book = Workbook(write_only=True)
                self._sheet = self._book.create_sheet("Report")
                self._sheet.append([self._text_cell(h) for h in headers])
            else:
                self._handle = path.open("w", encoding="utf-8-sig", newline="")
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
            if self._excel:
                if self.rows + 1 > EXCEL_MAX_ROWS:
                    raise ReportError(
                        f"more rows than an Excel sheet holds ({EXCEL_MAX_ROWS:,}); "
                        "use a .csv --report for this file"
                    )
                self._write_excel(columns)
            else:
                self._handle.write(_csv_lines(columns, self._sep, safe))
        except OSError as err:
            raise ReportError(f"cannot write {self.path}: {err.strerror}") from None

    def _write_excel(self, columns: list[np.ndarray]) -> None:
        illegal = _illegal()
        for values in zip(*(column.tolist() for column in columns), strict=True):
            row: list[Any] = []
            for value in values:
                if not value:
                    row.append(None)
                    continue
                if len(value) > EXCEL_MAX_CHARS or illegal.search(value):
                    value = _shown_in_excel(value)
                row.append(
                    self._text_cell(value) if value.startswith(("=", "+", "-", "@")) else value
                )
            self._sheet.append(row)

    def _text_cell(self, value: str) -> Any:
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(self._sheet, value=value)
        cell.data_type = "s"  # text, even when it starts with '=': never a formula
        return cell

    def close(self) -> None:
        """Finish the file."""
        try:
            if self._excel:
                self._book.save(self.path)
            else:
                self._handle.close()
        except OSError as err:
            raise ReportError(f"cannot write {self.path}: {err.strerror}") from None


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
        if number >= safe and _may_need_marks(joined):
            cells = [formula_safe(cell) for cell in cells]
        if sep in joined or '"' in joined or "\n" in joined or "\r" in joined:
            cells = [
                '"' + cell.replace('"', '""') + '"'
                if sep in cell or '"' in cell or "\n" in cell or "\r" in cell
                else cell
                for cell in cells
            ]
        texts.append(cells)
    lines = [sep.join(row) for row in zip(*texts, strict=True)]
    lines.append("")
    return "\r\n".join(lines)


def _may_need_marks(joined: str) -> bool:
    """Whether any cell of a NUL-joined column may need a ``'`` mark (substring searches:
    several times faster than one regular expression over the column)."""
    starts = [start for start in _STARTS if start in joined]
    return any(
        mark in joined and any(start + mark in joined for start in starts) for mark in _MARKS
    )


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


class ReportWriter:
    """The reconciliation report and, for runs, the retry file of rows not imported."""

    def __init__(
        self, report: Path, headers: list[str], *, retry: bool, delimiter: str = ","
    ) -> None:
        self.report = report
        self.headers = headers
        self._main = TableWriter(report, [*OUTCOME_COLUMNS, *headers])
        self._retry_path = retry_path(report)
        self._retry_wanted = retry
        self._retry: TableWriter | None = None
        self._delimiter = delimiter
        self.retry_rows = 0
        if self._retry_path.exists():
            self._retry_path.unlink()  # a stale retry file would mislead

    def write(self, outcomes: pd.DataFrame, cells: pd.DataFrame) -> None:
        """Append the rows of one chunk: outcomes and original cells share the index.

        A boolean ``retry`` column in ``outcomes`` says which rows go to the retry file
        (default: every row not imported).
        """
        if outcomes.empty:
            return
        same = len(cells) == len(outcomes) and cells.index.equals(outcomes.index)
        rows = cells if same else cells.loc[outcomes.index]
        original = [rows.iloc[:, i].to_numpy(dtype=object) for i in range(len(self.headers))]
        columns = [np.array(list(map(str, outcomes.index.tolist())), dtype=object)]
        for name in OUTCOME_COLUMNS[1:]:
            if name in outcomes.columns:
                columns.append(as_text(outcomes[name]))
            else:
                columns.append(np.full(len(outcomes), "", dtype=object))
        self._main.write([*columns, *original], safe=2)  # source_row, status
        if not self._retry_wanted:
            return
        again = (
            outcomes["retry"].to_numpy(dtype=bool)
            if "retry" in outcomes.columns
            else (outcomes["status"] != "imported").to_numpy()
        )
        if again.any():
            if self._retry is None:
                self._retry = TableWriter(self._retry_path, self.headers, self._delimiter)
            self._retry.write([column[again] for column in original])
            self.retry_rows += int(again.sum())

    @property
    def retry_file(self) -> Path | None:
        """The retry file, if any row needed one."""
        return self._retry_path if self._retry is not None else None

    def close(self) -> None:
        """Finish both files."""
        self._main.close()
        if self._retry is not None:
            self._retry.close()


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    """``<report>.summary.json``: counts per status, speed, times, input hash, API host."""
    try:
        path.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    except OSError as err:
        raise ReportError(f"cannot write {path}: {err.strerror}") from None
