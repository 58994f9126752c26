"""Every message names its limit, and every figure counts this run.

The most frequent errors are grouped with their values shown as ``…``: a rule's limit is
no value, so "type: must be at most 100 characters" stays that, not "at most …". And the
rows/s of a ``--resume`` counts the rows that run sent, not those an earlier run sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from importer.problems import error_kind
from importer.sandbox import RunningSandbox

from ..helpers import HEADER, CliResult, activity_rows, api_args, read_report, write_csv


def _summary(report: Path) -> dict:
    return json.loads(report.with_name(report.name + ".summary.json").read_text())


def test_grouped_length_errors_name_each_fields_limit(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    rows = activity_rows(4)
    rows[0][0] = "R" * 129  # reference: at most 128
    rows[1][1] = "A" * 256  # account: at most 255
    rows[2][3] = "T" * 101  # type: at most 100
    rows[3][4] = "S" * 150  # source: at most 100
    source = write_csv(tmp_path / "long.csv", [HEADER, *rows])
    report = tmp_path / "out" / "long.csv"

    result = cli("validate", source, "--report", report)

    assert result.code == 1, result.output
    grouped = {kind["field"]: kind["message"] for kind in _summary(report)["errors"]}
    assert grouped == {
        "reference": "must be at most 128 characters",
        "account": "must be at most 255 characters",
        "type": "must be at most 100 characters",
        "source": "must be at most 100 characters",
    }
    for field, limit in (("reference", 128), ("account", 255), ("type", 100), ("source", 100)):
        assert f"{field}: must be at most {limit} characters" in result.out  # the summary table
    assert "at most …" not in result.out


def test_a_cell_too_long_for_a_workbook_names_excels_limit(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    rows = activity_rows(2)
    rows[0][6] = "x" * 40_000  # Subject: more than an .xlsx cell holds
    rows[1][6] = "y" * 33_000
    source = write_csv(tmp_path / "huge.csv", [HEADER, *rows])
    report = tmp_path / "out" / "huge.xlsx"

    result = cli("validate", source, "--report", report)

    assert result.code == 1, result.output
    (kind,) = _summary(report)["errors"]
    assert kind["count"] == 2
    assert "32,767" in kind["message"], kind  # the limit stays; the lengths are values
    assert "40,000" not in kind["message"] and "33,000" not in kind["message"]
    assert "32,767" in read_report_xlsx_errors(report)[0]


def read_report_xlsx_errors(report: Path) -> list[str]:
    import openpyxl

    book = openpyxl.load_workbook(report, read_only=True)
    try:
        rows = list(book["Rows"].iter_rows(min_row=2, values_only=True))
    finally:
        book.close()
    return [str(row[6]) for row in rows]


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        # limits are kept: they are the rule, the same for every row
        ("must be at most 100 characters", "must be at most 100 characters"),
        (
            "The type may not be greater than 100 characters.",  # the API's own wording
            "The type may not be greater than 100 characters.",
        ),
        (
            "is 40,000 characters long; an Excel cell holds at most 32,767",
            "is … characters long; an Excel cell holds at most 32,767",
        ),
        (
            "HTTP 429: the API asked to wait 86,400 s (Retry-After: 86400), more than "
            "--max-wait 300 s",
            "HTTP 429: the API asked to wait … s (Retry-After: …), more than --max-wait 300 s",
        ),
        # values are not
        ("duplicate of row 12", "duplicate of row …"),
        ("gave up after 5 attempts: HTTP 503", "gave up after … attempts: HTTP 503"),
        ("'06/10/2019' could be day-first or month-first", "'…' could be day-first or month-first"),
    ],
)
def test_error_kind_keeps_limits_and_hides_values(message: str, kind: str) -> None:
    assert error_kind(message) == kind


# --- every figure counts this run ------------------------------------------------------------

FAST = ["--quiet", "--rate", "0", "--concurrency", "32", "--retry-wait", "0.01"]


def test_resume_of_a_finished_run_sent_nothing_so_its_speed_is_zero(
    sandbox: RunningSandbox, api_env: None, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "done.csv", [HEADER, *activity_rows(60)])
    report = tmp_path / "out" / "done.csv"
    first = cli("run", source, "--report", report, *api_args(sandbox), *FAST)
    assert first.code == 0, first.output
    assert _summary(report)["rows_per_second"] > 0

    again = cli("run", source, "--report", report, *api_args(sandbox), *FAST, "--resume")

    assert again.code == 0, again.output
    assert sandbox.sandbox.stats.puts == 60  # nothing was sent again
    summary = _summary(report)
    assert summary["rows"] == 60  # the report covers every row of both runs
    assert summary["rows_per_second"] == 0  # but this run sent none of them
    shown = cli("run", source, "--report", report, *api_args(sandbox), "--rate", "0", "--resume")
    assert shown.code == 0 and "Report:" in shown.out, shown.output
    assert "rows/s" not in shown.out  # no "speed 0.0 rows/s" for a run that sent nothing


def test_resume_speed_counts_only_the_rows_it_sent(
    make_sandbox: Callable[..., RunningSandbox],
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    box = make_sandbox(fail_before=0.1, seed=7)  # a few rows fail in the first run
    source = write_csv(tmp_path / "some.csv", [HEADER, *activity_rows(100)])
    report = tmp_path / "out" / "some.csv"
    first = cli("run", source, "--report", report, *api_args(box), *FAST, "--max-attempts", "1")
    assert first.code == 1, first.output
    failed = sum(line["status"] == "failed" for line in read_report(report))
    assert 1 <= failed <= 30, failed

    # the rest, each answered after half a second: this run cannot send more than
    # failed / 0.5 rows a second, whatever the machine
    box.sandbox.config.fail_before = 0.0
    box.sandbox.config.latency = 0.5
    again = cli("run", source, "--report", report, *api_args(box), *FAST, "--resume")

    assert again.code == 0, again.output
    summary = _summary(report)
    assert summary["counts"] == {"imported": 100}
    assert 0 < summary["rows_per_second"] <= failed / 0.5, (summary, failed)
