"""Delivery under faults: every row once, a reference's last row stays, duplicates skipped."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from importer.sandbox import RunningSandbox

from ..helpers import (
    FAST,
    HEADER,
    QUICK_RETRIES,
    CliResult,
    activity_rows,
    api_args,
    assert_all_imported,
    assert_one_creation_each,
    read_report,
    read_report_in_columns,
    read_retry,
    referenced_rows,
    write_csv,
)
from ..servers import api_app, imported, serve


def test_faulty_api_every_row_imported_once(
    make_sandbox: Callable[..., RunningSandbox],
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    box = make_sandbox(
        fail_before=0.05,
        fail_after=0.05,
        drop_after=0.05,
        token_lifetime=2,
        rate_limit=300,
        seed=20240501,
    )
    rows = referenced_rows(1200, referenced_every=2)  # > 4 s at the API's 300/s: tokens renew
    source = write_csv(tmp_path / "faulty.csv", [HEADER, *rows])
    report_path = tmp_path / "faulty-report.csv"

    started = time.monotonic()
    result = cli(
        "run", source, "--report", report_path, *api_args(box),
        "--rate", "0", "--concurrency", "16", "--max-attempts", "10", *QUICK_RETRIES,
    )  # fmt: skip
    seconds = time.monotonic() - started
    stats = box.sandbox.stats
    print(
        f"\n[faults] {seconds:.1f}s  PUTs sent {stats.puts}, rows resent {stats.puts - 1200}, "
        f"duplicates {stats.duplicates}; throttled {stats.throttled}, "
        f"failed_before {stats.failed_before}, failed_after {stats.failed_after}, "
        f"dropped_after {stats.dropped_after}, unauthorised {stats.unauthorised}, "
        f"token requests {stats.token_requests}"
    )

    assert result.code == 0, result.output
    report = read_report_in_columns(report_path)
    assert_all_imported(report, 1200)
    derived = [line["reference"] for line in report if not line["Reference"]]
    assert len(derived) == 600 and all(ref.startswith("auto-") for ref in derived)
    given = [(line["reference"], line["Reference"]) for line in report if line["Reference"]]
    assert all(sent == original for sent, original in given)
    assert_one_creation_each(box)
    assert len(box.sandbox.activities) == 1200
    assert set(box.sandbox.activities) == {line["reference"] for line in report}
    # the faults really happened, so the above proves something
    assert stats.throttled > 0
    assert stats.dropped_after > 0
    assert stats.failed_after > 0
    assert stats.token_requests > 1


@pytest.mark.usefixtures("api_env")
def test_throttling_and_server_errors_are_retried(cli, make_sandbox, tmp_path):
    box = make_sandbox(rate_limit=20, fail_before=0.2, fail_after=0.1, seed=7)
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(60)])
    result = cli(
        "run",
        source,
        "--report",
        tmp_path / "r.csv",
        *api_args(box),
        "--rate",
        "0",
        "--concurrency",
        "8",
        "--max-attempts",
        "10",
        "--retry-wait",
        "0.01",
    )
    assert result.code == 0, result.err
    stats = box.sandbox.stats
    assert stats.throttled > 0 and stats.failed_before > 0 and stats.failed_after > 0
    assert stats.duplicates == 0 and len(box.sandbox.activities) == 60
    lines = read_report(tmp_path / "r.csv")
    assert all(r["status"] == "imported" for r in lines)
    assert any(int(r["attempts"]) > 1 for r in lines)


@pytest.mark.usefixtures("api_env")
def test_gives_up_after_max_attempts_as_failed(cli, make_sandbox, tmp_path):
    box = make_sandbox(fail_before=1.0)
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(2)])
    result = cli(
        "run",
        source,
        "--report",
        tmp_path / "r.csv",
        *api_args(box),
        "--max-attempts",
        "3",
        "--retry-wait",
        "0.01",
    )
    assert result.code == 1
    lines = read_report(tmp_path / "r.csv")
    assert {r["status"] for r in lines} == {"failed"}
    assert lines[0]["attempts"] == "3" and lines[0]["http_status"] == "503"
    assert "gave up after 3 attempts" in lines[0]["errors"]
    assert len(read_retry(tmp_path / "r.csv")) == 3


@pytest.mark.usefixtures("api_env")
def test_server_side_422_is_rejected_with_the_servers_message(cli, sandbox, tmp_path):
    rows = [HEADER, *activity_rows(2)]
    rows[2][2] = "ghost@unknown.example"
    source = write_csv(tmp_path / "in.csv", rows)
    result = cli("run", source, "--report", tmp_path / "r.csv", *api_args(sandbox))
    assert result.code == 1
    lines = read_report(tmp_path / "r.csv")
    assert lines[1]["status"] == "rejected"
    assert lines[1]["http_status"] == "422"
    assert lines[1]["errors"] == "contact: The selected contact is invalid."
    assert lines[1]["attempts"] == "1"  # never retried


def test_shared_reference_last_row_wins_every_time(
    make_sandbox: Callable[..., RunningSandbox],
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    # failures before and after the write make the first ORD-1 row linger in retries while
    # the rows after it go through: only a sender that keeps ORD-1's rows in file order passes
    box = make_sandbox(latency=0.002, fail_before=0.3, fail_after=0.1, seed=7)
    header = [*HEADER, "Status"]
    others = [[*row, "n/a"] for row in referenced_rows(38, referenced_every=3, tag="-ord")]
    first = ["ORD-1", "Order Account", "buyer@order.example", "Support Ticket", "Zendesk",
             "2024-05-01 09:00:00", "Order problem", "open"]  # fmt: skip
    last = ["ORD-1", "Order Account", "buyer@order.example", "Support Ticket", "Zendesk",
            "2024-05-02 17:30:00", "Order problem", "closed"]  # fmt: skip
    source = write_csv(tmp_path / "ordering.csv", [header, first, *others[:36], last, *others[36:]])

    for attempt in range(20):
        report_path = tmp_path / f"ordering-{attempt}.csv"
        result = cli(
            "run", source, "--report", report_path, *api_args(box),
            "--rate", "0", "--concurrency", "16", "--max-attempts", "20", *QUICK_RETRIES,
        )  # fmt: skip
        assert result.code == 0, result.output
        stored = box.sandbox.activities["ORD-1"]
        assert stored["additional_information_object"]["Status"] == "closed", (
            f"run {attempt + 1}: the earlier row's state stayed: {stored}"
        )
        assert stored["happened_at"] == "2024-05-02 17:30:00"
        report = read_report_in_columns(report_path)
        assert_all_imported(report, 40)

    assert box.sandbox.creations["ORD-1"] == 1
    assert_one_creation_each(box)
    assert len(box.sandbox.activities) == 39


def flaky_for(subject: str) -> tuple[web.Application, dict[str, Any]]:
    """An API that answers 503 to rows whose Subject is ``subject`` while ``state['fail']``."""
    state: dict[str, Any] = {"fail": True, "stored": {}, "puts": 0}

    async def put(request: web.Request) -> web.Response:
        body = await request.json()
        state["puts"] += 1
        info = body.get("additional_information_object") or {}
        if state["fail"] and info.get("Subject") == subject:
            return web.json_response({"message": "Service Unavailable"}, status=503)
        state["stored"][body["reference"]] = info.get("Subject")
        return imported(body, 7000 + state["puts"])

    return api_app(put), state


@pytest.mark.usefixtures("api_env")
def test_failed_row_is_superseded_by_a_later_import_of_its_reference(cli, tmp_path):
    rows = [HEADER, *activity_rows(3)]
    rows[1][0] = rows[2][0] = "T-1"  # one ticket: opened, then closed
    rows[1][6], rows[2][6] = "opened", "closed"
    source = write_csv(tmp_path / "in.csv", rows)
    report = tmp_path / "r.csv"
    app, state = flaky_for("opened")
    with serve(app) as api:
        first = cli("run", source, "--report", report, *api.args(), "--max-attempts", "2", *FAST)
        assert first.code == 1, first.err
        lines = read_report(report)
        assert [line["status"] for line in lines] == ["skipped", "imported", "imported"]
        assert "superseded by row 3" in lines[0]["errors"]
        # the retry file holds nothing that would put back the old state
        assert not (tmp_path / "r.retry.csv").exists()
        assert not (tmp_path / "r.retry.xlsx").exists()
        assert state["stored"]["T-1"] == "closed"

        state["fail"] = False
        puts = state["puts"]
        again = cli("run", source, "--report", report, *api.args(), "--resume", *FAST)
        assert again.code == 1, again.err
        assert state["puts"] == puts  # --resume sends nothing: "opened" stays unsent
        assert state["stored"]["T-1"] == "closed"
        assert read_report(report)[0]["status"] == "skipped"


@pytest.mark.usefixtures("api_env")
def test_a_later_failed_row_is_not_superseded_by_an_earlier_import(cli, tmp_path):
    rows = [HEADER, *activity_rows(2)]
    rows[1][0] = rows[2][0] = "T-1"
    rows[1][6], rows[2][6] = "opened", "closed"
    source = write_csv(tmp_path / "in.csv", rows)
    app, state = flaky_for("closed")
    with serve(app) as api:
        report = tmp_path / "r.csv"
        assert cli("run", source, "--report", report, *api.args(), *FAST).code == 1
        assert [line["status"] for line in read_report(report)] == ["imported", "failed"]
        assert [r[6] for r in read_retry(report)[1:]] == ["closed"]
        state["fail"] = False
        assert cli("run", source, "--report", report, *api.args(), "--resume", *FAST).code == 0
        assert state["stored"]["T-1"] == "closed"


def test_exact_duplicates_skipped_and_rerun_creates_nothing(
    sandbox: RunningSandbox,
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    plain = ["", "Dup Account", "dup@dup.example", "Call", "HubSpot", "2024-02-02 10:00:00", "Same"]
    given = ["KEEP-1", "Ref Account", "ref@dup.example", "Call", "HubSpot",
             "2024-02-03 10:00:00", "Same again"]  # fmt: skip
    other = referenced_rows(3, referenced_every=0, tag="-dup")
    # rows 2..9: plain at 3 and 6, given at 4 and 8
    source = write_csv(
        tmp_path / "dups.csv",
        [HEADER, other[0], plain, given, other[1], plain, other[2], given, plain],
    )

    first_report = tmp_path / "dups-1.csv"
    result = cli("run", source, "--report", first_report, *api_args(sandbox), *QUICK_RETRIES)
    assert result.code == 1, result.output  # skipped rows are "not imported"
    report = {int(line["source_row"]): line for line in read_report_in_columns(first_report)}
    assert list(report) == list(range(2, 10))
    for row in (6, 9):
        assert report[row]["status"] == "skipped"
        assert "duplicate of row 3" in report[row]["errors"]
        assert report[row]["reference"] == report[3]["reference"]
    assert report[3]["status"] == "imported"
    assert report[3]["reference"].startswith("auto-")
    for row in (4, 8):  # a given reference is never a duplicate: the later row updates
        assert report[row]["status"] == "imported"
        assert report[row]["reference"] == "KEEP-1"
        assert "duplicate" not in report[row]["errors"]
    assert all(report[row]["status"] == "imported" for row in (2, 5, 7))
    stats = sandbox.sandbox.stats
    created = stats.created
    assert created == 5  # three others, the plain row, KEEP-1
    assert stats.puts == 6  # the two skipped rows were never sent

    second_report = tmp_path / "dups-2.csv"
    result = cli("run", source, "--report", second_report, *api_args(sandbox), *QUICK_RETRIES)
    assert result.code == 1, result.output
    again = {int(line["source_row"]): line for line in read_report_in_columns(second_report)}
    assert {row: line["reference"] for row, line in again.items()} == {
        row: line["reference"] for row, line in report.items()
    }
    assert {row: line["activity_id"] for row, line in again.items()} == {
        row: line["activity_id"] for row, line in report.items()
    }
    assert stats.created == created, "a second run of the same file created new activities"
    assert stats.updated == 6 + 1  # KEEP-1's second row in run 1, then all six sent rows
    assert_one_creation_each(sandbox)
