"""``validate`` of a large CSV reads and checks it in a second process
(``importer/checked_aside.py``) while the first writes the report.

The report must be the same, byte for byte, as when one process does it all (invalid rows,
duplicates of derived references, rows that replace an earlier row's values, blank rows,
cells that need quotes or formula marks, a cell holding the byte the columns are packed
with); a file broken further on must stop both ways alike; a child that dies must stop
the command, not shorten its report; and no child may outlive its command.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from importer import checked_aside
from importer.checked_aside import _packed, _unpacked, checked_chunks
from importer.errors import ImporterError
from importer.mapping import plan_columns
from importer.read import open_table
from importer.report import cell_columns
from importer.validate import Validator

from ..helpers import (
    HEADER,
    CliResult,
    activity_rows,
    all_gone,
    assert_a_broken_file_stops_both_ways_alike,
    children_of,
    start_run,
    wait_until,
    write_csv,
)


def mixed_rows(count: int) -> list[list[str]]:
    """Rows of every kind a report tells apart, spread over many chunks."""
    rows = activity_rows(count)
    for i in range(3, count, 97):
        rows[i][5] = "the day after tomorrow"  # not a date: invalid
    for i in range(5, count, 101):
        rows[i][0] = ""  # no reference: derived from the row's content
    for i in range(7, count, 89):
        rows[i][1] = ""  # no account: invalid
    for i in range(11, count, 113):
        rows[i] = [""] * len(HEADER)  # a blank row: counted, not reported
    rows[20][-1] = '=1+2, said "she"\nin two lines'  # quotes, a formula mark, a line break
    rows[21][-1] = "zwölf \u2013 naïve"
    rows[200][-1] = "a\x00b"  # the byte the columns are packed with, far from the top
    rows[count - 3] = list(rows[5])  # an exact duplicate of a derived row, much later
    rows[count - 2][0] = rows[10][0]  # a reference again, with other values
    rows[count - 1][0] = rows[12][0]
    rows[count - 1][1:] = rows[12][1:]  # a reference again, with the same values
    return rows


def large_csv(path: Path, count: int, *, pad: int = 250) -> Path:
    rows = mixed_rows(count)
    for row in rows:
        if row[0] or row[1]:
            row[-1] += " " + "x" * pad  # a few thousand rows reach SECOND_PROCESS_BYTES
    source = write_csv(path, [HEADER, *rows])
    assert source.stat().st_size >= checked_aside.SECOND_PROCESS_BYTES
    return source


def summary_counts(report: Path) -> dict[str, object]:
    summary = json.loads(report.with_name(report.name + ".summary.json").read_text())
    return {
        k: v for k, v in summary.items() if k not in ("started", "finished", "duration_s", "report")
    }


def test_the_report_is_the_one_a_single_process_writes(
    cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = large_csv(tmp_path / "large.csv", 45_000, pad=0)  # three chunks
    found = []
    for aside in (True, False):
        monkeypatch.setattr(checked_aside, "second_process", lambda *_, aside=aside: aside)
        monkeypatch.setattr("importer.pipeline.second_process", lambda *_, aside=aside: aside)
        report = tmp_path / f"report-{aside}.csv"
        result = cli("validate", source, "--report", report)
        assert result.code == 1, result.output  # invalid rows
        found.append((report.read_bytes(), summary_counts(report)))
    (child_bytes, child_summary), (here_bytes, here_summary) = found
    assert child_bytes == here_bytes
    assert child_summary == here_summary
    text = child_bytes.decode("utf-8-sig")
    assert "also row 12, with other values" in text
    assert "duplicate of row 7" in text
    assert "'=1+2" in text and "zwölf \u2013 naïve" in text and "a\x00b" in text


def checked_all(path: Path, *, child: bool) -> list[tuple[int, int, str]]:
    table = open_table(path)
    plan = plan_columns(table.headers, None, path.name)
    validator = Validator(plan, "UTC", None, payloads=False)
    rows = []
    with checked_chunks(table, validator, 300, cell_columns(plan), child=child) as checked:
        for verdict in checked:
            rows.append((verdict.rows, verdict.blank_rows, str(verdict.outcomes.to_dict())))
    return rows


def test_a_file_broken_further_on_stops_both_ways_alike(tmp_path: Path) -> None:
    assert_a_broken_file_stops_both_ways_alike(checked_all, tmp_path)


def test_the_child_checks_every_chunk_as_this_process_does(tmp_path: Path) -> None:
    source = large_csv(tmp_path / "large.csv", 5_000)
    assert checked_all(source, child=True) == checked_all(source, child=False)


def test_a_child_that_dies_stops_validate_instead_of_losing_rows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "many.csv", [HEADER, *activity_rows(6000)])
    table = open_table(source)
    plan = plan_columns(table.headers, None, source.name)
    started = []
    real_child = checked_aside.Child
    monkeypatch.setattr(
        checked_aside, "Child", lambda *a, **k: started.append(real_child(*a, **k)) or started[-1]
    )
    validator = Validator(plan, "UTC", None, payloads=False)
    rows = 0
    with (
        pytest.raises(ImporterError) as raised,
        checked_chunks(table, validator, 300, cell_columns(plan), child=True) as checked,
    ):
        for verdict in checked:
            rows += verdict.rows  # what it handed over before it died is used
            started[0].process.kill()
    assert rows < 6000
    assert str(raised.value).startswith("the process checking the rows ended unexpectedly")
    with pytest.raises(ValueError):  # closed on the way out: nothing left of it
        started[0].process.is_alive()


AS_IF_A_CORE_WERE_FREE = (
    "from importer import checked_aside; checked_aside.free_core = lambda: True"
)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.parametrize("how", ["sigint", "sigkill"])
def test_no_child_outlives_its_validate(tmp_path: Path, how: str) -> None:
    source = write_csv(tmp_path / "many.csv", [HEADER, *activity_rows(300_000)])
    report = tmp_path / "report.csv"
    argv = ["validate", str(source), "--report", str(report)]
    # as if a core were free, however busy the machine
    proc = start_run(argv, tmp_path, prelude=AS_IF_A_CORE_WERE_FREE)
    try:
        wait_until(lambda: bool(children_of(proc.pid)), proc, timeout=60)
        children = children_of(proc.pid)
        proc.send_signal(signal.SIGINT if how == "sigint" else signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert all_gone(children), f"{how}: the checking process outlived its validate"
    if how == "sigint":
        assert proc.returncode == 130, err


@pytest.mark.parametrize(
    "cells",
    [["a", "", "zwölf"], [], [""], ["a\x00b", "c"], ["\x00"], ["x"] * 5],
)
def test_a_packed_column_unpacks_to_its_cells(cells: list[str]) -> None:
    column = np.array(cells, dtype=object).reshape(len(cells))
    back = _unpacked(_packed(column), len(cells))
    assert back.dtype == object and back.tolist() == cells


def test_a_second_process_only_where_a_core_is_free(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checked_aside.os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    for load, free in ((0.3, True), (1.9, True), (2.0, False), (7.5, False)):
        monkeypatch.setattr(checked_aside.os, "getloadavg", lambda load=load: (load, 0, 0))
        assert checked_aside.free_core() is free, load
    monkeypatch.setattr(checked_aside.os, "sched_getaffinity", lambda _: {0}, raising=False)
    monkeypatch.setattr(checked_aside.os, "getloadavg", lambda: (0.0, 0, 0))
    assert checked_aside.free_core() is False  # one core: nothing to run beside this process
