"""--resume finishes a stopped run sending nothing twice, and refuses to resume anything else."""

from __future__ import annotations

import resource
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from importer.sandbox import RunningSandbox

from ..helpers import (
    FAST,
    HEADER,
    QUICK_RETRIES,
    CliResult,
    activity_rows,
    api_args,
    assert_all_imported,
    assert_clean,
    assert_every_row,
    assert_one_creation_each,
    one_line,
    read_report_in_columns,
    referenced_rows,
    run_subprocess,
    source_file,
    start_run,
    statuses,
    wait_until,
    write_csv,
)


def test_sigkill_then_resume_sends_only_what_is_missing(
    make_sandbox: Callable[..., RunningSandbox],
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    box = make_sandbox(latency=0.005)
    rows = referenced_rows(1500, referenced_every=2)
    source = write_csv(tmp_path / "killed.csv", [HEADER, *rows])
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
    report = read_report_in_columns(report_path)
    assert_all_imported(report, 1500)
    assert_one_creation_each(box)
    assert len(box.sandbox.activities) == 1500
    assert stats.puts <= 1.15 * 1500, (
        f"{stats.puts} PUTs for 1500 rows: the resume resent "
        f"{stats.puts - 1500} rows that already had an outcome before the kill"
    )


def test_sigint_keeps_outcomes_and_resume_finishes(
    make_sandbox: Callable[..., RunningSandbox],
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    box = make_sandbox(latency=0.02)
    rows = referenced_rows(600, referenced_every=2)
    source = write_csv(tmp_path / "interrupted.csv", [HEADER, *rows])
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
    report = read_report_in_columns(report_path)
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
    assert_all_imported(read_report_in_columns(report_path), 600)
    assert_one_creation_each(box)
    assert len(box.sandbox.activities) == 600


#: largest file the limited run may write, picked by trying: enough to start sending (the
#: journal holds ~100 KB before the first PUT), too little for the journal's write-ahead log
#: and the report (~280 KB) of 2,000 rows
FILE_SIZE_LIMIT = 160 * 1024


def limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG


@pytest.mark.usefixtures("api_env")
@pytest.mark.timeout(180)
def test_disk_full_stops_cleanly_and_resume_finishes(cli, sandbox, tmp_path):
    rows = 2000
    source = source_file(tmp_path, rows)
    report = tmp_path / "out" / "r.csv"
    argv = ["run", str(source), "--report", str(report), *api_args(sandbox), *FAST]

    limited = run_subprocess(*argv, timeout=120, preexec=limit_file_size)
    assert sandbox.sandbox.stats.puts > 0, "the limit stopped the run before it sent anything"
    assert limited.code in (1, 2), limited.output
    assert_clean(limited)
    assert "--resume" in limited.err, limited.err

    result = cli(*argv, "--resume")
    assert result.code == 0, result.output
    lines = assert_every_row(report, rows)
    assert {line["status"] for line in lines} == {"imported"}
    assert sandbox.sandbox.stats.duplicates == 0
    assert len(sandbox.sandbox.activities) == rows


@pytest.mark.usefixtures("api_env")
def test_resume_without_report_finds_the_latest_run(cli, sandbox, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(5)])
    assert cli("run", source, *api_args(sandbox)).code == 0
    (report,) = [p for p in (tmp_path / "reports").glob("in-*.csv") if ".retry" not in p.name]
    again = cli("run", source, "--resume", *api_args(sandbox))
    assert again.code == 0 and str(report.name) in again.out
    assert sandbox.sandbox.stats.puts == 5  # everything was already imported


def test_resume_refuses_a_changed_file(
    sandbox: RunningSandbox,
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    rows = referenced_rows(5, referenced_every=2, tag="-chg")
    source = write_csv(tmp_path / "changing.csv", [HEADER, *rows])
    report_path = tmp_path / "changing-report.csv"
    result = cli("run", source, "--report", report_path, *api_args(sandbox), *QUICK_RETRIES)
    assert result.code == 0, result.output
    report_before = report_path.read_bytes()
    puts = sandbox.sandbox.stats.puts

    rows[2][1] = "Another Account"
    write_csv(source, [HEADER, *rows])
    result = cli(
        "run", source, "--report", report_path, *api_args(sandbox), *QUICK_RETRIES, "--resume"
    )

    assert result.code == 2, result.output
    line = one_line(result.err)
    assert "changed" in line, line
    assert "Traceback" not in result.output
    assert sandbox.sandbox.stats.puts == puts  # nothing was sent
    assert report_path.read_bytes() == report_before  # the earlier report is untouched


def fail_first_run(cli, box: RunningSandbox, source: Path, report: Path, *extra: str) -> None:
    """A run whose every PUT fails: every row ends ``failed``, to be resumed."""
    result = cli(
        "run", source, "--report", report, *api_args(box), "--max-attempts", "1", *FAST, *extra
    )
    assert result.code == 1, result.output
    assert set(statuses(report)) == {"failed"}


@pytest.mark.usefixtures("api_env")
def test_resume_refuses_another_timezone(cli, make_sandbox, tmp_path):
    box = make_sandbox(fail_before=1.0)
    source = source_file(tmp_path, 4)
    report = tmp_path / "r.csv"
    fail_first_run(cli, box, source, report)
    puts = box.sandbox.stats.puts
    report_before = report.read_bytes()

    refused = cli(
        "run", source, "--report", report, *api_args(box), "--resume",
        "--timezone", "Europe/Berlin", *FAST,
    )  # fmt: skip
    assert refused.code == 2, refused.output
    assert "timezone" in refused.err.lower(), refused.err
    assert "UTC" in refused.err and "Europe/Berlin" in refused.err, refused.err
    assert_clean(refused)
    assert box.sandbox.stats.puts == puts, "the refused resume sent rows"
    assert report.read_bytes() == report_before

    box.sandbox.config.fail_before = 0.0
    again = cli("run", source, "--report", report, *api_args(box), "--resume", *FAST)
    assert again.code == 0, again.output
    assert statuses(report) == {"imported": 4}
    # still read as UTC, as in the first run
    assert box.sandbox.activities["R-000000"]["happened_at"] == "2024-03-01 00:00:00"


@pytest.mark.usefixtures("api_env")
def test_resume_refuses_an_edited_mapping(cli, make_sandbox, tmp_path):
    box = make_sandbox(fail_before=1.0)
    source = source_file(tmp_path, 4)
    report = tmp_path / "r.csv"
    mapping = tmp_path / "m.toml"
    original = '[additional_information]\nsubject = "Subject"\n'
    mapping.write_text(original, encoding="utf-8")
    fail_first_run(cli, box, source, report, "--mapping", str(mapping))
    puts = box.sandbox.stats.puts

    mapping.write_text('[additional_information]\ntopic = "Subject"\n', encoding="utf-8")
    refused = cli(
        "run", source, "--report", report, *api_args(box), "--resume", "--mapping", mapping, *FAST
    )
    assert refused.code == 2, refused.output
    assert "mapping" in refused.err.lower(), refused.err
    assert_clean(refused)
    assert box.sandbox.stats.puts == puts, "the refused resume sent rows"

    mapping.write_text(original, encoding="utf-8")
    box.sandbox.config.fail_before = 0.0
    again = cli(
        "run", source, "--report", report, *api_args(box), "--resume", "--mapping", mapping, *FAST
    )
    assert again.code == 0, again.output
    assert statuses(report) == {"imported": 4}
    info = box.sandbox.activities["R-000001"]["additional_information_object"]
    assert info == {"subject": "Subject 1"}


def two_sheet_workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    north = book.active
    north.title = "North"
    south = book.create_sheet("South")
    for sheet, prefix in ((north, "N"), (south, "S")):
        sheet.append(HEADER)
        for row in activity_rows(3, prefix=prefix):
            sheet.append(row)
    book.save(path)
    return path


@pytest.mark.usefixtures("api_env")
def test_resume_refuses_another_sheet(cli, make_sandbox, tmp_path):
    box = make_sandbox(fail_before=1.0)
    source = two_sheet_workbook(tmp_path / "book.xlsx")
    report = tmp_path / "r.csv"
    fail_first_run(cli, box, source, report, "--sheet", "North")
    puts = box.sandbox.stats.puts

    refused = cli(
        "run", source, "--report", report, *api_args(box), "--resume", "--sheet", "South", *FAST
    )
    assert refused.code == 2, refused.output
    assert "sheet" in refused.err.lower(), refused.err
    assert_clean(refused)
    assert box.sandbox.stats.puts == puts, "the refused resume sent rows"

    box.sandbox.config.fail_before = 0.0
    again = cli(
        "run", source, "--report", report, *api_args(box), "--resume", "--sheet", "North", *FAST
    )
    assert again.code == 0, again.output
    assert statuses(report) == {"imported": 3}
    assert set(box.sandbox.activities) == {"N-000000", "N-000001", "N-000002"}
