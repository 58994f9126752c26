"""Notifications an on-call person can act on, through the real CLI against the sandbox and a
real Apprise ``json://`` receiver on 127.0.0.1: a title that says the outcome, a body that
says what to fix and where the report is, targets from the config file and the command line
together, a failed delivery named (service and cause, never a token), and files still being
written said as such."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ..helpers import HEADER, activity_rows, api_args, write_csv
from ..servers import serve

pytestmark = pytest.mark.usefixtures("api_env")

NOW = ["--settle", "0", "--rate", "0", "--quiet"]
#: the four outcomes a title starts with, and nothing else
OUTCOMES = ("imported", "nothing new", "some rows need you", "failed to start")
#: what a notification URL may carry that is a secret: never shown
TOKEN = "tok3n-s3cr3t-4242"
TIMES = "\N{MULTIPLICATION SIGN}"  # between a count and its kind of error


@dataclass
class Receiver:
    """An Apprise ``json://`` target served on 127.0.0.1 and the messages it was sent."""

    url: str  # json://127.0.0.1:PORT/hook/<TOKEN>
    port: int
    messages: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def receiver(status: int = 200) -> Iterator[Receiver]:
    """A webhook that records every message and answers ``status``."""
    got: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.json_response({}, status=status)

    app = web.Application()
    app.router.add_post(f"/hook/{TOKEN}", hook)
    with serve(app) as served:
        port = int(served.url.rsplit(":", 1)[1])
        yield Receiver(f"json://127.0.0.1:{port}/hook/{TOKEN}", port, got)


def drop(folder: Path, name: str, rows: list[list[str]], age: float = 3600) -> Path:
    """A file dropped ``age`` seconds ago."""
    path = write_csv(folder / name, [HEADER, *rows])
    past = time.time() - age
    os.utime(path, (past, past))
    return path


def outcome_of(message: dict[str, Any]) -> str:
    """The outcome a title starts with (``cg-import: <outcome> — <detail>``)."""
    head = message["title"].split(" — ", 1)[0]
    assert head.startswith("cg-import: "), message["title"]
    outcome = head.removeprefix("cg-import: ")
    assert outcome in OUTCOMES, message["title"]
    return outcome


def run_lines(log: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line["event"] == "run"]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    return folder


# 1. the title says the outcome -----------------------------------------------------------


def test_new_rows_are_titled_imported(cli, sandbox, inbox):
    drop(inbox, "one.csv", activity_rows(3))
    with receiver() as hook:
        assert cli("inbox", inbox, *api_args(sandbox), *NOW, "--notify", hook.url).code == 0
    (message,) = hook.messages
    assert outcome_of(message) == "imported" and message["type"] == "success", message
    assert "3 rows" in message["title"]


def test_a_file_whose_rows_were_all_imported_before_is_titled_nothing_new(cli, sandbox, inbox):
    """A cumulative export dropped again with its rows in another order is not the same
    file (no duplicate), but the history says every row is unchanged: nothing new."""
    rows = activity_rows(4)
    drop(inbox, "monday.csv", rows)
    assert cli("inbox", inbox, *api_args(sandbox), *NOW).code == 0
    drop(inbox, "tuesday.csv", list(reversed(rows)), age=200)
    drop(inbox, "monday-again.csv", rows, age=100)  # the same bytes: a duplicate
    with receiver() as hook:
        assert cli("inbox", inbox, *api_args(sandbox), *NOW, "--notify", hook.url).code == 0
    (message,) = hook.messages
    assert outcome_of(message) == "nothing new" and message["type"] == "success", message
    assert "all imported" not in message["title"]
    assert sandbox.sandbox.stats.puts == 4


def test_rows_not_imported_are_titled_some_rows_need_you(cli, sandbox, inbox):
    rows = activity_rows(3)
    rows[0][1] = ""  # no account
    drop(inbox, "one.csv", rows)
    with receiver() as hook:
        assert cli("inbox", inbox, *api_args(sandbox), *NOW, "--notify", hook.url).code == 1
    (message,) = hook.messages
    assert outcome_of(message) == "some rows need you" and message["type"] == "failure"


def test_refused_credentials_and_a_held_folder_are_titled_failed_to_start(
    cli, sandbox, inbox, monkeypatch
):
    from filelock import FileLock

    drop(inbox, "one.csv", activity_rows(2))
    with receiver() as hook:
        with FileLock(str(inbox / ".cg-import.lock")):
            assert cli("inbox", inbox, *api_args(sandbox), *NOW, "--notify", hook.url).code == 0
        monkeypatch.setenv("CG_CLIENT_SECRET", "wrong-secret")
        assert cli("inbox", inbox, *api_args(sandbox), *NOW, "--notify", hook.url).code == 2
    held, refused = hook.messages
    assert outcome_of(held) == "failed to start" and "another run" in held["title"]
    assert outcome_of(refused) == "failed to start" and refused["type"] == "failure"


# 2. the body says what to fix and names the report -----------------------------------------


def test_the_body_counts_the_top_error_kinds_and_names_the_report_file(cli, sandbox, inbox):
    rows = activity_rows(8, prefix="E")
    for row in rows[:3]:
        row[1] = ""  # no account: invalid
    for row in rows[3:5]:
        row[5] = "yesterday"  # no date: invalid
    rows[5][2] = "nobody@unknown.example"  # rejected by the API (422)
    drop(inbox, "errors.csv", rows)
    reports = inbox.with_name("in-reports")
    with receiver() as hook:
        assert cli("inbox", inbox, *api_args(sandbox), *NOW, "--notify", hook.url).code == 1
    (message,) = hook.messages
    body = message["message"]
    (report,) = reports.glob("errors-*Z.csv")
    (retry,) = reports.glob("errors-*Z.retry.xlsx")
    assert f"3 {TIMES} account: is required" in body, body
    assert (
        f"2 {TIMES} happened_at:" in body
        and f"1 {TIMES} contact: The selected contact is invalid" in body
    )
    assert body.index(f"3 {TIMES} account") < body.index(f"2 {TIMES} happened_at")
    assert body.index(f"2 {TIMES} happened_at") < body.index(f"1 {TIMES} contact")
    assert f"report: {report.name}" in body and f"retry file: {retry.name}" in body, body
    assert str(reports) in body  # and where they are


# 3. the config file's targets and the command line's together -----------------------------


def test_config_and_command_line_targets_combine_and_are_named_once_masked(
    cli, sandbox, inbox, tmp_path
):
    """The config file names two targets, the command line one of its own and one of the
    file's again: all three are told, each once, and the run says where each came from."""
    drop(inbox, "one.csv", activity_rows(2))
    log = tmp_path / "log.jsonl"
    with receiver() as first, receiver() as second, receiver() as flagged:
        config = tmp_path / "job.toml"
        config.write_text(
            f'inbox = "in"\napi_url = "{sandbox.api_url}"\ntoken_url = "{sandbox.token_url}"\n'
            f'settle = 0\nrate = 0\nnotify = ["{first.url}", "{second.url}"]\n',
            encoding="utf-8",
        )
        config.chmod(0o600)
        flags = ["--notify", flagged.url, "--notify", first.url, "--log-file", log]
        result = cli("inbox", "--config", config, *flags)
    assert result.code == 0, result.err
    assert [len(hook.messages) for hook in (first, second, flagged)] == [1, 1, 1]
    said = [line for line in result.err.splitlines() if "notif" in line]
    assert len(said) == 1, result.err
    (line,) = said
    assert line.endswith(
        f"JSON json://127.0.0.1:{first.port}, JSON json://127.0.0.1:{second.port} "
        f"(config file {config}); JSON json://127.0.0.1:{flagged.port} (--notify)"
    ), line
    assert TOKEN not in result.output and TOKEN not in log.read_text()
    (run,) = run_lines(log)
    assert [(n["from"], n["delivered"]) for n in run["notifications"]] == [
        (f"config file {config}", True),
        (f"config file {config}", True),
        ("--notify", True),
    ]


# 4. a notification that cannot be delivered is named, with its cause ----------------------


def test_a_refused_notification_names_the_service_and_cause_and_keeps_the_exit_code(
    cli, sandbox, inbox, tmp_path
):
    rows = activity_rows(2)
    rows[0][1] = ""  # one row not imported: exit 1, whatever the notification does
    drop(inbox, "one.csv", rows)
    log = tmp_path / "log.jsonl"
    with receiver(status=500) as hook:
        result = cli(
            "inbox", inbox, *api_args(sandbox), *NOW, "--notify", hook.url, "--log-file", log
        )
    assert result.code == 1, result.err
    assert len(hook.messages) == 1  # it was tried
    warning = next(line for line in result.err.splitlines() if "not be delivered" in line)
    assert f"json://127.0.0.1:{hook.port}" in warning and "HTTP 500" in warning, warning
    assert TOKEN not in result.output and TOKEN not in log.read_text()
    (run,) = run_lines(log)
    assert run["exit"] == 1
    (told,) = run["notifications"]
    assert told["delivered"] is False and told["cause"] == "HTTP 500", told
    assert told["service"].startswith("JSON json://127.0.0.1:")


def test_an_unreachable_notification_says_connection_refused_and_the_run_stays_a_success(
    cli, sandbox, inbox, tmp_path
):
    drop(inbox, "one.csv", activity_rows(2))
    log = tmp_path / "log.jsonl"
    closed = f"json://user:{TOKEN}@127.0.0.1:9/hook/{TOKEN}"
    result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--notify", closed, "--log-file", log)
    assert result.code == 0, result.err
    warning = next(line for line in result.err.splitlines() if "not be delivered" in line)
    assert "json://127.0.0.1:9" in warning and "connection refused" in warning, warning
    assert TOKEN not in result.output and TOKEN not in log.read_text()
    (run,) = run_lines(log)
    assert run["exit"] == 0 and run["notifications"][0]["cause"] == "connection refused"


# 5. a file still being written is said, not counted as nothing ----------------------------


def test_a_file_still_being_written_is_logged_and_notified_as_waiting(
    cli, sandbox, inbox, tmp_path
):
    drop(inbox, "fresh.csv", activity_rows(2), age=1)
    log = tmp_path / "log.jsonl"
    args = [*api_args(sandbox), "--settle", "600", "--quiet", "--log-file", log]
    with receiver() as hook:
        assert cli("inbox", inbox, *args, "--notify", hook.url).code == 0
    (run,) = run_lines(log)
    assert run["waiting"] == 1 and run["waiting_files"] == ["fresh.csv"], run
    (message,) = hook.messages
    assert outcome_of(message) == "nothing new"
    assert "nothing new yet: 1 file still being written" in message["message"]
    assert "fresh.csv" in message["message"] and sandbox.sandbox.stats.puts == 0
    # and a person at the terminal is told too
    result = cli("inbox", inbox, *api_args(sandbox), "--settle", "600")
    assert result.code == 0 and "still being written: fresh.csv" in result.out, result.output


@pytest.mark.usefixtures("api_env")
def test_an_at_sign_in_a_notification_password_is_refused_never_shown_or_looked_up(
    cli, sandbox, inbox, tmp_path
):
    # Apprise would take the password's tail ("Secr3tXYZ") for the host, show it and ask
    # DNS for it: the run refuses the URL before anything is touched
    drop(inbox, "one.csv", activity_rows(2))
    log = tmp_path / "inbox.log"
    url = "json://ops:Sup3r@Secr3tXYZ@127.0.0.1:9/hook"
    result = cli("inbox", inbox, *api_args(sandbox), *NOW, "--log-file", log, "--notify", url)
    assert result.code == 2
    assert "write that '@' as %40" in result.err
    assert "Secr3t" not in result.out + result.err and "Sup3r" not in result.err
    assert not log.exists() or "Secr3t" not in log.read_text(encoding="utf-8")
    assert (inbox / "one.csv").exists()  # nothing moved
