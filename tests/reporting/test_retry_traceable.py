"""The retry loop is traceable: every row of a retry file says which row of which file it
first was (``original_row``, ``original_file``), the report of a retry file shows it beside
the row's own number, and a retry file of a retry file still points at the very first file.
Those two columns are never sent: a row sent again is sent exactly as the first time.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from importer.sandbox import RunningSandbox

from ..helpers import HEADER, CliResult, activity_rows, api_args, read_report, read_retry, write_csv

FAST = ["--quiet", "--rate", "0", "--retry-wait", "0.01"]
TRACE = ["original_row", "original_file"]


def _rows() -> list[list[str]]:
    rows = activity_rows(6)
    for row in rows:
        row[0] = ""  # no references: each row's is derived from what is sent
    rows[1][1] = ""  # row 3: no account (invalid)
    rows[3][2] = "nobody@unknown.example"  # row 5: rejected by the API
    rows[4][1] = ""  # row 6: no account (invalid)
    return rows


def _rewrite_retry(path: Path, rows: list[list[str]]) -> None:
    """Save the retry file's rows (header first) as an analyst would after fixing them."""
    if path.suffix == ".csv":
        write_csv(path, rows)
        return
    import openpyxl

    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row, start=1):
            sheet.cell(number, column).value = value or None
    book.save(path)


def _by_row(report: Path) -> dict[int, dict[str, str]]:
    return {int(line["source_row"]): line for line in read_report(report)}


@pytest.mark.parametrize("retry_format", ["xlsx", "csv"])
def test_retry_files_point_at_the_first_files_rows(
    sandbox: RunningSandbox,
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
    retry_format: str,
) -> None:
    source = write_csv(tmp_path / "tickets.csv", [HEADER, *_rows()])
    reports = tmp_path / "reports"
    first_report = reports / "first.csv"
    args = [*api_args(sandbox), *FAST, "--retry-format", retry_format]

    first = cli("run", source, "--report", first_report, *args)
    assert first.code == 1, first.output
    first_lines = _by_row(first_report)
    assert "original_row" not in first_lines[2]  # the first file's report: as ever

    retry = read_retry(first_report)
    assert retry[0] == [*HEADER, *TRACE]
    assert [row[-2:] for row in retry[1:]] == [
        ["3", "tickets.csv"],
        ["5", "tickets.csv"],
        ["6", "tickets.csv"],
    ]

    # fix row 3's account, send the retry file as it is otherwise
    retry_file = first_report.with_name(f"first.retry.{retry_format}")
    retry[1][1] = "Fixed Account"
    _rewrite_retry(retry_file, retry)
    second_report = reports / "second.csv"
    second = cli("run", retry_file, "--report", second_report, *args)
    assert second.code == 1, second.output

    lines = _by_row(second_report)
    assert {row: (line["original_row"], line["original_file"]) for row, line in lines.items()} == {
        2: ("3", "tickets.csv"),
        3: ("5", "tickets.csv"),
        4: ("6", "tickets.csv"),
    }
    assert [lines[row]["status"] for row in (2, 3, 4)] == ["imported", "rejected", "invalid"]
    # a row sent again is the same activity: the trace is not part of what is sent
    assert lines[3]["reference"] == first_lines[5]["reference"]
    sent = sandbox.sandbox.activities[lines[2]["reference"]]
    assert not set(TRACE) & set(sent.get("additional_information_object") or {}), sent

    # a retry file of the retry file still names the first file's rows
    again = read_retry(second_report)
    assert again[0] == [*HEADER, *TRACE]
    assert [row[-2:] for row in again[1:]] == [["5", "tickets.csv"], ["6", "tickets.csv"]]
    third_report = reports / "third.csv"
    third_input = second_report.with_name(f"second.retry.{retry_format}")
    third = cli("run", third_input, "--report", third_report, *args)
    assert third.code == 1, third.output
    assert [
        (line["source_row"], line["original_row"], line["original_file"])
        for line in read_report(third_report)
    ] == [("2", "5", "tickets.csv"), ("3", "6", "tickets.csv")]


def test_an_xlsx_reports_retry_sheet_carries_the_trace_too(
    sandbox: RunningSandbox, api_env: None, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "tickets.csv", [HEADER, *_rows()])
    report = tmp_path / "reports" / "first.xlsx"
    result = cli("run", source, "--report", report, *api_args(sandbox), *FAST)
    assert result.code == 1, result.output
    import openpyxl

    book = openpyxl.load_workbook(report, read_only=True)
    try:
        rows = [list(row) for row in book["Retry"].iter_rows(values_only=True)]
    finally:
        book.close()
    assert rows[0] == [*HEADER, *TRACE]
    assert [row[-2:] for row in rows[1:]] == [
        ["3", "tickets.csv"],
        ["5", "tickets.csv"],
        ["6", "tickets.csv"],
    ]


def test_validate_of_a_retry_file_shows_the_first_files_rows(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A retry file checked before it is sent: its report names the first file's rows."""
    rows = [[*row, "", ""] for row in activity_rows(2)]
    rows[0][-2:] = ["17", "export.xlsx"]
    rows[1][-2:] = ["40", "export.xlsx"]
    source = write_csv(tmp_path / "retry.csv", [[*HEADER, *TRACE], *rows])
    report = tmp_path / "reports" / "check.csv"
    result = cli("validate", source, "--report", report)
    assert result.code == 0, result.output
    with report.open(encoding="utf-8-sig", newline="") as handle:
        header, *lines = list(csv.reader(handle))
    assert header[:2] == ["source_row", "status"] and header[-2:] == TRACE
    assert [(line[0], line[-2], line[-1]) for line in lines] == [
        ("2", "17", "export.xlsx"),
        ("3", "40", "export.xlsx"),
    ]


def test_an_export_with_its_own_original_row_column_keeps_it_and_retries(
    cli: Callable[..., CliResult], sandbox: RunningSandbox, tmp_path: Path, api_env: None
) -> None:
    rows = [[*row, str(70 + i)] for i, row in enumerate(activity_rows(3))]
    rows[1][1] = ""  # no account: to the retry file
    source = write_csv(tmp_path / "own.csv", [[*HEADER, "original_row"], *rows])
    first = tmp_path / "own-report.csv"
    argv = [*api_args(sandbox), "--rate", "0", "--retry-format", "csv"]
    assert cli("run", source, "--report", first, *argv).code == 1
    retry = tmp_path / "own-report.retry.csv"
    with retry.open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0][-3:] == ["original_row", "cg-import original_row", "cg-import original_file"]
    lines[1][1] = "Fixed Account"
    with retry.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(lines)
    again = cli("run", retry, "--report", tmp_path / "again.csv", *argv)
    assert again.code == 0, again.err
    (line,) = read_report(tmp_path / "again.csv")
    assert line["cg-import original_row"] == "3" and line["cg-import original_file"] == "own.csv"
    sent = sandbox.sandbox.activities[line["reference"]]["additional_information_object"]
    assert sent["original_row"] == "71"  # the export's own column, under its own name
    assert not any(key.startswith("cg-import") for key in sent)  # the trace is never sent
