"""Every run ends, and its exit code tells the truth (SPEC "Every run ends", exit codes).

An API that is down while its token URL answers, one that throttles for ever, one that
refuses every fresh token, a failure after rows were sent: each run ends by itself, writes
its report and, where rows remain, the ``--resume`` line; 2 only when nothing was done.
The real CLI runs as a separate process (a hang fails by the test's own deadline, never
hangs the suite) against real servers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from importer.sandbox import DEMO_CLIENT_SECRET

from .helpers import HEADER, activity_rows, read_report, start_run, subprocess_env, write_csv
from .servers import TOKEN, Handler, Served, api_app, imported, serve

pytestmark = pytest.mark.timeout(90)


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_cli(
    tmp_path: Path,
    *argv: str | Path,
    deadline: float = 60,
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m importer …`` with the demo credentials; killed (a failure) past ``deadline``."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "importer", *map(str, argv)],
            capture_output=True,
            text=True,
            env=subprocess_env(),
            cwd=tmp_path,
            timeout=deadline,
            stdin=subprocess.DEVNULL,
            preexec_fn=preexec,
        )
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f"the run did not end within {deadline} s (it hangs):\n{hung.stderr!r}")


def urls(base: str) -> list[str]:
    """The flags that point a run at the API served at ``base``."""
    return ["--token-url", f"{base}/oauth2/token", "--api-url", f"{base}/activities"]


def run_file(
    tmp_path: Path,
    put: Handler,
    rows: list[list[str]],
    *flags: str,
    api_url: str | None = None,
    preexec: Callable[[], None] | None = None,
) -> tuple[subprocess.CompletedProcess[str], Path, Served]:
    """``run`` of ``rows`` against an API whose ``PUT`` is ``put`` (``api_url`` instead, if
    given: the token URL still answers): what it did, its report, and what the API saw."""
    source = write_csv(tmp_path / "a.csv", [HEADER, *rows])
    report = tmp_path / "a-report.csv"
    with serve(api_app(put)) as server:
        where = urls(server.url)
        if api_url is not None:
            where[-1] = api_url
        done = run_cli(tmp_path, "run", source, "--report", report, *where, *flags, preexec=preexec)
    return done, report, server


def statuses(report: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in read_report(report):
        counts[line["status"]] = counts.get(line["status"], 0) + 1
    return counts


def test_api_down_while_the_token_url_answers_ends_with_the_report_and_resume_line(
    tmp_path: Path,
) -> None:
    async def never(request: web.Request) -> web.Response:  # pragma: no cover - not reached
        raise AssertionError("the API is down")

    done, report, _ = run_file(
        tmp_path,
        never,
        activity_rows(300),
        "--retry-wait",
        "0.01",
        "--quiet",
        api_url=f"http://127.0.0.1:{closed_port()}/activities",
    )
    assert done.returncode == 1, done.stderr  # it stopped by itself: --resume finishes it
    assert "no answer" in done.stderr
    assert "--resume" in done.stderr
    assert "Traceback" not in done.stderr
    counts = statuses(report)
    assert sum(counts.values()) == 300
    assert set(counts) <= {"failed", "skipped"}, counts


def test_a_stall_stops_a_run_that_is_throttled_for_ever(tmp_path: Path) -> None:
    """429 with Retry-After: 1 for every request: the stall limit ends the run (exit 1 after
    some rows were imported), not 51 attempts a row for ever."""
    seen = {"puts": 0}

    async def throttle_after_five(request: web.Request) -> web.Response:
        seen["puts"] += 1
        body = await request.json()
        if seen["puts"] <= 5:
            return imported(body, seen["puts"])
        return web.json_response(
            {"message": "Too Many Attempts."}, status=429, headers={"Retry-After": "1"}
        )

    done, report, _ = run_file(
        tmp_path,
        throttle_after_five,
        activity_rows(40),
        "--concurrency",
        "2",
        "--stall-limit",
        "0.05",  # minutes: 3 s
        "--quiet",
    )
    assert done.returncode == 1, done.stderr
    assert "no row was imported for" in done.stderr
    assert "--resume" in done.stderr
    counts = statuses(report)
    assert counts.get("imported") == 5
    assert sum(counts.values()) == 40


def test_credentials_refused_after_a_fresh_token_stop_the_run_with_few_token_requests(
    tmp_path: Path,
) -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"message": "Unauthenticated."}, status=401)

    done, report, server = run_file(
        tmp_path, refuse, activity_rows(40), "--retry-wait", "0.01", "--quiet"
    )
    token_requests = len(server.token_requests)
    assert done.returncode == 2, done.stderr
    assert "credentials" in done.stderr and "refused" in done.stderr
    assert "--resume" not in done.stderr  # nothing was imported: nothing to finish
    assert token_requests <= 3, token_requests
    assert DEMO_CLIENT_SECRET not in done.stderr + done.stdout
    assert TOKEN not in done.stderr + done.stdout
    assert sum(statuses(report).values()) == 40


def test_credentials_refused_after_rows_were_imported_exit_2_with_the_resume_line(
    tmp_path: Path,
) -> None:
    seen = {"puts": 0}

    async def revoke_after_ten(request: web.Request) -> web.Response:
        seen["puts"] += 1
        if seen["puts"] <= 10:
            return imported(await request.json(), seen["puts"])
        return web.json_response({"message": "Unauthenticated."}, status=401)

    done, report, _ = run_file(
        tmp_path, revoke_after_ten, activity_rows(60), "--concurrency", "1", "--quiet"
    )
    assert done.returncode == 2, done.stderr  # refused credentials need a person
    assert "refused" in done.stderr and "--resume" in done.stderr
    counts = statuses(report)
    assert counts["imported"] == 10
    assert sum(counts.values()) == 60


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
    assert done.returncode == 1, done.stderr
    assert "--resume" in done.stderr
    assert "Traceback" not in done.stderr


async def accept(request: web.Request) -> web.Response:
    body = await request.json()
    return imported(body, abs(hash(body["reference"])) % 10**9)


def test_a_crawling_budget_learnt_by_rate_auto_is_said(tmp_path: Path, make_sandbox: Any) -> None:
    """``--rate auto`` against an API that allows one request a minute keeps to it, and says
    so (the stall limit, short here, then ends the run with the resume line)."""
    box = make_sandbox(rate_limit=1, rate_limit_window=60.0)
    source = write_csv(tmp_path / "a.csv", [HEADER, *activity_rows(3)])
    done = run_cli(
        tmp_path,
        "run",
        source,
        "--report",
        tmp_path / "a-report.csv",
        "--api-url",
        box.api_url,
        "--token-url",
        box.token_url,
        "--rate",
        "auto",
        "--stall-limit",
        "0.15",  # minutes: 9 s, past the 5 s that tell a budget lasts (rate.SLOW_KEPT)
    )
    assert done.returncode == 1, done.stderr
    assert "the API allows 1 request per 60 s" in done.stderr
    assert "--resume" in done.stderr


def test_a_result_stands_when_the_loop_cannot_tidy_up() -> None:
    """Under a memory limit the loop's tidy-up may find no thread for the executor's
    shutdown ("can't start new thread", after every row was imported and reported): the
    run's result stands instead of becoming 'internal error', exit 2."""
    from importer.cli import _until_done

    async def finished_run() -> str:
        loop = asyncio.get_running_loop()

        async def no_thread_left() -> None:
            raise RuntimeError("can't start new thread")

        loop.shutdown_default_executor = no_thread_left  # type: ignore[method-assign]
        return "summary"

    assert _until_done(finished_run()) == "summary"


def test_a_second_interrupt_ends_the_wait_for_requests_in_flight(tmp_path: Path) -> None:
    """The first Ctrl-C lets the requests in flight finish within the grace (10 s); a
    second one ends the run at once, with the report and exit 130."""
    arrived = threading.Event()

    async def slow(request: web.Request) -> web.Response:
        arrived.set()
        await asyncio.sleep(60)
        return imported(await request.json(), 1)

    source = write_csv(tmp_path / "a.csv", [HEADER, *activity_rows(20)])
    report = tmp_path / "a-report.csv"
    with serve(api_app(slow)) as server:
        proc = start_run(
            [
                "run",
                str(source),
                "--report",
                str(report),
                *urls(server.url),
                "--quiet",
            ],
            tmp_path,
        )
        try:
            assert arrived.wait(30), "no request reached the server"
            proc.send_signal(signal.SIGINT)
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=5)  # not the 10 s grace, nor a 60 s answer
        finally:
            proc.kill()
    assert proc.returncode == 130, err
    assert "--resume" in err
    assert sum(statuses(report).values()) == 20


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
    argv = ["run", str(source), "--report", str(report), *urls(box.base_url), "--rate", "800"]
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


def test_a_file_that_breaks_is_one_line_without_a_traceback_at_exit(
    tmp_path: Path, make_sandbox: Any
) -> None:
    """The whole file's parse runs beside the token request: its error is the run's one
    line, and never again as 'Task exception was never retrieved' when the process ends."""
    box = make_sandbox()
    lines = [",".join(row) for row in [HEADER, *activity_rows(20)]]
    lines[5] = lines[5].replace(",Subject", ',"Subject', 1)  # a quote that never closes
    source = tmp_path / "a.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run_cli(tmp_path, "run", source, "--report", tmp_path / "r.csv", *urls(box.base_url))
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "never closed" in done.stderr
