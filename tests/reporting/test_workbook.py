"""Workbooks an analyst reads at a glance, through the real CLI against the sandbox: the
.xlsx report (Rows, Summary, Retry), the retry workbook, the summary beside a CSV report."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest
from aiohttp import web

from importer.config import default_report
from importer.problems import ProblemTally, error_kind

from ..helpers import (
    FAST,
    HEADER,
    SAMPLES,
    activity_rows,
    api_args,
    read_by,
    read_report,
    read_retry,
    read_rows,
    write_csv,
)
from ..servers import api_app, imported, serve

pytestmark = pytest.mark.usefixtures("api_env")

GREEN, AMBER, RED, GREY = "FFC6EFCE", "FFFFEB9C", "FFFFC7CE", "FFE7E6E6"
#: values that must come back exactly, whatever a spreadsheet would make of them
ROUND_TRIP = [
    "=1+1",
    "+49 30 1234",
    "-5",
    "@SUM(A1)",
    '=HYPERLINK("http://example.com","click")',
    "a\r\nb",
    "cr\ronly",
    "_x0041_ stays as typed",
    "first line\n=second line",
    "<b>&amp;</b>",
    "000123",
    "5000",
    "1e5",
    "TRUE",
    "2024-03-05",
    "é€ 😀",
    "inner  spaces",
]


def load(path: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(path)  # not read-only: fills, comments and charts too


def sheet_rows(sheet: Any) -> list[tuple[Any, ...]]:
    return list(sheet.iter_rows(values_only=True))


def no_formulas(*paths: Path) -> None:
    """No cell of any sheet of these workbooks is a formula."""
    for path in paths:
        book = load(path)
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", f"{path.name}!{sheet.title}!{cell.coordinate}"


def status_table(summary: Any) -> dict[str, int]:
    """The Summary's rows per status, read back from its cells."""
    rows = sheet_rows(summary)
    start = rows.index(("Status", "Rows", None, None, None)) + 1
    found = {}
    for row in rows[start:]:
        if row[0] == "total":
            break
        found[row[0]] = row[1]
    return found


def chart_ranges(sheet: Any) -> list[tuple[str, str]]:
    ranges = []
    for chart in sheet._charts:
        for series in chart.series:
            categories = series.cat.strRef or series.cat.numRef
            ranges.append((categories.f, series.val.numRef.f))
    return ranges


# --- the .xlsx report --------------------------------------------------------------------


def test_xlsx_report_of_the_sample_reads_at_a_glance(cli, sandbox, tmp_path, excel_reader):
    read_by(SAMPLES / "activities.xlsx", excel_reader)
    report = tmp_path / "r.xlsx"
    result = cli("run", SAMPLES / "activities.xlsx", "--report", report, *api_args(sandbox))
    assert result.code == 1, result.err
    book = load(report)
    assert book.sheetnames == ["Rows", "Summary", "Retry"]
    rows = book["Rows"]
    assert rows.freeze_panes == "A2"
    assert rows.auto_filter.ref == f"A1:P{rows.max_row}"
    header = [cell.value for cell in rows[1]]
    status_at, errors_at = header.index("status") + 1, header.index("errors") + 1
    lines = sheet_rows(rows)[1:]
    assert len(lines) == 25
    for number in range(2, 27):
        status = rows.cell(number, status_at)
        expected = {"imported": GREEN, "invalid": AMBER, "rejected": AMBER}[status.value]
        assert status.fill.fgColor.rgb == expected
    errors = rows.cell(18, errors_at)  # source row 18 (on sheet row 18): account is required
    assert errors.value == "account: is required" and errors.alignment.wrap_text
    assert rows.column_dimensions["G"].width >= 50  # errors are not cut off
    # the program's own numbers are numbers; IDs and the input's cells stay text as read
    first = rows[2]
    assert [first[i].data_type for i in range(6)] == ["n", "s", "s", "s", "n", "n"]
    assert isinstance(first[0].value, int) and isinstance(first[4].value, int)
    by_header = dict(zip(header, sheet_rows(rows)[2], strict=True))
    assert by_header["Reference"] == "000123" and rows.cell(3, 8).data_type == "s"

    summary = book["Summary"]
    counts = status_table(summary)
    assert counts == dict(Counter(line[status_at - 1] for line in lines))
    assert counts == {"imported": 20, "invalid": 4, "rejected": 1}
    texts = [cell for row in sheet_rows(summary) for cell in row if isinstance(cell, str)]
    assert "activities.xlsx" in texts[0] and f"127.0.0.1:{sandbox.port}" in texts
    # two bar charts over the tables: statuses, then problems per field
    (by_status, by_field) = chart_ranges(summary)
    assert [chart.tagname for chart in summary._charts] == ["barChart", "barChart"]
    rows_of: dict[Any, int] = {}
    for number, row in enumerate(sheet_rows(summary), start=1):
        rows_of.setdefault(row[0], number)
    assert by_status == (
        f"Summary!$A${rows_of['imported']}:$A${rows_of['rejected']}",
        f"Summary!$B${rows_of['imported']}:$B${rows_of['rejected']}",
    )
    assert by_field == (
        f"Summary!$A${rows_of['happened_at']}:$A${rows_of['type']}",
        f"Summary!$B${rows_of['happened_at']}:$B${rows_of['type']}",
    )
    # the most frequent errors, grouped, with their first rows
    table = sheet_rows(summary)
    top = table.index(("Field", "Rows", "Error", "First rows", "Example"))
    grouped = {row[2]: (row[0], row[1], row[3]) for row in table[top + 1 :] if row[0]}
    assert grouped["'…' could be day-first or month-first; set date_format in a mapping file "
                   '(date_format = "%d/%m/%Y" or "%m/%d/%Y") or use YYYY-MM-DD'] == (
        "happened_at", 1, "19")  # fmt: skip

    # the Retry sheet holds the retry file's rows, original columns only
    retry = [["" if v is None else str(v) for v in row] for row in sheet_rows(book["Retry"])]
    assert retry == read_retry(report)
    assert [row[0] for row in retry[1:]] == [f"ACT-1090{i}" for i in range(1, 6)]
    no_formulas(report, tmp_path / "r.retry.xlsx")


def test_failed_and_skipped_rows_are_red_and_grey(cli, make_sandbox, tmp_path):
    rows = [HEADER, *activity_rows(2)]
    rows[1][0] = rows[2][0] = ""  # no references: the second is an exact duplicate
    rows[2][1:] = rows[1][1:]
    source = write_csv(tmp_path / "in.csv", rows)
    report = tmp_path / "r.xlsx"
    failing = make_sandbox(fail_before=1.0)
    result = cli("run", source, "--report", report, *api_args(failing), "--max-attempts", "1",
                 *FAST)  # fmt: skip
    assert result.code == 1, result.err
    sheet = load(report)["Rows"]
    assert [(c.value, c.fill.fgColor.rgb) for c in sheet["B"][1:]] == [
        ("failed", RED),
        ("skipped", GREY),
    ]
    assert sheet["E2"].value == 503 and sheet["F2"].value == 1


def test_summary_counts_equal_the_rows_sheet_over_several_chunks(tmp_path):
    from importer.config import Settings
    from importer.pipeline import validate_file

    rows = [HEADER, *activity_rows(40)]
    for row in rows[3::5]:
        row[5] = "06/10/2024"
    source = write_csv(tmp_path / "in.csv", rows)
    report = tmp_path / "v.xlsx"
    validate_file(Settings(input=source, report=report, chunk_rows=7))  # six chunks
    book = load(report)
    statuses = Counter(row[1] for row in sheet_rows(book["Rows"])[1:])
    assert status_table(book["Summary"]) == dict(statuses) == {"valid": 32, "invalid": 8}
    assert len(sheet_rows(book["Retry"])) == 1 + 8  # validate: the rows to fix


# --- no formula, anywhere ----------------------------------------------------------------


def test_no_formula_cell_anywhere_even_for_cells_that_start_like_one(cli, sandbox, tmp_path):
    header = [*HEADER, "=cmd|' /C calc'!A0"]
    rows = [header, *[[*row, "@SUM(1+1)"] for row in activity_rows(6)]]
    for row, cell in zip(rows[1:], ["=1+1", "+1", "-1", "@A1", "=HYPERLINK(\"x\")", "'=q"],
                         strict=True):  # fmt: skip
        row[6] = cell
    rows[1][5] = "=NOW()"  # invalid: its error quotes the value into the Summary
    rows[2][2] = "ghost@unknown.example"  # rejected
    source = write_csv(tmp_path / "in.csv", rows)
    report = tmp_path / "r.xlsx"
    assert cli("run", source, "--report", report, *api_args(sandbox), *FAST).code == 1
    csv_report = tmp_path / "c.csv"
    assert cli("validate", source, "--report", csv_report, "--quiet").code == 1
    no_formulas(report, tmp_path / "r.retry.xlsx", tmp_path / "c.summary.xlsx")
    book = load(report)
    subjects = [row[13] for row in sheet_rows(book["Rows"])[1:]]
    assert subjects == ["=1+1", "+1", "-1", "@A1", '=HYPERLINK("x")', "=q"]
    assert book["Rows"]["O1"].value == "=cmd|' /C calc'!A0"
    summary_texts = {c for row in sheet_rows(book["Summary"]) for c in row if isinstance(c, str)}
    assert any(text.startswith("'=NOW()'") for text in summary_texts)


def test_activity_ids_and_references_stay_text_in_every_workbook(cli, tmp_path):
    """An ID the API gives as "00042" is shown as 00042, not as the number 42."""
    ids = iter(range(42, 10**6))

    async def put(request: web.Request) -> web.Response:
        body = await request.json()
        if body["account"] == "Reject me":
            return web.json_response({"message": "no", "errors": {"account": ["no"]}}, status=422)
        return imported(body, f"{next(ids):05d}")  # an ID as text, as "00042"

    rows = [HEADER, *activity_rows(3)]
    rows[1][0], rows[2][0], rows[3][0] = "1e5", "5000", "000123"
    rows[3][1] = "Reject me"
    source = write_csv(tmp_path / "in.csv", rows)
    report = tmp_path / "r.xlsx"
    with serve(api_app(put)) as api:
        assert cli("run", source, "--report", report, *api.args(), *FAST).code == 1
    book = load(report)
    header = [cell.value for cell in book["Rows"][1]]
    lines = [dict(zip(header, row, strict=True)) for row in sheet_rows(book["Rows"])[1:]]
    assert [line["activity_id"] for line in lines] == ["00042", "00043", None]
    assert [line["reference"] for line in lines] == ["1e5", "5000", "000123"]
    assert [line["Reference"] for line in lines] == ["1e5", "5000", "000123"]
    for sheet in (book["Retry"], load(tmp_path / "r.retry.xlsx").worksheets[0]):
        assert sheet_rows(sheet)[1][0] == "000123" and sheet["A2"].data_type == "s"


# --- the retry workbook ------------------------------------------------------------------


def test_retry_workbook_marks_each_bad_cell_with_its_error(cli, sandbox, tmp_path):
    report = tmp_path / "r.csv"
    assert cli("run", SAMPLES / "activities.csv", "--report", report, *api_args(sandbox),
               *FAST).code == 1  # fmt: skip
    assert not (tmp_path / "r.retry.csv").exists()
    sheet = load(tmp_path / "r.retry.xlsx").worksheets[0]
    marked = {
        cell.coordinate: (cell.comment.text, cell.fill.fgColor.rgb)
        for row in sheet.iter_rows()
        for cell in row
        if cell.comment
    }
    amber = "FFFFC000"
    assert marked == {
        "B2": ("account: is required", amber),  # source row 18: Account
        "F3": (
            "happened_at: '06/10/2024' could be day-first or month-first; set date_format in "
            'a mapping file (date_format = "%d/%m/%Y" or "%m/%d/%Y") or use YYYY-MM-DD',
            amber,
        ),
        "D4": ("type: must be at most 100 characters", amber),
        "F5": ("happened_at: 'yesterday' is not a date and time; use YYYY-MM-DD HH:MM:SS", amber),
        "C6": ("contact: The selected contact is invalid.", amber),  # the API's answer
    }
    assert sheet["A2"].fill.fgColor.rgb != amber  # only the bad cells
    assert all(cell.data_type == "s" for row in sheet.iter_rows() for cell in row if cell.value)


def test_retry_workbook_fed_back_sends_the_original_values_byte_for_byte(
    cli, make_sandbox, tmp_path, excel_reader
):
    rows = [HEADER, *activity_rows(len(ROUND_TRIP))]
    for row, cell in zip(rows[1:], ROUND_TRIP, strict=True):
        row[6] = cell
        row[4] = cell if cell.startswith(("=", "+", "-", "@")) else row[4]  # a field too
    source = write_csv(tmp_path / "in.csv", rows)
    # every row fails once (the API is down): all of them land in the retry workbook
    down = make_sandbox(fail_before=1.0)
    first = cli("run", source, "--report", tmp_path / "first.csv", *api_args(down),
                "--max-attempts", "1", *FAST)  # fmt: skip
    assert first.code == 1, first.err
    retry = tmp_path / "first.retry.xlsx"
    assert len(read_retry(tmp_path / "first.csv")) == len(ROUND_TRIP) + 1
    read_by(retry, excel_reader)
    # fed back as it is, to an API that works; the original straight into another one
    again, direct = make_sandbox(), make_sandbox()
    assert cli("run", retry, "--report", tmp_path / "second.csv", *api_args(again),
               *FAST).code == 0  # fmt: skip
    assert cli("run", source, "--report", tmp_path / "direct.csv", *api_args(direct),
               *FAST).code == 0  # fmt: skip

    def received(box: Any) -> dict[str, dict[str, Any]]:
        return {ref: {k: v for k, v in a.items() if k != "id"} for ref, a in
                box.sandbox.activities.items()}  # fmt: skip

    assert received(again) == received(direct)
    subjects = [received(again)[row[0]]["additional_information_object"]["Subject"]
                for row in rows[1:]]  # fmt: skip
    assert subjects == [cell.strip() for cell in ROUND_TRIP]


def test_a_cell_no_workbook_can_hold_is_marked_in_the_retry_workbook(cli, sandbox, tmp_path):
    rows = [HEADER, *activity_rows(1)]
    rows[1][6] = "bell\x07inside"
    rows[1][2] = "ghost@unknown.example"
    source = write_csv(tmp_path / "in.csv", rows)
    assert cli("run", source, "--report", tmp_path / "r.csv", *api_args(sandbox), *FAST).code == 1
    sheet = load(tmp_path / "r.retry.xlsx").worksheets[0]
    assert sheet["G2"].value == "bell\u2407inside"
    assert "control character (U+0007)" in sheet["G2"].comment.text
    assert "fix it before resending" in sheet["G2"].comment.text


def test_retry_format_csv_keeps_the_csv_retry_file(cli, sandbox, tmp_path):
    report = tmp_path / "r.csv"
    assert cli("run", SAMPLES / "activities.csv", "--report", report, *api_args(sandbox),
               "--retry-format", "csv", *FAST).code == 1  # fmt: skip
    assert not (tmp_path / "r.retry.xlsx").exists()
    assert [row[0] for row in read_rows(tmp_path / "r.retry.csv")[1:]] == [
        f"ACT-1090{i}" for i in range(1, 6)
    ]
    summary = json.loads((tmp_path / "r.csv.summary.json").read_text(encoding="utf-8"))
    assert summary["retry_file"] == str(tmp_path / "r.retry.csv")


def test_retry_workbook_sheet_bears_the_input_sheet_name(cli, sandbox, tmp_path, excel_reader):
    book = openpyxl.Workbook()
    book.active.title = "Activities"
    for row in [HEADER, *activity_rows(2)]:
        book.active.append(row)
    book.active["C3"] = "ghost@unknown.example"
    source = tmp_path / "in.xlsx"
    book.save(source)
    read_by(source, excel_reader)
    mapping = tmp_path / "m.toml"
    mapping.write_text('sheet = "Activities"\n', encoding="utf-8")
    args = ["--mapping", mapping, *api_args(sandbox), *FAST]
    assert cli("run", source, "--report", tmp_path / "r.xlsx", *args).code == 1
    retry = tmp_path / "r.retry.xlsx"
    assert load(retry).sheetnames == ["Activities"]
    read_by(retry, excel_reader, sheet="Activities")
    # the same mapping reads the retry workbook (the row is rejected again: same contact)
    assert cli("run", retry, "--report", tmp_path / "again.xlsx", *args).code == 1


# --- colliding column names --------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_an_input_status_column_is_shown_as_status_input(cli, sandbox, tmp_path, suffix):
    rows = [[*HEADER, "status", "errors"], *[[*r, "closed", "none"] for r in activity_rows(2)]]
    rows[2][2] = "ghost@unknown.example"
    source = write_csv(tmp_path / "in.csv", rows)
    report = tmp_path / f"r{suffix}"
    assert cli("run", source, "--report", report, *api_args(sandbox), *FAST).code == 1
    if suffix == ".csv":
        header = read_rows(report)[0]
        lines = read_report(report)
    else:
        table = sheet_rows(load(report)["Rows"])
        header = list(table[0])
        lines = [dict(zip(header, row, strict=True)) for row in table[1:]]
    assert header.count("status") == 1 and header.count("errors") == 1
    assert header[-2:] == ["status (input)", "errors (input)"]
    assert [line["status"] for line in lines] == ["imported", "rejected"]
    assert [line["status (input)"] for line in lines] == ["closed", "closed"]
    # the retry file keeps the original header: it still imports as it did
    assert read_retry(report)[0][-4:] == ["status", "errors", "original_row", "original_file"]


# --- the summary beside a CSV report, summary.json and the terminal -----------------------


def test_validate_writes_a_summary_workbook_beside_a_csv_report(cli, tmp_path):
    report = tmp_path / "v.csv"
    result = cli("validate", SAMPLES / "activities.csv", "--report", report)
    assert result.code == 1
    book = load(tmp_path / "v.summary.xlsx")
    assert book.sheetnames == ["Summary"]
    statuses = Counter(line["status"] for line in read_report(report))
    assert status_table(book["Summary"]) == dict(statuses) == {"valid": 21, "invalid": 4}
    assert len(book["Summary"]._charts) == 2
    # the terminal: the top grouped errors under the counts, with their first rows
    assert "Most frequent errors" in result.out
    assert "happened_at: '…' could be day-first" in result.out and "(row 19)" in result.out


def test_errors_that_differ_only_in_the_value_are_grouped(cli, tmp_path):
    rows = [HEADER, *activity_rows(9)]
    for number, row in enumerate(rows[1:8]):
        row[5] = f"0{number + 1}/10/2024"
    rows[8][1] = ""
    source = write_csv(tmp_path / "in.csv", rows)
    report = tmp_path / "v.csv"
    assert cli("validate", source, "--report", report, "--quiet").code == 1
    summary = json.loads((tmp_path / "v.csv.summary.json").read_text(encoding="utf-8"))
    first, second = summary["errors"]
    assert first["field"] == "happened_at" and first["count"] == 7
    assert first["message"].startswith("'…' could be day-first or month-first")
    assert first["first_rows"] == [2, 3, 4, 5, 6]  # the first few only
    assert first["example"].startswith("'01/10/2024' could be day-first")
    assert (second["field"], second["message"], second["count"]) == ("account", "is required", 1)


def test_the_tally_is_bounded_whatever_the_rows():
    tally = ProblemTally()
    count = ProblemTally.MAX_KINDS + 500
    rows = np.arange(2, count + 2)
    errors = np.array([f"row: problem number{i} only here" for i in range(count)], dtype=object)
    tally.add(rows, np.full(count, "invalid", dtype=object), errors)
    assert len(tally.kinds) <= ProblemTally.MAX_KINDS
    other = next(k for k in tally.top(count) if k["message"] == ProblemTally.OTHER)
    assert other["count"] == 501 and len(other["first_rows"]) == ProblemTally.FIRST_ROWS
    assert sum(kind.count for kind in tally.kinds.values()) == count
    # notes of rows with nothing to fix are not problems
    tally = ProblemTally()
    statuses = np.array(["imported", "unchanged", "invalid"], dtype=object)
    notes = np.array(["", "not sent: imported on 2024", "account: is required"], dtype=object)
    tally.add(np.array([2, 3, 4]), statuses, notes)
    assert [(k["field"], k["count"]) for k in tally.top(5)] == [("account", 1)]


def test_error_kinds_hide_quoted_values_and_numbers_but_not_http_statuses():
    assert error_kind("'06/10/2024' could be day-first") == "'…' could be day-first"
    assert error_kind("duplicate of row 5,812") == "duplicate of row …"
    assert error_kind("HTTP 503: api: Service Unavailable") == "HTTP 503: api: Service Unavailable"


# --- defaults and outputs ----------------------------------------------------------------


def test_an_excel_input_gets_an_xlsx_report_by_default():
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert default_report(Path("a.xlsx"), now) == Path("reports/a-20260102T030405Z.xlsx")
    assert default_report(Path("b.XLSM"), now).suffix == ".xlsx"
    assert default_report(Path("c.csv"), now).suffix == ".csv"


def test_the_summary_workbook_never_overwrites_the_input(cli, tmp_path):
    source = write_csv(tmp_path / "r.summary.xlsx", [HEADER, *activity_rows(1)])
    before = source.read_bytes()
    result = cli("validate", source, "--report", tmp_path / "r.csv")
    assert result.code == 2 and "would destroy the input" in result.err
    assert source.read_bytes() == before


def test_xlsx_report_refuses_cells_it_cannot_hold_exactly(cli, tmp_path):
    rows = [HEADER, *activity_rows(3)]
    rows[1][6] = "bell\x07inside"
    rows[2][6] = "x" * 40_000
    source = write_csv(tmp_path / "in.csv", rows)
    result = cli("validate", source, "--report", tmp_path / "r.xlsx")
    assert result.code == 1
    book = openpyxl.load_workbook(tmp_path / "r.xlsx", read_only=True)
    lines = list(book.worksheets[0].iter_rows(values_only=True))
    header = lines[0]
    status, errors = header.index("status"), header.index("errors")
    assert [line[status] for line in lines[1:]] == ["invalid", "invalid", "valid"]
    assert "control character (U+0007)" in lines[1][errors] and "Subject" in lines[1][errors]
    assert "40,000 characters" in lines[2][errors]
    # the same file with a CSV report: every value fits, nothing is changed
    assert cli("validate", source, "--report", tmp_path / "r.csv").code == 0
    assert read_report(tmp_path / "r.csv")[0]["Subject"] == "bell\x07inside"
