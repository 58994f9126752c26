"""Validating rows: every problem of a row reported, exact duplicates skipped, nothing sent."""

from __future__ import annotations

import pytest

from ..helpers import (
    HEADER,
    SAMPLES,
    activity_rows,
    read_report,
    validate_in_process,
    write_csv,
)


def test_every_problem_of_a_row_is_reported(tmp_path):
    rows = [HEADER, ["x" * 129, "", "c@d.example", "t" * 101, "", "06/10/2019", "s"]]
    source = write_csv(tmp_path / "in.csv", rows)
    (line,) = validate_in_process(source, tmp_path)
    assert line["status"] == "invalid"
    assert line["errors"].split(" | ") == [
        "happened_at: '06/10/2019' could be day-first or month-first; set date_format in a "
        'mapping file (date_format = "%d/%m/%Y" or "%m/%d/%Y") or use YYYY-MM-DD',
        "reference: must be at most 128 characters",
        "account: is required",
        "type: must be at most 100 characters",
        "source: is required",
    ]


def test_exact_duplicates_are_skipped_across_chunks(tmp_path):
    rows = [HEADER, *activity_rows(10)]
    for row in rows[1:]:
        row[0] = ""
    rows.append(list(rows[3]))  # same content as row 4, no reference
    source = write_csv(tmp_path / "in.csv", rows)
    lines = validate_in_process(source, tmp_path, chunk_rows=3)
    last = lines[-1]
    assert last["status"] == "skipped" and last["errors"] == "reference: duplicate of row 4"
    assert last["reference"] == lines[2]["reference"]


@pytest.mark.usefixtures("api_env")
def test_validate_sends_nothing_and_marks_rows_valid(cli, sandbox, tmp_path):
    result = cli("validate", SAMPLES / "activities.csv", "--report", tmp_path / "v.csv")
    assert result.code == 1
    statuses = [r["status"] for r in read_report(tmp_path / "v.csv")]
    assert statuses.count("valid") == 21 and statuses.count("invalid") == 4
    assert sandbox.sandbox.stats.puts == 0
    good = write_csv(tmp_path / "good.csv", [HEADER, *activity_rows(3)])
    assert cli("validate", good, "--report", tmp_path / "g.csv").code == 0
