"""``run FILE --resume`` without ``--report`` finishes the newest run of that file's contents
in reports/, whatever its report was named: a run given its own ``--report`` and then
killed is the one to finish, not an older run of the same file that had finished."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

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


def test_resume_finishes_the_killed_run_not_an_earlier_finished_one(
    make_sandbox: Callable[..., RunningSandbox],
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # reports/ is the working folder's
    box = make_sandbox(latency=0.005)
    source = write_csv(tmp_path / "tickets.csv", [HEADER, *activity_rows(600)])
    where = [*api_args(box), "--rate", "0", "--quiet"]
    assert cli("run", source, *where).code == 0  # this morning's run: finished
    (earlier,) = Path("reports").glob("tickets-*.csv")

    killed = Path("reports") / "k9b.csv"
    proc = start_run(
        ["run", str(source), "--report", str(killed), *map(str, api_args(box)), "--rate", "150"],
        tmp_path,
    )
    try:
        wait_until(lambda: box.sandbox.stats.applied >= 600 + 100, proc, timeout=60)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not killed.exists()  # only its journal

    resumed = cli("run", source, *where, "--resume")
    assert resumed.code == 0, resumed.output
    assert len(read_report(killed)) == 600  # the killed run, finished
    assert {line["status"] for line in read_report(killed)} == {"imported"}
    assert sorted(Path("reports").glob("tickets-*.csv")) == [earlier]  # no new run


@pytest.mark.parametrize("name", ["a%62.csv", "t#1.csv", "q?x.csv"])
def test_a_report_name_with_uri_characters_is_read_as_a_name(
    sandbox: RunningSandbox,
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    # a journal is opened read-only through an SQLite URI: "%62" must not read as "b"
    monkeypatch.chdir(tmp_path)
    mine = write_csv(tmp_path / "x.csv", [HEADER, *activity_rows(3)])
    other = write_csv(tmp_path / "y.csv", [HEADER, *activity_rows(4, prefix="Y")])
    where = [*api_args(sandbox), "--rate", "0", "--quiet"]
    assert cli("run", mine, *where, "--report", "reports/ab.csv").code == 0
    assert cli("run", other, *where, "--report", f"reports/{name}").code == 0
    resumed = cli("run", mine, *where, "--resume")
    assert resumed.code == 0, resumed.output
    assert len(read_report(Path("reports/ab.csv"))) == 3
    assert sorted(p.name for p in Path("reports").iterdir() if "." not in p.name) == []
