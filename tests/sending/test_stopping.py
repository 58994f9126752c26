"""Every run ends by itself: an API down, throttling for ever or silent stops it in bounded time."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ..helpers import (
    FAST,
    HEADER,
    activity_rows,
    assert_clean,
    assert_every_row,
    closed_port,
    read_report,
    run_bounded,
    run_file,
    run_subprocess,
    source_file,
    start_run,
    statuses,
    subprocess_env,
    write_csv,
)
from ..servers import api_app, healthy_put, imported, serve


@pytest.mark.timeout(90)
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
    assert done.code == 1, done.err  # it stopped by itself: --resume finishes it
    assert "no answer" in done.err
    assert "--resume" in done.err
    assert "Traceback" not in done.err
    counts = statuses(report)
    assert sum(counts.values()) == 300
    assert set(counts) <= {"failed", "skipped"}, counts


@pytest.mark.timeout(90)
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
    assert done.code == 1, done.err
    assert "no row was imported for" in done.err
    assert "--resume" in done.err
    counts = statuses(report)
    assert counts.get("imported") == 5
    assert sum(counts.values()) == 40


@pytest.mark.timeout(90)
def test_a_crawling_budget_learnt_by_rate_auto_is_said(tmp_path: Path, make_sandbox: Any) -> None:
    """``--rate auto`` against an API that allows one request a minute keeps to it, and says
    so (the stall limit, short here, then ends the run with the resume line)."""
    box = make_sandbox(rate_limit=1, rate_limit_window=60.0)
    source = write_csv(tmp_path / "a.csv", [HEADER, *activity_rows(3)])
    done = run_subprocess(
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
        env=subprocess_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert done.code == 1, done.err
    assert "the API allows 1 request per 60 s" in done.err
    assert "--resume" in done.err


@pytest.mark.usefixtures("api_env")
@pytest.mark.timeout(90)
def test_retry_after_of_a_day_fails_the_rows_within_seconds(serve_app, tmp_path):
    async def put(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(
            {"message": "Too Many Attempts."}, status=429, headers={"Retry-After": "86400"}
        )

    api = serve_app(api_app(put))
    source = source_file(tmp_path, 5)
    report = tmp_path / "r.csv"

    result, seconds = run_bounded("run", source, "--report", report, *api.args(), *FAST, timeout=60)
    assert seconds < 20, f"took {seconds:.1f} s"
    assert result.code == 1, result.output
    assert_clean(result)
    lines = assert_every_row(report, 5)
    assert {line["status"] for line in lines} <= {"failed", "skipped"}, lines
    failed = [line for line in lines if line["status"] == "failed"]
    assert failed, lines
    for line in failed:
        assert "Retry-After" in line["errors"] and "86400" in line["errors"], line
    assert all(line["errors"] for line in lines), lines


@pytest.mark.usefixtures("api_env")
def test_short_retry_after_is_obeyed(cli, serve_app, tmp_path):
    answer = healthy_put()
    count = {"puts": 0}

    async def put(request: web.Request) -> web.StreamResponse:
        count["puts"] += 1
        if count["puts"] == 1:
            await request.read()
            return web.json_response(
                {"message": "Too Many Attempts."}, status=429, headers={"Retry-After": "1"}
            )
        return await answer(request)

    api = serve_app(api_app(put))
    source = source_file(tmp_path, 1)
    report = tmp_path / "r.csv"

    result = cli("run", source, "--report", report, *api.args(), "--max-wait", "5", *FAST)
    assert result.code == 0, result.output
    (line,) = assert_every_row(report, 1)
    assert line["status"] == "imported" and line["activity_id"], line
    first, second = api.puts
    assert second.at - first.at >= 0.9, "Retry-After: 1 was not waited for"


@pytest.mark.usefixtures("api_env")
@pytest.mark.timeout(150)
def test_a_server_that_never_answers_stops_the_run_in_bounded_time(serve_app, tmp_path):
    async def put(request: web.Request) -> web.Response:
        await asyncio.Event().wait()  # accepts, reads nothing more, never answers
        raise AssertionError("unreachable")

    api = serve_app(api_app(put))
    source = source_file(tmp_path, 60)
    report = tmp_path / "r.csv"

    result, seconds = run_bounded(
        "run", source, "--report", report, *api.args(),
        "--timeout", "0.5", "--concurrency", "4", *FAST,
        timeout=120,
    )  # fmt: skip
    # 60 rows x 5 attempts x 0.5 s / 4 workers = 37.5 s without a circuit breaker
    assert seconds < 25, f"took {seconds:.1f} s: no circuit breaker"
    assert result.code == 1, result.output
    assert "--resume" in result.err, result.err
    assert_clean(result)
    lines = assert_every_row(report, 60)
    assert {line["status"] for line in lines} <= {"failed", "skipped"}, Counter(
        line["status"] for line in lines
    )
    assert len(api.puts) < 60, f"{len(api.puts)} PUTs into a server that never answers"


@pytest.mark.timeout(90)
def test_a_second_interrupt_ends_the_wait_for_requests_in_flight(tmp_path: Path) -> None:
    """The first Ctrl-C lets the requests in flight finish within the grace (10 s); a
    second one ends the run at once, with the report and exit 130."""
    arrived = threading.Event()
    taken: list[str] = []  # references whose request reached the API

    async def slow(request: web.Request) -> web.Response:
        body = await request.json()
        taken.append(body["reference"])
        arrived.set()
        await asyncio.sleep(60)
        return imported(body, 1)

    source = write_csv(tmp_path / "a.csv", [HEADER, *activity_rows(20)])
    report = tmp_path / "a-report.csv"
    with serve(api_app(slow)) as server:
        proc = start_run(
            [
                "run",
                str(source),
                "--report",
                str(report),
                *server.args(),
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
    # the rows let go with their request out were sent: failed (unknown), not "not attempted"
    lines = {line["reference"]: line for line in read_report(report)}
    assert taken and all(lines[ref]["status"] == "failed" for ref in taken), taken
    assert all(lines[ref]["errors"].startswith("sent, no answer before the run") for ref in taken)
    assert all(lines[ref]["attempts"] == "1" for ref in taken)


@pytest.mark.timeout(90)
def test_a_result_stands_when_the_loop_cannot_tidy_up() -> None:
    """Under a memory limit the loop's tidy-up may find no thread for the executor's
    shutdown ("can't start new thread", after every row was imported and reported): the
    run's result stands instead of becoming 'internal error', exit 2."""
    from importer.cli.commands import _until_done

    async def finished_run() -> str:
        loop = asyncio.get_running_loop()

        async def no_thread_left() -> None:
            raise RuntimeError("can't start new thread")

        loop.shutdown_default_executor = no_thread_left  # type: ignore[method-assign]
        return "summary"

    assert _until_done(finished_run()) == "summary"
