"""Unattended drops, through the real CLI against the sandbox: files picked, imported once,
filed away; cumulative exports send only new and changed rows; locks, crashes, the JSON
log, notifications and the config file."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ..forkserver import launch
from ..helpers import (
    HEADER,
    activity_rows,
    api_args,
    closed_port,
    read_report,
    read_retry,
    run_subprocess,
    write_csv,
)
from ..servers import serve

pytestmark = pytest.mark.usefixtures("api_env")

NOW = ["--settle", "0", "--rate", "0", "--quiet"]


def drop(folder: Path, name: str, rows: list[list[str]], age: float = 3600) -> Path:
    """A file dropped ``age`` seconds ago."""
    path = write_csv(folder / name, [HEADER, *rows])
    past = time.time() - age
    os.utime(path, (past, past))
    return path


def log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def reports_of(folder: Path) -> Path:
    """The default reports folder of a drop folder: beside it, never inside."""
    return folder.with_name(folder.name + "-reports")


def only_report(folder: Path, stem: str) -> Path:
    (report,) = sorted(reports_of(folder).glob(f"{stem}-*Z.csv"))
    return report


def test_good_bad_duplicate_and_unsettled_files_each_go_their_way(cli, sandbox, tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "a-good.csv", activity_rows(5), age=300)
    bad = activity_rows(4, prefix="B")
    bad[1][1] = ""  # no account: invalid
    drop(inbox, "b-bad.csv", bad, age=200)
    (inbox / "~$book.xlsx").write_bytes(b"owner file of an open workbook")
    (inbox / "c.csv.part").write_text("half a download")
    drop(inbox, "d-fresh.csv", activity_rows(2, prefix="F"), age=1)  # still being written
    log = tmp_path / "log.jsonl"
    args = [*api_args(sandbox), "--settle", "60", "--rate", "0", "--log-file", log, "--quiet"]
    result = cli("inbox", inbox, *args)
    assert result.code == 1, result.err  # one file had rows not imported
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["a-good.csv"]
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["b-bad.csv"]
    assert {p.name for p in inbox.iterdir() if p.is_file()} >= {
        "~$book.xlsx",
        "c.csv.part",
        "d-fresh.csv",
    }
    assert [r[0] for r in read_retry(only_report(inbox, "b-bad"))[1:]] == ["B-000001"]
    assert sandbox.sandbox.stats.puts == 5 + 3

    # the same content again under another name: filed as a duplicate, not one request
    drop(inbox, "a-again.csv", activity_rows(5))
    os.utime(inbox / "d-fresh.csv", (time.time() - 3600,) * 2)
    puts = sandbox.sandbox.stats.puts
    result = cli("inbox", inbox, *args)
    assert result.code == 0, result.err
    assert [p.name for p in (inbox / "duplicates").iterdir()] == ["a-again.csv"]
    assert sandbox.sandbox.stats.puts == puts + 2  # only d-fresh.csv's two rows
    lines = log_lines(log)
    files = [line for line in lines if line["event"] == "file"]
    runs = [line for line in lines if line["event"] == "run"]
    assert [f["file"] for f in files] == ["a-good.csv", "b-bad.csv", "a-again.csv", "d-fresh.csv"]
    assert [f["outcome"] for f in files] == ["done", "failed", "duplicates", "done"]
    assert "repeats a-good.csv" in files[2]["note"]
    assert files[0]["counts"] == {"imported": 5} and files[0]["report"]
    assert len(runs) == 2 and runs[0]["failed"] == 1 and runs[1]["duplicates"] == 1
    assert "demo-secret" not in log.read_text()


def test_cumulative_export_sends_only_new_and_changed_rows(cli, sandbox, tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    night_one = activity_rows(300)
    for row in night_one[:20]:
        row[0] = ""  # rows without a reference: derived from their content
    drop(inbox, "export-1.csv", night_one)
    assert cli("inbox", inbox, *api_args(sandbox), *NOW).code == 0
    assert sandbox.sandbox.stats.puts == 300

    night_two = [list(row) for row in night_one] + activity_rows(50, start=300)
    for row in night_two[100:110]:
        row[6] = row[6] + " (edited)"  # ten edited rows, all with a reference
    drop(inbox, "export-2.csv", night_two)
    puts = sandbox.sandbox.stats.puts
    assert cli("inbox", inbox, *api_args(sandbox), *NOW).code == 0
    assert sandbox.sandbox.stats.puts - puts == 60
    lines = read_report(only_report(inbox, "export-2"))
    counts = {s: sum(line["status"] == s for line in lines) for s in ("imported", "unchanged")}
    assert counts == {"imported": 60, "unchanged": 290}
    unchanged = [line for line in lines if line["status"] == "unchanged"]
    assert all(
        line["activity_id"] and "not sent: imported with exactly" in line["errors"]
        for line in unchanged
    )
    assert lines[0]["reference"].startswith("auto-") and lines[0]["status"] == "unchanged"
    assert sandbox.sandbox.stats.duplicates == 0
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["export-1.csv", "export-2.csv"]

    # --resend-all sends every row anyway
    drop(inbox, "export-3.csv", night_two[:30])
    puts = sandbox.sandbox.stats.puts
    assert cli("inbox", inbox, *api_args(sandbox), *NOW, "--resend-all").code == 0
    assert sandbox.sandbox.stats.puts - puts == 30


def test_run_records_into_the_history_and_skips_only_when_asked(cli, sandbox, tmp_path):
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(20)])
    history = tmp_path / "history.sqlite"
    base = ["run", source, *api_args(sandbox), "--rate", "0", "--quiet", "--history", history]
    assert cli(*base, "--report", tmp_path / "one.csv").code == 0
    assert cli(*base, "--report", tmp_path / "two.csv").code == 0  # as today: sends all
    assert sandbox.sandbox.stats.puts == 40
    assert cli(*base, "--report", tmp_path / "three.csv", "--only-changed").code == 0
    assert sandbox.sandbox.stats.puts == 40
    assert {line["status"] for line in read_report(tmp_path / "three.csv")} == {"unchanged"}
    refused = cli("run", source, *api_args(sandbox), "--only-changed", "--quiet")
    assert refused.code == 2 and "--history" in refused.err


def test_two_inbox_runs_at_once_import_each_file_once(make_sandbox, tmp_path):
    box = make_sandbox(latency=0.05)
    inbox = tmp_path / "in"
    inbox.mkdir()
    for number in range(3):
        drop(inbox, f"f{number}.csv", activity_rows(40, prefix=f"F{number}"))
    argv = ["inbox", inbox, *api_args(box), "--settle", "0", "--rate", "0", "--concurrency", "2"]
    first = launch([str(a) for a in argv], dict(os.environ), tmp_path)
    deadline = time.monotonic() + 30
    while not any((inbox / "processing").glob("*.csv")) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = run_subprocess(*argv)
    assert second.code == 0 and "another inbox run holds" in second.err
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["f0.csv", "f1.csv", "f2.csv"]
    assert box.sandbox.stats.puts == 120 and box.sandbox.stats.duplicates == 0


def test_a_run_killed_mid_file_is_finished_by_the_next_without_duplicates(make_sandbox, tmp_path):
    box = make_sandbox(latency=0.02)
    inbox = tmp_path / "in"
    inbox.mkdir()
    rows = activity_rows(400)
    for row in rows[::3]:
        row[0] = ""  # derived references too
    drop(inbox, "big.csv", rows)
    argv = ["inbox", inbox, *api_args(box), "--settle", "0", "--rate", "0", "--concurrency", "4"]
    killed_mid_file(argv, box, inbox)
    assert [p.name for p in (inbox / "processing").iterdir()] == ["big.csv"]
    applied = box.sandbox.stats.applied
    assert 100 <= applied < 400
    again = run_subprocess(*argv)
    assert again.code == 0, again.err
    assert [p.name for p in (inbox / "done").iterdir()] == ["big.csv"]
    assert box.sandbox.stats.duplicates == 0
    assert len(box.sandbox.activities) == 400
    lines = read_report(only_report(inbox, "big"))
    # rows whose outcome the kill kept from the journal, but not from the history, are
    # "unchanged": they were imported with exactly this content, by the killed run
    assert len(lines) == 400 and {line["status"] for line in lines} <= {"imported", "unchanged"}
    assert all(line["activity_id"] for line in lines)


def killed_mid_file(argv: list[Any], box: Any, inbox: Path, applied: int = 100) -> None:
    """``cg-import inbox …`` as a scheduler starts it, killed (SIGKILL) once the API took
    ``applied`` rows: its file is left half-imported in processing/."""
    victim = launch([*map(str, argv), "--quiet"], dict(os.environ), inbox.parent)
    deadline = time.monotonic() + 60
    while box.sandbox.stats.applied < applied and time.monotonic() < deadline:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=10)


@contextmanager
def notifications() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An Apprise ``json://`` URL served on 127.0.0.1, and the messages it received."""
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    with serve(app) as served:
        yield served.url.replace("http://", "json://") + "/hook", received


def test_notifications_reach_a_json_webhook_and_name_every_file(cli, sandbox, tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "one.csv", activity_rows(3))
    bad = activity_rows(2, prefix="T")
    bad[0][5] = "yesterday"
    drop(inbox, "two.csv", bad)
    with notifications() as (url, received):
        result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--notify", url)
        assert result.code == 1, result.err
        assert len(received) == 1
        message = received[0]
        assert "one.csv → done/" in message["message"] and "two.csv → failed/" in message["message"]
        assert message["type"] == "failure" and "1 failed" in message["title"]
        # nothing to do: no notification
        assert cli("inbox", inbox, *api_args(sandbox), *NOW, "--notify", url).code == 0
        assert len(received) == 1
    # an unreachable notification target is a warning, not another exit code
    drop(inbox, "three.csv", activity_rows(2, prefix="H"))
    result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--notify", "json://127.0.0.1:9/x")
    assert result.code == 0 and "could not be delivered" in result.err


def test_a_run_that_stopped_sending_is_never_notified_as_all_imported(cli, tmp_path):
    """The API is down while its token URL answers: the file waits in processing/, and
    the notification says so as a failure, not "all imported" / success."""
    from ..servers import api_app

    async def never(request: web.Request) -> web.Response:  # pragma: no cover - not reached
        raise AssertionError("the API is down")

    closed = closed_port()
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "one.csv", activity_rows(30))
    with notifications() as (url, received), serve(api_app(never)) as token:
        where = ["--api-url", f"http://127.0.0.1:{closed}/activities"]
        where += ["--token-url", f"{token.url}/oauth2/token", "--retry-wait", "0"]
        result = cli("inbox", inbox, *where, *NOW, "--notify", url)
    assert result.code == 1, result.err
    assert [p.name for p in (inbox / "processing").iterdir()] == ["one.csv"]
    (message,) = received
    assert message["type"] == "failure", message
    assert "all imported" not in message["title"]
    assert "wait in processing/" in message["title"] and "no answer" in message["title"]


def test_a_run_that_finds_only_duplicates_is_titled_nothing_new(cli, sandbox, tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "one.csv", activity_rows(3))
    assert cli("inbox", inbox, *api_args(sandbox), *NOW).code == 0
    drop(inbox, "again.csv", activity_rows(3))
    with notifications() as (url, received):
        assert cli("inbox", inbox, *api_args(sandbox), *NOW, "--notify", url).code == 0
    (message,) = received
    assert "nothing new" in message["title"] and message["type"] == "success", message


def test_config_file_holds_the_job_and_the_command_line_overrides_it(cli, sandbox, tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "one.csv", activity_rows(3))
    config = tmp_path / "job.toml"
    config.write_text(
        f'inbox = "in"\napi_url = "{sandbox.api_url}"\ntoken_url = "{sandbox.token_url}"\n'
        'settle = 7200\nrate = 0\nlog_file = "logs/inbox.jsonl"\nquiet = true\n',
        encoding="utf-8",
    )
    assert cli("inbox", "--config", config).code == 0
    assert not (inbox / "done").exists() or not any((inbox / "done").iterdir())  # not settled
    assert cli("inbox", "--config", config, "--settle", "0").code == 0
    assert [p.name for p in (inbox / "done").iterdir()] == ["one.csv"]
    assert (tmp_path / "logs" / "inbox.jsonl").exists()  # relative to the config file

    config.write_text(config.read_text() + 'client_secret = "oops"\n', encoding="utf-8")
    result = cli("inbox", "--config", config)
    assert result.code == 2 and "client_secret" in result.err and "oops" not in result.err


def test_missing_folder_and_unknown_setting_exit_2(cli, sandbox, tmp_path):
    result = cli("inbox", tmp_path / "nowhere", *api_args(sandbox), *NOW)
    assert result.code == 2 and "does not exist" in result.err
    config = tmp_path / "c.toml"
    config.write_text("rat = 5\n", encoding="utf-8")
    result = cli("inbox", tmp_path, "--config", config)
    assert result.code == 2 and "unknown setting 'rat'" in result.err


def test_a_config_with_a_password_in_a_notify_url_must_be_owner_only(cli, sandbox, tmp_path):
    (tmp_path / "in").mkdir()
    config = tmp_path / "job.toml"
    config.write_text(
        f'inbox = "in"\napi_url = "{sandbox.api_url}"\ntoken_url = "{sandbox.token_url}"\n'
        'notify = ["mailtos://ops:hunter2@example.com"]\n',
        encoding="utf-8",
    )
    config.chmod(0o644)
    result = cli("inbox", "--config", config)
    assert result.code == 2 and "chmod 600" in result.err and "hunter2" not in result.err
    config.chmod(0o600)
    assert cli("inbox", "--config", config, "--quiet").code == 0  # nothing to do, no notice


def test_credentials_refused_mid_file_leave_it_for_the_next_run_which_finishes_it(
    cli, make_sandbox, tmp_path
):
    """The API refuses fresh tokens after some rows of a file went in: the file stays in
    processing/ (not failed/: rows of it were imported), the run says 2 (a person must
    act), and the next run resumes it to done/ without sending a row twice."""
    box = make_sandbox()
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "a.csv", activity_rows(30))
    refusing = {"after": 10}

    async def put(request: web.Request) -> web.Response:
        if box.sandbox.stats.puts >= refusing["after"]:
            return web.json_response({"message": "Unauthenticated."}, status=401)
        return await box.sandbox._activity(request)

    with serve(_proxy_app(put)) as api:
        args = ["--api-url", f"{api.url}/activities", "--token-url", box.token_url, *NOW]
        stopped = cli("inbox", inbox, *args, "--concurrency", "1")
        assert stopped.code == 2, stopped.err
        assert "refused" in stopped.err
        assert [p.name for p in (inbox / "processing").iterdir()] == ["a.csv"]
        assert not (inbox / "failed").exists() or not any((inbox / "failed").iterdir())
        assert box.sandbox.stats.created == 10

        refusing["after"] = 10**9  # the credentials work again
        again = cli("inbox", inbox, *args)
    assert again.code == 0, again.out
    assert [p.name for p in (inbox / "done").iterdir()] == ["a.csv"]
    assert box.sandbox.stats.created == 30 and box.sandbox.stats.duplicates == 0


def _proxy_app(put: Any) -> web.Application:
    """An API whose PUT is ``put`` (which may hand over to the sandbox's own)."""
    app = web.Application()
    app.router.add_put("/activities", put)
    return app


# --- hostile drops: outputs that cannot be aimed, names that cannot block, failures that
# --- leave a trace (issue 18, items 8, 9, 12 and 13)


@pytest.mark.parametrize("inside", [".", "reports", "done"])
def test_a_reports_folder_in_the_drop_folder_is_refused(cli, sandbox, tmp_path, inside):
    """Issue 18.12 and 18.8: reports inside the drop folder would be imported the next night,
    and whoever drops files could aim them; refused before anything is moved."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "one.csv", activity_rows(2))
    result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--reports", inbox / inside)
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    assert "inside the drop folder" in result.err and "--reports" in result.err
    assert [p.name for p in inbox.iterdir()] == ["one.csv"] and sandbox.sandbox.stats.puts == 0


def test_a_reports_folder_that_is_a_link_is_refused(cli, sandbox, tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "one.csv", activity_rows(2))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "reports").symlink_to(elsewhere)
    result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--reports", tmp_path / "reports")
    assert result.code == 2 and "is a link" in result.err
    assert not any(elsewhere.iterdir()) and (inbox / "one.csv").exists()


def test_the_default_reports_folder_is_beside_the_drop_folder(cli, sandbox, tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "one.csv", activity_rows(2))
    assert cli("inbox", inbox, *api_args(sandbox), *NOW).code == 0
    assert only_report(inbox, "one").parent == tmp_path / "in-reports"
    assert (tmp_path / "in-reports" / "history.sqlite").exists()
    assert not (inbox / "reports").exists()


def test_an_old_reports_folder_in_the_drop_folder_must_be_moved_first(cli, sandbox, tmp_path):
    """The history lives there: silently starting a new one would resend every row."""
    inbox = tmp_path / "in"
    (inbox / "reports").mkdir(parents=True)
    drop(inbox, "one.csv", activity_rows(2))
    result = cli("inbox", inbox, *api_args(sandbox), *NOW)
    assert result.code == 2 and f"mv {inbox / 'reports'} {tmp_path / 'in-reports'}" in result.err
    assert (inbox / "one.csv").exists() and sandbox.sandbox.stats.puts == 0


def test_links_planted_at_the_report_names_never_overwrite_a_file(cli, sandbox, tmp_path):
    """Issue 18.8: report names are predictable timestamps; links planted at them (and at
    their .partial, summary, journal, retry files) must not make the report land elsewhere."""
    inbox, reports = tmp_path / "in", tmp_path / "reports"
    inbox.mkdir()
    reports.mkdir()
    rows = activity_rows(3)
    rows[0][1] = ""  # an invalid row: a retry file too
    drop(inbox, "x.csv", rows)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    now = time.time()
    for second in range(-2, 30):
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now + second))
        for name in (
            f"x-{stamp}.csv.partial",
            f"x-{stamp}.csv.summary.json",
            f"x-{stamp}.retry.xlsx",
            f"x-{stamp}.summary.xlsx",
        ):
            (reports / name).symlink_to(victim)
        (reports / f"x-{stamp}.csv.journal.sqlite").symlink_to(tmp_path / f"made-{stamp}")
    result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--reports", reports)
    assert victim.read_text(encoding="utf-8") == "precious"
    assert not list(tmp_path.glob("made-*"))  # nothing created through a dangling link
    assert result.code == 1, result.err
    assert [p.name for p in (inbox / "failed").iterdir()] == ["x.csv"]
    report = [p for p in reports.glob("x-*Z.csv") if not p.is_symlink()]
    assert len(report) == 1 and len(read_report(report[0])) == 3


def test_a_long_file_name_is_imported_and_does_not_block_the_inbox(cli, sandbox, tmp_path):
    """Issue 18.9: 80 Japanese characters are 240 bytes; with the report's suffixes that is
    more than a file name may hold. Two such names differing only at the end both work."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    long = "あ" * 80
    drop(inbox, f"{long}1.csv", activity_rows(2), age=300)
    drop(inbox, f"{long}2.csv", activity_rows(2, prefix="L"), age=200)
    log = tmp_path / "log.jsonl"
    result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--log-file", log)
    assert result.code == 0, result.err
    assert sorted(p.name for p in (inbox / "done").iterdir()) == [f"{long}1.csv", f"{long}2.csv"]
    written = list(reports_of(inbox).iterdir())
    assert all(len(p.name.encode()) <= 255 for p in written)
    reports = {line["report"] for line in log_lines(log) if line["event"] == "file"}
    assert len(reports) == 2 and all(Path(r).exists() for r in reports)


def test_an_unwritable_log_file_stops_the_run_before_any_file_is_touched(cli, sandbox, tmp_path):
    """Issue 18.13: found before the first file is imported, not after."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "one.csv", activity_rows(2))
    log = tmp_path / "logs"
    log.mkdir()  # a folder where the log file should be
    result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--log-file", log)
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    assert f"cannot write the log {log}" in result.err
    assert [p.name for p in inbox.iterdir()] == ["one.csv"] and sandbox.sandbox.stats.puts == 0


def test_refused_credentials_are_logged_and_notified(cli, sandbox, tmp_path, monkeypatch):
    """Issue 18.13: a run that cannot import anything must still tell monitoring."""
    monkeypatch.setenv("CG_CLIENT_SECRET", "wrong-secret")
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "one.csv", activity_rows(2))
    log = tmp_path / "log.jsonl"
    with notifications() as (url, received):
        result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--log-file", log, "--notify", url)
    assert result.code == 2
    (line,) = [line for line in log_lines(log) if line["event"] == "run"]
    assert line["exit"] == 2 and "refused" in line["error"]
    assert len(received) == 1 and received[0]["type"] == "failure"
    assert "refused" in received[0]["message"]
    assert "wrong-secret" not in log.read_text() + str(received) + result.output


def test_an_internal_error_is_logged_and_notified(cli, sandbox, tmp_path, monkeypatch):
    """Issue 18.13: a bug that ends the run still leaves its log line and notification."""
    from importer import inbox as inbox_module

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the history broke")

    monkeypatch.setattr(inbox_module, "History", broken)
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "one.csv", activity_rows(2))
    log = tmp_path / "log.jsonl"
    with notifications() as (url, received):
        result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--log-file", log, "--notify", url)
    assert result.code == 2 and "internal error: RuntimeError: the history broke" in result.err
    (line,) = log_lines(log)
    assert line["event"] == "run" and line["exit"] == 2
    assert "RuntimeError: the history broke" in line["error"]
    assert len(received) == 1 and "the history broke" in received[0]["message"]


def test_a_file_that_meets_an_internal_error_goes_to_failed_and_the_next_is_imported(
    cli, sandbox, tmp_path, monkeypatch
):
    """Issue 18.9/18.13: one file the program cannot handle must not block every later run."""
    from importer import inbox as inbox_module

    real = inbox_module.import_file

    async def picky(settings, *args):
        if settings.input.name == "bad.csv":
            raise RuntimeError("cannot handle this one")
        return await real(settings, *args)

    monkeypatch.setattr(inbox_module, "import_file", picky)
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "bad.csv", activity_rows(2), age=300)
    drop(inbox, "good.csv", activity_rows(2, prefix="G"), age=200)
    log = tmp_path / "log.jsonl"
    result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--log-file", log)
    assert result.code == 1, result.err
    assert [p.name for p in (inbox / "failed").iterdir()] == ["bad.csv"]
    assert [p.name for p in (inbox / "done").iterdir()] == ["good.csv"]
    assert not any((inbox / "processing").iterdir())
    bad = next(line for line in log_lines(log) if line.get("file") == "bad.csv")
    assert bad["outcome"] == "failed" and "RuntimeError: cannot handle this one" in bad["note"]


def test_a_run_that_finds_the_lock_held_is_logged_and_notified(cli, sandbox, tmp_path):
    from filelock import FileLock

    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "one.csv", activity_rows(2))
    log = tmp_path / "log.jsonl"
    with notifications() as (url, received), FileLock(str(inbox / ".cg-import.lock")):
        result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--log-file", log, "--notify", url)
    assert result.code == 0 and "another inbox run holds" in result.err
    (line,) = log_lines(log)
    assert line["event"] == "run" and line["locked"] is True and line["exit"] == 0
    assert len(received) == 1 and "another inbox run" in received[0]["message"]


@pytest.mark.parametrize("planted", ["done", "processing", "failed", "duplicates", "history"])
def test_a_link_planted_for_an_inbox_folder_or_the_history_is_refused(
    cli, sandbox, tmp_path, planted
):
    """Whoever drops files may plant links: a ``done`` link would have the run move the
    files wherever it points (a dangling history link, create a database there)."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "one.csv", activity_rows(3))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    log = tmp_path / "log.jsonl"
    if planted == "history":
        reports = reports_of(inbox)
        reports.mkdir()
        (reports / "history.sqlite").symlink_to(elsewhere / "planted.sqlite")
    else:
        (inbox / planted).symlink_to(elsewhere, target_is_directory=True)
    result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--log-file", log)
    assert result.code == 2, result.err
    assert "is a link" in result.err
    assert list(elsewhere.iterdir()) == []
    assert (inbox / "one.csv").exists() and sandbox.sandbox.stats.puts == 0
    (run,) = log_lines(log)
    assert run["event"] == "run" and "is a link" in run["error"]


def test_a_log_disk_without_room_stops_the_run_before_any_file_is_touched(
    cli, sandbox, tmp_path, monkeypatch
):
    from importer import inbox as inbox_module

    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "one.csv", activity_rows(3))
    monkeypatch.setattr(inbox_module, "LOG_ROOM", 1 << 62)  # more than any disk has
    result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--log-file", tmp_path / "l.jsonl")
    assert result.code == 2 and "No space left" in result.err, result.err
    assert (inbox / "one.csv").exists() and sandbox.sandbox.stats.puts == 0


def test_a_log_that_fails_after_a_file_was_imported_is_said_not_called_nothing_done(
    cli, sandbox, tmp_path, monkeypatch
):
    """The disk fills up after the check: the file is imported and filed, the run says
    the log is incomplete (screen, notification) and its exit code follows what was done."""
    from importer import inbox as inbox_module
    from importer.errors import ReportError

    written = inbox_module._log

    def full_disk_for_files(log_file, line):
        if line.get("event") == "file":
            raise ReportError(f"cannot write the log {log_file} (No space left on device)")
        written(log_file, line)

    monkeypatch.setattr(inbox_module, "_log", full_disk_for_files)
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "one.csv", activity_rows(3))
    log = tmp_path / "l.jsonl"
    with notifications() as (url, received):
        result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--log-file", log, "--notify", url)
    assert result.code == 0, result.err
    assert "No space left" in result.err
    assert [p.name for p in (inbox / "done").iterdir()] == ["one.csv"]
    (message,) = received
    assert "The log is incomplete" in message["message"]


def test_refused_credentials_leave_a_line_for_the_file_that_waits(cli, make_sandbox, tmp_path):
    """The API refuses fresh tokens: the run's log says a file waits in processing/ (it
    said 'files: 0, left_in_processing: 0' and had no line for the file)."""
    box = make_sandbox()
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(inbox, "a.csv", activity_rows(5))

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"message": "Unauthenticated."}, status=401)

    log = tmp_path / "l.jsonl"
    with serve(_proxy_app(refuse)) as api:
        args = ["--api-url", f"{api.url}/activities", "--token-url", box.token_url, *NOW]
        result = cli("inbox", inbox, *args, "--log-file", log, "--retry-wait", "0")
    assert result.code == 2, result.err
    file_line, run_line = log_lines(log)
    assert file_line["event"] == "file" and file_line["outcome"] == "processing"
    assert "refused" in file_line["note"]
    assert run_line["left_in_processing"] == 1 and run_line["files"] == 1
