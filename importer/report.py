"""Write the reconciliation report, the retry file and the run summary.

The report has one line per input row, in input order: ``source_row``, ``status``,
``reference``, ``activity_id``, ``http_status``, ``attempts``, ``errors``, then every
original column under its original header. It is written chunk by chunk, never held
whole. Spreadsheet content is data: in CSV a cell starting with ``= + - @``, tab or
carriage return gets a leading ``'``; in XLSX every cell is written as text, so no
formula ever reaches Excel.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

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
EXCEL_MAX_ROWS = 1_048_576
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def retry_path(report: Path) -> Path:
    """``reports/x.csv`` → ``reports/x.retry.csv``."""
    return report.with_name(f"{report.stem}.retry{report.suffix}")


def summary_path(report: Path) -> Path:
    """``reports/x.csv`` → ``reports/x.csv.summary.json``."""
    return report.with_name(report.name + ".summary.json")


class TableWriter:
    """Appends chunks of rows to a CSV (UTF-8 with BOM) or XLSX file."""

    def __init__(self, path: Path, headers: list[str], delimiter: str = ",") -> None:
        self.path = path
        self.headers = headers
        self.rows = 0
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
                self._csv = csv.writer(self._handle, delimiter=delimiter)
                self._csv.writerow(_neutralise_values(headers))
        except OSError as err:
            raise ReportError(
                f"cannot write {path}: {err.strerror}; choose another --report"
            ) from None

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame``'s rows (its columns in ``headers`` order)."""
        if frame.empty:
            return
        self.rows += len(frame)
        if self._excel:
            if self.rows + 1 > EXCEL_MAX_ROWS:
                raise ReportError(
                    f"more rows than an Excel sheet holds ({EXCEL_MAX_ROWS:,}); "
                    "use a .csv --report for this file"
                )
            self._write_excel(frame)
            return
        text = frame.astype("object").where(frame.notna(), "").astype(str)
        for column in range(text.shape[1]):
            cells = text.iloc[:, column]
            danger = cells.str.startswith(_DANGEROUS)
            if danger.any():
                text.iloc[:, column] = cells.where(~danger, "'" + cells)
        try:
            self._csv.writerows(text.itertuples(index=False, name=None))
        except OSError as err:
            raise ReportError(f"cannot write {self.path}: {err.strerror}") from None

    def _write_excel(self, frame: pd.DataFrame) -> None:
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        text = frame.astype("object").where(frame.notna(), None)
        for values in text.itertuples(index=False, name=None):
            row: list[Any] = []
            for value in values:
                if isinstance(value, str):
                    if ILLEGAL_CHARACTERS_RE.search(value):
                        value = ILLEGAL_CHARACTERS_RE.sub("", value)
                    row.append(self._text_cell(value) if value.startswith(_DANGEROUS) else value)
                else:
                    row.append(value)
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


def _neutralise_values(values: list[str]) -> list[str]:
    return [f"'{v}" if v.startswith(_DANGEROUS) else v for v in values]


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
        """Append the rows of one chunk: outcomes and original cells share the index."""
        if outcomes.empty:
            return
        frame = outcomes.reindex(columns=OUTCOME_COLUMNS[1:]).copy()
        frame.insert(0, "source_row", outcomes.index.astype("int64"))
        for name in ("http_status", "attempts"):
            frame[name] = frame[name].astype("Int64")
        original = cells.loc[outcomes.index].iloc[:, : len(self.headers)]
        original.columns = pd.RangeIndex(len(self.headers)) + len(OUTCOME_COLUMNS)
        joined = pd.concat([frame.set_axis(range(len(OUTCOME_COLUMNS)), axis=1), original], axis=1)
        self._main.write(joined)
        if not self._retry_wanted:
            return
        again = outcomes["status"] != "imported"
        if again.any():
            if self._retry is None:
                self._retry = TableWriter(self._retry_path, self.headers, self._delimiter)
            self._retry.write(
                cells.loc[outcomes.index[again.to_numpy()]].iloc[:, : len(self.headers)]
            )
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
