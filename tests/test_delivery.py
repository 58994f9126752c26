"""Delivery semantics end to end: the real CLI against the real sandbox on 127.0.0.1.

What SPEC.md "Delivery semantics" and "Exit codes" promise, checked under faults, crashes
(SIGKILL), interruptions (SIGINT), shared references and repeated runs: every row ends with
exactly one outcome in the report, nothing is ever created twice, the last row of a
reference is the state that stays, and a resume sends only what is missing.
"""

from __future__ import annotations

import csv
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from importer.sandbox import RunningSandbox

from .helpers import CliResult, api_args, start_run, wait_until

HEADER = ["Reference", "Account", "Contact", "Type", "Source", "Happened At", "Subject"]
REPORT_COLUMNS = [
    "source_row",
    "status",
    "reference",
    "activity_id",
    "http_status",
    "attempts",
    "errors",
]
FAST = ["--retry-wait", "0.01", "--quiet"]


# --- helpers ---------------------------------------------------------------------------------


def activity_rows(count: int, *, referenced_every: int = 2, tag: str = "") -> list[list[str]]:
    """``count`` distinct, valid rows; every ``referenced_every``-th has a Reference."""
    rows = []
    for i in range(count):
        reference = f"REF{tag}-{i:06d}" if referenced_every and i % referenced_every == 0 else ""
        rows.append(
            [
                reference,
                f"Account {i % 97}",
                f"person{i}@customer{i % 13}.example",
                ("Support Ticket", "Call", "Meeting", "Invoice")[i % 4],
                ("Zendesk", "Salesforce", "HubSpot")[i % 3],
                f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} "
                f"{i % 24:02d}:{i % 60:02d}:{(i // 60) % 60:02d}",
                f"Subject {tag} {i}",
            ]
        )
    return rows


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames is not None
        assert reader.fieldnames[: len(REPORT_COLUMNS)] == REPORT_COLUMNS
        return list(reader)


def assert_one_creation_each(box: RunningSandbox) -> None:
    stats = box.sandbox.stats
    twice = {ref: n for ref, n in box.sandbox.creations.items() if n != 1}
    assert stats.duplicates == 0, f"created more than once: {twice}"
    assert not twice, f"created more than once: {twice}"


def assert_all_imported(report: list[dict[str, str]], rows: int) -> None:
    assert [int(line["source_row"]) for line in report] == list(range(2, rows + 2))
    statuses = Counter(line["status"] for line in report)
    assert statuses == {"imported": rows}, statuses
    assert all(line["reference"] and line["activity_id"] for line in report)


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


# --- 1. faults everywhere: every row in, nothing twice ----------------------------------------


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
    rows = activity_rows(1200, referenced_every=2)  # > 4 s at the API's 300/s: tokens renew
    source = write_csv(tmp_path / "faulty.csv", rows)
    report_path = tmp_path / "faulty-report.csv"

    started = time.monotonic()
    result = cli(
        "run", source, "--report", report_path, *api_args(box),
        "--rate", "0", "--concurrency", "16", "--max-attempts", "10", *FAST,
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
    report = read_report(report_path)
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


# --- 2. kill -9 mid-run, then --resume ---------------------------------------------------------


def test_sigkill_then_resume_sends_only_what_is_missing(
    make_sandbox: Callable[..., RunningSandbox],
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    box = make_sandbox(latency=0.005)
    rows = activity_rows(1500, referenced_every=2)
    source = write_csv(tmp_path / "killed.csv", rows)
    report_path = tmp_path / "killed-report.csv"
    argv = [
        "run", str(source), "--report", str(report_path), *api_args(box),
        "--rate", "150", "--concurrency", "8",
    ]  # fmt: skip

    proc = start_run(argv, tmp_path)
    try:
        wait_until(lambda: box.sandbox.stats.applied >= 400, proc, timeout=60)
    finally:
        proc.kill()  # SIGKILL: no chance to flush anything
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # the report is written as the run goes, but into <report>.partial: no half report
    assert not report_path.exists()
    applied_before = box.sandbox.stats.applied
    puts_before = box.sandbox.stats.puts

    result = cli(*argv, "--resume", "--rate", "0")  # the rest at full speed
    stats = box.sandbox.stats
    print(
        f"\n[sigkill] applied before kill {applied_before} (PUTs {puts_before}); "
        f"PUTs after resume {stats.puts - puts_before}; PUTs total {stats.puts}, "
        f"rows resent {stats.puts - 1500}, duplicates {stats.duplicates}"
    )

    assert result.code == 0, result.output
    report = read_report(report_path)
    assert_all_imported(report, 1500)
    assert_one_creation_each(box)
    assert len(box.sandbox.activities) == 1500
    assert stats.puts <= 1.15 * 1500, (
        f"{stats.puts} PUTs for 1500 rows: the resume resent "
        f"{stats.puts - 1500} rows that already had an outcome before the kill"
    )


# --- 3. rows sharing a reference: the last one in the file stays -------------------------------


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
    others = [[*row, "n/a"] for row in activity_rows(38, referenced_every=3, tag="-ord")]
    first = ["ORD-1", "Order Account", "buyer@order.example", "Support Ticket", "Zendesk",
             "2024-05-01 09:00:00", "Order problem", "open"]  # fmt: skip
    last = ["ORD-1", "Order Account", "buyer@order.example", "Support Ticket", "Zendesk",
            "2024-05-02 17:30:00", "Order problem", "closed"]  # fmt: skip
    source = write_csv(tmp_path / "ordering.csv", [first, *others[:36], last, *others[36:]], header)

    for attempt in range(20):
        report_path = tmp_path / f"ordering-{attempt}.csv"
        result = cli(
            "run", source, "--report", report_path, *api_args(box),
            "--rate", "0", "--concurrency", "16", "--max-attempts", "20", *FAST,
        )  # fmt: skip
        assert result.code == 0, result.output
        stored = box.sandbox.activities["ORD-1"]
        assert stored["additional_information_object"]["Status"] == "closed", (
            f"run {attempt + 1}: the earlier row's state stayed: {stored}"
        )
        assert stored["happened_at"] == "2024-05-02 17:30:00"
        report = read_report(report_path)
        assert_all_imported(report, 40)

    assert box.sandbox.creations["ORD-1"] == 1
    assert_one_creation_each(box)
    assert len(box.sandbox.activities) == 39


# --- 4. Ctrl-C: exit 130, report says what is left, --resume finishes --------------------------


def test_sigint_keeps_outcomes_and_resume_finishes(
    make_sandbox: Callable[..., RunningSandbox],
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    box = make_sandbox(latency=0.02)
    rows = activity_rows(600, referenced_every=2)
    source = write_csv(tmp_path / "interrupted.csv", rows)
    report_path = tmp_path / "interrupted-report.csv"
    argv = ["run", str(source), "--report", str(report_path), *api_args(box)]

    proc = start_run([*argv, "--rate", "50"], tmp_path)
    try:
        wait_until(lambda: box.sandbox.stats.applied >= 30, proc, timeout=60)
        sent_signal = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    stop_seconds = time.monotonic() - sent_signal
    puts_before = box.sandbox.stats.puts

    assert proc.returncode == 130, f"exit {proc.returncode}\n{out}\n{err}"
    assert "--resume" in err, err
    assert "Traceback" not in err + out, err
    report = read_report(report_path)
    assert [int(line["source_row"]) for line in report] == list(range(2, 602))
    statuses = Counter(line["status"] for line in report)
    assert set(statuses) == {"imported", "skipped"}, statuses
    assert 0 < statuses["imported"] < 600
    skipped = [line for line in report if line["status"] == "skipped"]
    assert all("resume" in line["errors"] for line in skipped), skipped[:3]

    result = cli(*argv, "--resume", "--rate", "0", "--quiet")
    stats = box.sandbox.stats
    print(
        f"\n[sigint] stopped {stop_seconds:.1f}s after SIGINT; imported before "
        f"{statuses['imported']}, PUTs before {puts_before}, PUTs on resume "
        f"{stats.puts - puts_before}; PUTs total {stats.puts}, rows resent {stats.puts - 600}, "
        f"duplicates {stats.duplicates}"
    )
    assert result.code == 0, result.output
    assert_all_imported(read_report(report_path), 600)
    assert_one_creation_each(box)
    assert len(box.sandbox.activities) == 600


# --- 5. exact duplicates without a reference are skipped; reruns update ------------------------


def test_exact_duplicates_skipped_and_rerun_creates_nothing(
    sandbox: RunningSandbox,
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    plain = ["", "Dup Account", "dup@dup.example", "Call", "HubSpot", "2024-02-02 10:00:00", "Same"]
    given = ["KEEP-1", "Ref Account", "ref@dup.example", "Call", "HubSpot",
             "2024-02-03 10:00:00", "Same again"]  # fmt: skip
    other = activity_rows(3, referenced_every=0, tag="-dup")
    # rows 2..9: plain at 3 and 6, given at 4 and 8
    source = write_csv(
        tmp_path / "dups.csv", [other[0], plain, given, other[1], plain, other[2], given, plain]
    )

    first_report = tmp_path / "dups-1.csv"
    result = cli("run", source, "--report", first_report, *api_args(sandbox), *FAST)
    assert result.code == 1, result.output  # skipped rows are "not imported"
    report = {int(line["source_row"]): line for line in read_report(first_report)}
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
    result = cli("run", source, "--report", second_report, *api_args(sandbox), *FAST)
    assert result.code == 1, result.output
    again = {int(line["source_row"]): line for line in read_report(second_report)}
    assert {row: line["reference"] for row, line in again.items()} == {
        row: line["reference"] for row, line in report.items()
    }
    assert {row: line["activity_id"] for row, line in again.items()} == {
        row: line["activity_id"] for row, line in report.items()
    }
    assert stats.created == created, "a second run of the same file created new activities"
    assert stats.updated == 6 + 1  # KEEP-1's second row in run 1, then all six sent rows
    assert_one_creation_each(sandbox)


# --- 6. --resume against a changed file is refused --------------------------------------------


def test_resume_refuses_a_changed_file(
    sandbox: RunningSandbox,
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    rows = activity_rows(5, referenced_every=2, tag="-chg")
    source = write_csv(tmp_path / "changing.csv", rows)
    report_path = tmp_path / "changing-report.csv"
    result = cli("run", source, "--report", report_path, *api_args(sandbox), *FAST)
    assert result.code == 0, result.output
    report_before = report_path.read_bytes()
    puts = sandbox.sandbox.stats.puts

    rows[2][1] = "Another Account"
    write_csv(source, rows)
    result = cli("run", source, "--report", report_path, *api_args(sandbox), *FAST, "--resume")

    assert result.code == 2, result.output
    line = one_line(result.err)
    assert "changed" in line, line
    assert "Traceback" not in result.output
    assert sandbox.sandbox.stats.puts == puts  # nothing was sent
    assert report_path.read_bytes() == report_before  # the earlier report is untouched
