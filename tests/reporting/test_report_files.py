"""Where a report and its companions are written: never over the input, through a link, or half."""

from __future__ import annotations

import os
import resource
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ..helpers import (
    FAST,
    HEADER,
    activity_rows,
    api_args,
    assert_clean,
    assert_every_row,
    run_bounded,
    run_file,
    source_file,
    start_run,
    statuses,
    wait_until,
    write_csv,
)
from ..servers import imported

CLASHES = [
    "same path",
    "same file, other spelling",
    "symlink",
    "hard link",
    "retry file",
    "link where the report is written first",
]


def clashing_paths(case: str, tmp_path: Path) -> tuple[Path, Path]:
    """(input, report) where writing the report or its retry file would overwrite the input."""
    name = "r.retry.csv" if case == "retry file" else "x.csv"
    source = source_file(tmp_path, 3, name)
    if case == "same path":
        return source, source
    if case == "same file, other spelling":
        (tmp_path / "sub").mkdir()
        return source, tmp_path / "sub" / ".." / "x.csv"
    if case == "symlink":
        link = tmp_path / "link.csv"
        link.symlink_to(source)
        return source, link
    if case == "hard link":
        hard = tmp_path / "hard.csv"
        os.link(source, hard)
        return source, hard
    if case == "link where the report is written first":  # <report>.partial
        (tmp_path / "p.csv.partial").symlink_to(source)
        return source, tmp_path / "p.csv"
    return source, tmp_path / "r.csv"  # its retry file would be r.retry.csv: the input


@pytest.mark.usefixtures("api_env")
@pytest.mark.parametrize("case", CLASHES)
def test_validate_refuses_a_report_that_would_overwrite_the_input(cli, tmp_path, case):
    source, report = clashing_paths(case, tmp_path)
    before = source.read_bytes()
    result = cli("validate", source, "--report", report)
    assert result.code == 2, result.output
    assert "input" in result.err.lower(), result.err
    assert_clean(result)
    assert source.read_bytes() == before


@pytest.mark.usefixtures("api_env")
@pytest.mark.parametrize("case", CLASHES)
def test_run_refuses_a_report_that_would_overwrite_the_input(cli, sandbox, tmp_path, case):
    source, report = clashing_paths(case, tmp_path)
    before = source.read_bytes()
    result = cli("run", source, "--report", report, *api_args(sandbox), *FAST)
    assert result.code == 2, result.output
    assert "input" in result.err.lower(), result.err
    assert_clean(result)
    assert source.read_bytes() == before
    assert sandbox.sandbox.stats.puts == 0


@pytest.mark.usefixtures("api_env")
def test_report_that_is_a_directory_is_refused_before_sending(cli, sandbox, tmp_path):
    folder = tmp_path / "out.csv"
    folder.mkdir()
    source = source_file(tmp_path, 3)

    result = cli("run", source, "--report", folder, *api_args(sandbox), *FAST)
    assert result.code == 2, result.output
    assert_clean(result)
    assert sandbox.sandbox.stats.puts == 0
    assert folder.is_dir()


@pytest.mark.usefixtures("api_env")
def test_report_below_a_regular_file_is_refused_before_sending(cli, sandbox, tmp_path):
    blocker = tmp_path / "somefile.txt"
    blocker.write_text("not a folder\n", encoding="utf-8")
    source = source_file(tmp_path, 3)

    result = cli("run", source, "--report", blocker / "r.csv", *api_args(sandbox), *FAST)
    assert result.code == 2, result.output
    assert_clean(result)
    assert sandbox.sandbox.stats.puts == 0
    assert blocker.read_text(encoding="utf-8") == "not a folder\n"


@pytest.mark.usefixtures("api_env")
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_links_planted_beside_the_report_never_make_it_write_elsewhere(
    cli, sandbox, tmp_path, suffix
):
    """Issue 18.8: whoever may write in the reports folder plants links at every name a run
    writes (the report, its .partial, summary, journal, retry and summary workbooks): each
    output is created afresh beside them, never through them."""
    from importer.report_files import lock_path, outputs

    source = source_file(tmp_path, 3)
    folder = tmp_path / "reports"
    folder.mkdir()
    report = folder / f"r{suffix}"
    victims = []
    for number, path in enumerate(outputs(report)):
        if path == lock_path(report):
            continue  # a lock is never replaced (a run holding it would lose it): see below
        victim = tmp_path / f"victim-{number}"
        victim.write_text("precious", encoding="utf-8")
        path.symlink_to(victim)
        victims.append(victim)
    rows = [HEADER, *activity_rows(3)]
    rows[1][1] = ""  # one invalid row: a retry file is written too
    write_csv(source, rows)
    result = cli("run", source, "--report", report, *api_args(sandbox), *FAST)
    assert [v.read_bytes() for v in victims] == [b"precious"] * len(victims)
    assert result.code == 1, result.output
    assert not report.is_symlink() and report.stat().st_size > 0

    lock = lock_path(report)
    assert not lock.exists()  # the run removed its lock when it ended
    lock.symlink_to(victims[0])
    again = cli("run", source, "--report", report, *api_args(sandbox), *FAST)
    assert again.code == 2 and "is a link" in again.err, again.output
    assert victims[0].read_bytes() == b"precious"


@pytest.mark.usefixtures("api_env")
def test_a_report_name_too_long_for_its_companions_is_refused_before_sending(
    cli, sandbox, tmp_path
):
    """Issue 18.9: ``<report>.journal.sqlite`` must fit in a file name too."""
    source = source_file(tmp_path, 3)
    report = tmp_path / ("\u3042" * 79 + ".csv")  # 241 bytes: its journal's name would not fit
    result = cli("run", source, "--report", report, *api_args(sandbox), *FAST)
    assert result.code == 2 and "too long" in result.err and "shorter --report" in result.err
    assert_clean(result)
    assert sandbox.sandbox.stats.puts == 0


@pytest.mark.usefixtures("api_env")
def test_the_default_report_of_a_long_input_name_is_shortened(cli, sandbox, tmp_path, monkeypatch):
    """Issue 18.9: an input named with 240 bytes still gets its report (and companions)."""
    monkeypatch.chdir(tmp_path)
    source = write_csv(tmp_path / ("\u3042" * 80 + ".csv"), [HEADER, *activity_rows(3)])
    result = cli("run", source, *api_args(sandbox), *FAST)
    assert result.code == 0, result.output
    written = list((tmp_path / "reports").iterdir())
    assert written and all(len(p.name.encode()) <= 255 for p in written)
    assert any(p.name.startswith("\u3042" * 20) for p in written)


@pytest.mark.usefixtures("api_env")
@pytest.mark.timeout(120)
def test_second_run_on_the_same_report_is_refused_while_the_first_runs(make_sandbox, tmp_path):
    box = make_sandbox(latency=0.2)
    rows = 100
    source = source_file(tmp_path, rows)
    report = tmp_path / "out" / "r.csv"
    journal = report.with_name(report.name + ".journal.sqlite")
    argv = ["run", str(source), "--report", str(report), *api_args(box), "--rate", "20"]

    first = start_run([*argv, "--quiet"], tmp_path)
    try:
        wait_until(journal.exists, first, timeout=30)
        second, seconds = run_bounded(*argv, "--quiet", timeout=60)
        first_still_running = first.poll() is None
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()

    assert second.code == 2, second.output
    assert "another" in second.err.lower() and "lock" in second.err.lower(), second.err
    assert_clean(second)
    assert seconds < 15, f"the second run took {seconds:.1f} s to give up"
    assert first_still_running, "the first run ended before the second was refused"
    assert first.returncode == 0, out + err
    lines = assert_every_row(report, rows)
    assert {line["status"] for line in lines} == {"imported"}
    assert box.sandbox.stats.puts == rows, "the second run sent rows too"
    assert box.sandbox.stats.duplicates == 0


@pytest.mark.timeout(90)
def test_a_full_disk_after_rows_were_imported_is_exit_1_with_the_resume_line(
    tmp_path: Path,
) -> None:
    """Every row is sent, then the report cannot be written (the file-size limit stands in
    for a full disk: writes past it fail with EFBIG as ENOSPC would): the journal says rows
    were imported, so the run ends 1 with the resume line, not 2 ("nothing was done")."""
    rows = activity_rows(150)
    for row in rows:
        row[-1] = row[-1] + " " + "x" * 5000  # the report holds this; the journal does not

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    done, _, server = run_file(
        tmp_path, accept, rows, "--quiet", "--rate", "0", preexec=small_files
    )
    puts = len(server.puts)
    assert puts == 150
    assert done.code == 1, done.err
    assert "--resume" in done.err
    assert "Traceback" not in done.err


async def accept(request: web.Request) -> web.Response:
    """PUT /activities taking any bearer: unlike ``servers.healthy_put`` it checks no token,
    as the full-disk test only needs every row imported."""
    body = await request.json()
    return imported(body, abs(hash(body["reference"])) % 10**9)


@pytest.mark.timeout(90)
def test_ctrl_c_again_while_the_report_is_written_waits_for_the_report(
    tmp_path: Path, make_sandbox: Any
) -> None:
    """A terminal sends Ctrl-C to the whole process group, and people press it twice: a
    signal that arrives once sending has ended must not cut the report, its summary or
    the retry file half-way (it left a .partial, no summary and a traceback)."""
    box = make_sandbox()
    rows = activity_rows(10_000)
    for row in rows[::50]:
        row[1] = ""  # invalid: the run has a retry file to write
    source = write_csv(tmp_path / "a.csv", [HEADER, *rows])
    report = tmp_path / "a-report.csv"
    argv = ["run", str(source), "--report", str(report), *api_args(box), "--rate", "800"]
    proc = start_run(argv, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while box.sandbox.stats.applied < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        for _ in range(4):  # during the grace, the report, and after
            proc.send_signal(signal.SIGINT)
            time.sleep(0.3)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    assert sum(statuses(report).values()) == 10_000
    assert (tmp_path / "a-report.csv.summary.json").exists()
    assert (tmp_path / "a-report.retry.xlsx").exists()
    assert not list(tmp_path.glob("*.partial"))
