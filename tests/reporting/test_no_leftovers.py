"""No leftovers: a run leaves beside its report only what it is for.

A run that stops before sending (credentials refused, a bad mapping, a usage error, Ctrl-C
before the first request) leaves no journal and no lock it created. The lock that keeps a
second run off the report goes away when the run ends, however it ends; the journal of a
run that sent something stays, as ``--resume`` needs it. Two runs at once are still
refused.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from importer.report_files import lock_report
from importer.sandbox import RunningSandbox

from ..helpers import (
    HEADER,
    CliResult,
    activity_rows,
    api_args,
    read_report,
    start_run,
    wait_until,
    write_csv,
)

FAST = ["--quiet", "--rate", "0", "--retry-wait", "0.01"]


def _names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def _no_lock_nor_journal(folder: Path) -> None:
    left = [n for n in _names(folder) if n.endswith(".lock") or ".journal.sqlite" in n]
    assert not left, _names(folder)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(5)])


def test_refused_credentials_leave_no_journal_nor_lock(
    sandbox: RunningSandbox,
    cli: Callable[..., CliResult],
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CG_CLIENT_ID", "demo-client")
    monkeypatch.setenv("CG_CLIENT_SECRET", "not-the-secret")  # the token URL answers 401
    folder = tmp_path / "reports"

    result = cli("run", source, "--report", folder / "r.csv", *api_args(sandbox), *FAST)

    assert result.code == 2, result.output
    assert sandbox.sandbox.stats.puts == 0
    _no_lock_nor_journal(folder)


def test_resume_with_nothing_to_resume_leaves_no_lock(
    sandbox: RunningSandbox,
    api_env: None,
    cli: Callable[..., CliResult],
    source: Path,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "reports"
    result = cli("run", source, "--report", folder / "r.csv", *api_args(sandbox), *FAST, "--resume")
    assert result.code == 2 and "nothing to resume" in result.err, result.output
    _no_lock_nor_journal(folder)


def test_a_bad_mapping_leaves_nothing(
    sandbox: RunningSandbox,
    api_env: None,
    cli: Callable[..., CliResult],
    source: Path,
    tmp_path: Path,
) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\naccount = "Kunde"\n', encoding="utf-8")
    folder = tmp_path / "reports"
    result = cli(
        "run", source, "--report", folder / "r.csv", "--mapping", mapping,
        *api_args(sandbox), *FAST,
    )  # fmt: skip
    assert result.code == 2 and "Kunde" in result.err, result.output
    _no_lock_nor_journal(folder)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_finished_run_keeps_its_journal_and_drops_its_lock(
    sandbox: RunningSandbox,
    api_env: None,
    cli: Callable[..., CliResult],
    source: Path,
    tmp_path: Path,
    suffix: str,
) -> None:
    folder = tmp_path / "reports"
    report = folder / f"r{suffix}"
    result = cli("run", source, "--report", report, *api_args(sandbox), *FAST)
    assert result.code == 0, result.output
    names = _names(folder)
    assert f"r{suffix}.lock" not in names, names
    assert f"r{suffix}.journal.sqlite" in names, names  # --resume and `runs_of` read it


def test_a_run_with_rows_not_imported_drops_its_lock(
    sandbox: RunningSandbox, api_env: None, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    rows = activity_rows(3)
    rows[1][1] = ""  # no account: invalid
    source = write_csv(tmp_path / "in.csv", [HEADER, *rows])
    folder = tmp_path / "reports"
    result = cli("run", source, "--report", folder / "r.csv", *api_args(sandbox), *FAST)
    assert result.code == 1, result.output
    assert "r.csv.lock" not in _names(folder), _names(folder)


def test_validate_drops_its_lock(
    cli: Callable[..., CliResult], source: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "reports"
    assert cli("validate", source, "--report", folder / "r.csv").code == 0
    assert _names(folder) == ["r.csv", "r.csv.summary.json", "r.summary.xlsx"]


def test_a_lock_left_by_a_killed_run_is_taken_and_removed(
    sandbox: RunningSandbox,
    api_env: None,
    cli: Callable[..., CliResult],
    source: Path,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "r.csv.lock").touch()  # what `kill -9` leaves: a file nobody holds
    result = cli("run", source, "--report", folder / "r.csv", *api_args(sandbox), *FAST)
    assert result.code == 0, result.output
    assert "r.csv.lock" not in _names(folder)


def test_a_held_lock_still_refuses_a_second_run_and_stays_its_holders(
    sandbox: RunningSandbox,
    api_env: None,
    cli: Callable[..., CliResult],
    source: Path,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    report = folder / "r.csv"
    held = lock_report(report)  # as another run holds it
    try:
        refused = cli("run", source, "--report", report, *api_args(sandbox), *FAST)
        assert refused.code == 2 and "another cg-import run" in refused.err, refused.output
        assert "r.csv.lock" in _names(folder)  # the holder's lock is not the refused run's
        assert sandbox.sandbox.stats.puts == 0
    finally:
        held.release()
    assert "r.csv.lock" not in _names(folder)
    assert cli("run", source, "--report", report, *api_args(sandbox), *FAST).code == 0


@pytest.mark.timeout(120)
def test_ctrl_c_keeps_the_journal_for_resume_and_drops_the_lock(
    make_sandbox: Callable[..., RunningSandbox],
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    box = make_sandbox(latency=0.02)
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(400)])
    folder = tmp_path / "reports"
    report = folder / "r.csv"
    argv = ["run", str(source), "--report", str(report), *api_args(box)]
    proc = start_run([*argv, "--rate", "50", "--quiet"], tmp_path)
    try:
        wait_until(lambda: box.sandbox.stats.applied >= 20, proc, timeout=60)
        assert "r.csv.lock" in _names(folder)  # held while the run goes
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, out + err
    names = _names(folder)
    assert "r.csv.lock" not in names and "r.csv.journal.sqlite" in names, names

    resumed = cli(*argv, "--resume", "--rate", "0", "--quiet")
    assert resumed.code == 0, resumed.output
    assert {line["status"] for line in read_report(report)} == {"imported"}
    assert "r.csv.lock" not in _names(folder)


@pytest.mark.timeout(120)
def test_ctrl_c_before_the_first_request_leaves_no_journal_nor_lock(
    make_sandbox: Callable[..., RunningSandbox], tmp_path: Path
) -> None:
    """The token URL is slow to answer; Ctrl-C while the run waits for it."""
    import socket

    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(5)])
    folder = tmp_path / "reports"
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        token_url = f"http://127.0.0.1:{silent.getsockname()[1]}/oauth2/token"
        box = make_sandbox()
        argv = [
            "run", str(source), "--report", str(folder / "r.csv"), "--quiet",
            "--api-url", box.api_url, "--token-url", token_url,
        ]  # fmt: skip
        proc = start_run(argv, tmp_path)
        try:
            journal = folder / "r.csv.journal.sqlite"
            wait_until(journal.exists, proc, timeout=60)
            time.sleep(0.3)  # the token request is on its way
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    _no_lock_nor_journal(folder)
