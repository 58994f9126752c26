"""``--only-changed`` with the history asked by the checks (``checked_ahead.py``).

The checking process asks the history which rows are unchanged and never builds their
bodies; the report takes their outcomes from memory. Whatever asks and wherever the report
lines come from, the run must report, send and remember exactly what it did when the first
process asked the history and every line was read back from the journal.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from importer import checked_ahead as checking
from importer import reconcile, sending
from importer.sandbox import RunningSandbox

from ..helpers import FAST_WIDE, HEADER, CliResult, activity_rows, api_args, write_csv


def _wide_rows(count: int) -> list[list[str]]:
    """Rows wide enough that a few thousand make a file checked by the second process."""
    rows = activity_rows(count)
    for row in rows:
        row[-1] += " " + "x" * 300
    return rows


def _edited(rows: list[list[str]]) -> list[list[str]]:
    """Tonight's export: some rows edited, one invalid, references repeated (a row's
    reference given to another row, a row copied), one row without a reference."""
    rows = [list(row) for row in rows]
    for i in (7, 1_500, 2_998):
        rows[i][6] = f"edited {i}"
    rows[40][5] = "not a date"
    rows[2_100][0] = rows[300][0]  # a second row of an unchanged reference: sent
    rows[2_500] = list(rows[2_400])  # a copy of an unchanged row: sent again
    rows[900][0] = ""  # no reference: derived, never imported before
    return rows


def _history_rows(path: Path) -> list[tuple[str, bytes, str]]:
    import sqlite3

    with sqlite3.connect(path) as db:
        found = db.execute(
            "SELECT reference, payload_hash, activity_id FROM imported ORDER BY reference"
        ).fetchall()
    return [tuple(row) for row in found]


def test_the_checks_ask_the_history_and_the_run_does_what_it_did_before(
    make_sandbox: Callable[..., RunningSandbox],
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    box = make_sandbox()
    rows = _wide_rows(3_000)
    source = write_csv(tmp_path / "large.csv", [HEADER, *rows])
    assert source.stat().st_size >= checking.SECOND_PROCESS_BYTES
    first = tmp_path / "history.sqlite"
    base = [*api_args(box), *FAST_WIDE]
    assert cli("run", source, "--report", tmp_path / "r0.csv", "--history", first, *base).code == 0
    write_csv(source, [HEADER, *_edited(rows)])

    def run(name: str) -> tuple[bytes, list[tuple[str, bytes, str]], int]:
        history = tmp_path / f"{name}.sqlite"
        shutil.copy(first, history)
        puts = box.sandbox.stats.puts
        report = tmp_path / f"{name}.csv"
        done = cli("run", source, "--report", report, "--history", history, "--only-changed", *base)
        assert done.code == 1, done.output  # the invalid row
        return report.read_bytes(), _history_rows(history), box.sandbox.stats.puts - puts

    asked_by_checks = run("checks")
    with monkeypatch.context() as patch:  # every line read back from the journal
        patch.setattr(reconcile._Slice, "outcomes", lambda self: None)
        from_journal = run("journal")
    with monkeypatch.context() as patch:  # the first process asks the history, as before
        patch.setattr(sending, "Lookup", lambda *args: None)
        asked_here = run("here")

    assert asked_by_checks == from_journal == asked_here
    report, _, sent = asked_by_checks
    text = report.decode("utf-8-sig")
    assert sent == 6  # three edited rows, the two repeated references, the derived one
    assert text.count(",imported,") == 6 and text.count(",invalid,") == 1
    assert text.count(",unchanged,") == 3_000 - 6 - 1


def test_a_broken_file_sends_nothing_though_its_first_rows_are_unchanged(
    make_sandbox: Callable[..., RunningSandbox],
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    box = make_sandbox()
    rows = _wide_rows(3_000)
    source = write_csv(tmp_path / "large.csv", [HEADER, *rows])
    history = tmp_path / "history.sqlite"
    base = [*api_args(box), *FAST_WIDE, "--history", history, "--only-changed"]
    assert cli("run", source, "--report", tmp_path / "r0.csv", *base).code == 0
    puts = box.sandbox.stats.puts
    for edited in (None, 2_900):  # nothing to send before the break, or a row after it
        if edited is not None:
            rows[edited][6] = "edited"
        write_csv(source, [HEADER, *rows])
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
        lines[2_001] = lines[2_001].replace(",Subject", ',"Subject', 1)  # row 2,002
        source.write_text("".join(lines), encoding="utf-8")
        done = cli("run", source, "--report", tmp_path / "r1.csv", *base)
        assert done.code == 2, done.output
        assert "row 2,002" in done.err and "never closed" in done.err
        assert box.sandbox.stats.puts == puts
        assert not (tmp_path / "r1.csv").exists()


@pytest.mark.parametrize("count", [30, 3_000])  # checked here, and by the second process
def test_a_new_history_then_every_row_unchanged(
    make_sandbox: Callable[..., RunningSandbox],
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
    count: int,
) -> None:
    box = make_sandbox()
    source = write_csv(tmp_path / "in.csv", [HEADER, *_wide_rows(count)])
    history = tmp_path / "new" / "history.sqlite"  # not there yet: the checks find nothing
    base = [*api_args(box), *FAST_WIDE, "--history", history, "--only-changed"]
    first = cli("run", source, "--report", tmp_path / "r1.csv", *base)
    assert first.code == 0, first.output
    assert box.sandbox.stats.puts == count
    again = cli("run", source, "--report", tmp_path / "r2.csv", *base)
    assert again.code == 0, again.output
    assert box.sandbox.stats.puts == count
    text = (tmp_path / "r2.csv").read_text(encoding="utf-8-sig")
    assert text.count(",unchanged,") == count


@pytest.mark.parametrize("count", [30, 3_000])
def test_a_history_that_is_no_sqlite_file_stops_the_run_in_one_line(
    make_sandbox: Callable[..., RunningSandbox],
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
    count: int,
) -> None:
    box = make_sandbox()
    source = write_csv(tmp_path / "in.csv", [HEADER, *_wide_rows(count)])
    history = tmp_path / "history.sqlite"
    history.write_bytes(b"not a database, " * 4_096)
    done = cli(
        "run", source, "--report", tmp_path / "r.csv", *api_args(box), *FAST_WIDE,
        "--history", history, "--only-changed",
    )  # fmt: skip
    assert done.code != 0
    assert "not a cg-import history" in done.err and "Traceback" not in done.err
    assert box.sandbox.stats.puts == 0
