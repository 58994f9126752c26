"""Rows that share a reference with other values: the later row's values are kept (one
activity per reference), and the report, the summary and the Summary sheet say so."""

from __future__ import annotations

import json

import openpyxl

from ..helpers import HEADER, activity_rows, api_args, read_report, write_csv


def shared_rows() -> list[list[str]]:
    rows = activity_rows(6)
    rows[3] = list(rows[1])  # row 5: row 3 again, the same values: nothing to say
    rows[4] = [rows[0][0], *rows[4][1:]]  # row 6: row 2's reference, other values
    rows[5][0] = rows[0][0]  # row 7: that reference once more, other values again
    return rows


def test_validate_flags_each_row_that_replaces_an_earlier_rows_values(cli, tmp_path):
    source = write_csv(tmp_path / "in.csv", [HEADER, *shared_rows()])
    report = tmp_path / "r.csv"
    result = cli("validate", source, "--report", report)
    lines = read_report(report)
    assert [line["status"] for line in lines] == ["valid"] * 6
    notes = {line["source_row"]: line["errors"] for line in lines if line["errors"]}
    assert notes == {
        "6": "reference: also row 2, with other values: this row's are kept",
        "7": "reference: also row 6, with other values: this row's are kept",
    }
    summary = json.loads((tmp_path / "r.csv.summary.json").read_text(encoding="utf-8"))
    assert summary["rows_replacing_an_earlier_row"] == 2
    assert "rows replacing an earlier row of their reference" in result.out
    assert result.code == 0  # a note, not a problem


def test_run_keeps_the_later_rows_values_and_the_workbook_counts_them(
    cli, sandbox, api_env, tmp_path
):
    rows = shared_rows()
    source = write_csv(tmp_path / "in.csv", [HEADER, *rows])
    report = tmp_path / "r.xlsx"
    assert cli("run", source, "--report", report, *api_args(sandbox), "--rate", "0").code == 0
    kept = sandbox.sandbox.activities[rows[0][0]]
    assert kept["additional_information_object"]["Subject"] == rows[5][6]
    book = openpyxl.load_workbook(report, read_only=True)
    report_rows = list(book["Rows"].iter_rows(values_only=True))
    errors = [line[6] for line in report_rows[1:]]
    assert errors[4] == "reference: also row 2, with other values: this row's are kept"
    summary = [tuple(r) for r in book["Summary"].iter_rows(values_only=True)]
    assert ("rows replacing an earlier row of their reference", 2) in [r[:2] for r in summary]
