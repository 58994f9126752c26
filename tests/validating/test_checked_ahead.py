"""A large CSV is read and checked in a second process (``importer/checked_ahead.py``).

Whichever process checks a slice, every row must get the same outcome and the same body
(a duplicate is a duplicate of a row another slice held), a file broken further on must
stop the run the same way, a child that dies must stop the run instead of losing rows, and
no child may outlive its run: not after Ctrl-C, not after the parent is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer import checked_ahead as checking
from importer.checked_ahead import Checked, Checker
from importer.errors import ImporterError
from importer.mapping import plan_columns
from importer.read import ReadOptions, open_table
from importer.sandbox import RunningSandbox
from importer.validate import ChunkResult, Validator

from ..helpers import (
    FAST_WIDE,
    HEADER,
    CliResult,
    activity_rows,
    all_gone,
    api_args,
    assert_a_broken_file_stops_both_ways_alike,
    children_of,
    read_report,
    start_run,
    wait_until,
    write_csv,
)

FIRST, CHUNK_ROWS = 40, 300  # slices: many of them from a few thousand rows


def mixed_rows(count: int) -> list[list[str]]:
    """Valid rows, invalid ones, rows without a reference (derived) and, far apart (in
    other slices), an exact duplicate and a second row of a reference."""
    rows = activity_rows(count)
    for i in range(3, count, 97):
        rows[i][5] = "the day after tomorrow"  # not a date: invalid
    for i in range(5, count, 101):
        rows[i][0] = ""  # no reference: derived from the row's content
    rows[count - 3] = list(rows[5])  # an exact duplicate of row 7, thousands of rows later
    rows[count - 2][0] = rows[10][0]  # the same reference again: sent after the first
    return rows


def checker_of(
    path: Path,
    *,
    child: bool,
    hashes: bool = False,
    read: ReadOptions | None = None,
    **options: bool,
) -> Checker:
    """A checker of ``path`` as a run makes one (small slices: many of them), the file read
    with ``read``'s reader."""
    table = open_table(path, options=read)
    plan = plan_columns(table.headers, None, path.name)
    validator = Validator(plan, "UTC", None, payloads=True)
    return Checker(table, validator, CHUNK_ROWS, first=FIRST, hashes=hashes, child=child, **options)


def checked_all(
    path: Path, *, child: bool, here_first: int = 0, read: ReadOptions | None = None
) -> tuple[list[Checked], int]:
    """Every slice of ``path``, checked as a run checks them (``here_first`` slices in this
    process before the child's are taken); and how many came from the child."""

    async def go() -> tuple[list[Checked], int]:
        checker = checker_of(
            path, child=child, hashes=True, read=read, local_first=bool(here_first)
        )
        try:
            if child and checking._START == "spawn":  # let it start: this file is soon done
                deadline = time.monotonic() + 60
                while not checker._child.ready() and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            slices = [await checker.next()] if here_first else []  # checked at once, here
            slices += [await checker._here() for _ in range(here_first - 1)]
            while (found := await checker.next()) is not None:
                slices.append(found)
            return [s for s in slices if s is not None], checker.child_slices
        finally:
            checker.close()

    return asyncio.run(go())


def assert_same(expected: list[Checked], found: list[Checked]) -> None:
    assert [s.number for s in found] == list(range(len(expected)))
    for want, got in zip(expected, found, strict=True):
        pd.testing.assert_frame_equal(got.chunk, want.chunk)
        assert got.final == want.final
        assert got.sendable == want.sendable
        assert got.hashes == want.hashes


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_the_child_checks_every_slice_as_this_process_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: str
) -> None:
    source = write_csv(tmp_path / "mixed.csv", [HEADER, *mixed_rows(3000)])
    here, from_child = checked_all(source, child=False)
    assert from_child == 0
    monkeypatch.setattr(checking, "_START", start)  # spawn: where fork is unsafe
    there, from_child = checked_all(source, child=True)
    assert len(there) > 10
    # a fork is ready at once: nothing is checked twice; a spawned child takes over after
    # the first slice, checked here at once
    assert from_child == len(there) - (start == "spawn")
    assert_same(here, there)
    final = {row: (status, errors) for s in here for row, status, _, _, _, _, errors in s.final}
    assert final[2999] == ("skipped", "reference: duplicate of row 7")  # 40-odd slices on
    assert final[5][0] == "invalid"


def test_slices_checked_here_are_not_taken_twice_and_the_child_knows_their_rows(
    tmp_path: Path,
) -> None:
    # the child checks from the first row: the duplicate in slice 40-odd is found although
    # the row it repeats was checked here, in this process, before the child took over
    source = write_csv(tmp_path / "mixed.csv", [HEADER, *mixed_rows(3000)])
    here, _ = checked_all(source, child=False)
    mixed, from_child = checked_all(source, child=True, here_first=2)
    assert 1 <= from_child <= len(here) - 2  # once the child's are taken, the rest are too:
    # the last slice, with the duplicate, is the child's
    assert_same(here, mixed)


def test_a_file_broken_further_on_stops_both_ways_alike(tmp_path: Path) -> None:
    assert_a_broken_file_stops_both_ways_alike(checked_all, tmp_path)


def test_a_child_that_dies_stops_the_run_instead_of_losing_rows(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "many.csv", [HEADER, *activity_rows(6000)])

    async def go() -> tuple[int, str]:
        checker = checker_of(source, child=True)
        try:
            rows = 0
            while checker.child_slices == 0:  # until the child's slices are the ones used
                found = await checker.next()
                assert found is not None
                rows += len(found.chunk)
            checker._process.kill()
            try:
                while (found := await checker.next()) is not None:
                    rows += len(found.chunk)  # what it handed over before it died
            except ImporterError as err:
                return rows, str(err)
            return rows, "no error"
        finally:
            checker.close()

    rows, message = asyncio.run(asyncio.wait_for(go(), timeout=60))
    assert rows < 6000
    assert message.startswith("the process checking the rows ended unexpectedly (killed by ")
    assert message.endswith("; run the command again")  # the CLI adds --resume once rows went


def test_close_leaves_no_child(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "many.csv", [HEADER, *activity_rows(6000)])

    async def go() -> object:
        checker = checker_of(source, child=True)
        await checker.next()
        process = checker._process
        checker.close()  # the child is still reading: closed half-way, as after Ctrl-C
        return process

    process = asyncio.run(go())
    with pytest.raises(ValueError):  # closed: nothing left of it
        process.is_alive()  # type: ignore[attr-defined]


# --- the real CLI, a file large enough for the second process --------------------------

#: rows of the runs stopped half-way: wide ones, so that the file is large enough for the
#: child with few rows (the report an interrupted run writes costs a second per 10,000)
STOPPED_ROWS = 4_000
#: rows of the runs whose child is stopped (SIGSTOP) while the parent still waits for it:
#: narrow and many, so that the child is far behind (wide ones fill the pipe in fewer
#: slices, and a child slowed by a busy machine had sometimes handed over all of them)
BEHIND_ROWS = 12_000


def large_csv(path: Path, count: int = 3_000, *, pad: int = 300) -> Path:
    """A CSV the second process checks: ``count`` mixed rows, each subject padded by
    ``pad`` characters so that a few thousand rows reach ``SECOND_PROCESS_BYTES``."""
    rows = mixed_rows(count)
    for row in rows:
        row[-1] += " " + "x" * pad
    source = write_csv(path, [HEADER, *rows])
    assert source.stat().st_size >= checking.SECOND_PROCESS_BYTES
    return source


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_a_large_csv_reports_every_row_as_a_small_one_would(
    make_sandbox: Callable[..., RunningSandbox],
    api_env: None,
    cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    source = large_csv(tmp_path / "large.csv")
    reports = []
    for threshold in (checking.SECOND_PROCESS_BYTES, 1 << 40):  # child, then this process
        monkeypatch.setattr(checking, "SECOND_PROCESS_BYTES", threshold)
        box = make_sandbox()
        report = tmp_path / f"report-{threshold}.csv"
        result = cli("run", source, "--report", report, *api_args(box), *FAST_WIDE)
        assert result.code == 1, result.output  # invalid rows
        reports.append(read_report(report))
        imported = {r["reference"] for r in reports[-1] if r["status"] == "imported"}
        assert len(box.sandbox.activities) == len(imported)
    child, here = reports
    assert len(child) == 3_000
    keep = ("source_row", "status", "reference", "errors", "Reference", "Subject")
    assert [{k: r[k] for k in keep} for r in child] == [{k: r[k] for k in keep} for r in here]
    statuses = {r["status"] for r in child}
    assert statuses == {"imported", "invalid", "skipped"}


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.parametrize("how", ["sigint", "sigkill"])
def test_no_child_outlives_its_run(
    make_sandbox: Callable[..., RunningSandbox], api_env: None, tmp_path: Path, how: str
) -> None:
    box = make_sandbox(latency=0.02)  # slow answers: the run is still sending when stopped
    source = large_csv(tmp_path / "large.csv", STOPPED_ROWS)
    report = tmp_path / "report.csv"
    argv = ["run", str(source), "--report", str(report), *api_args(box), *FAST_WIDE]
    proc = start_run(argv, tmp_path)  # its environment holds the sandbox's credentials
    try:
        wait_until(lambda: bool(children_of(proc.pid)), proc, timeout=60)
        children = children_of(proc.pid)
        wait_until(lambda: box.sandbox.stats.applied >= 200, proc, timeout=60)
        proc.send_signal(signal.SIGINT if how == "sigint" else signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert all_gone(children), f"{how}: the checking process outlived its run"
    if how == "sigint":
        assert proc.returncode == 130, err
        assert "--resume" in err
        lines = read_report(report)
        assert len(lines) == STOPPED_ROWS  # every row: sent, invalid, or not attempted
        assert {line["status"] for line in lines} >= {"imported", "skipped"}


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.timeout(120)
def test_a_checking_child_killed_mid_run_ends_the_run_with_its_report(
    make_sandbox: Callable[..., RunningSandbox], api_env: None, tmp_path: Path
) -> None:
    # killed at any moment the child is most likely half-way through writing a slice (its
    # slices are megabytes, the pipe holds 64 KiB): the run must end, not wait for the rest
    box = make_sandbox(latency=0.02)
    source = large_csv(tmp_path / "large.csv", STOPPED_ROWS)
    report = tmp_path / "report.csv"
    proc = start_run(
        ["run", str(source), "--report", str(report), *api_args(box), *FAST_WIDE], tmp_path
    )
    try:
        wait_until(lambda: bool(children_of(proc.pid)), proc, timeout=60)
        children = children_of(proc.pid)
        wait_until(lambda: box.sandbox.stats.applied >= 200, proc, timeout=60)
        for child in children:
            os.kill(child, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert all_gone(children)
    assert proc.returncode == 1, err  # rows were imported: what the journal holds was done
    assert "the process checking the rows ended unexpectedly (killed by signal 9" in err, err
    assert "--resume" in err
    lines = read_report(report)
    assert len(lines) == STOPPED_ROWS  # every row: sent, invalid, or not attempted
    assert {line["status"] for line in lines} >= {"imported", "skipped"}
    # the requests in flight when the child died got their answers (as after Ctrl-C): no
    # row the API took is reported as never attempted
    imported = {line["reference"] for line in lines if line["status"] == "imported"}
    assert imported == set(box.sandbox.activities)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.timeout(120)
def _stopped_child_run(
    box: RunningSandbox, tmp_path: Path, silence: float
) -> tuple[subprocess.Popen[str], list[int], Path]:
    """A run of ``BEHIND_ROWS`` rows whose checking child is stopped (SIGSTOP) once 200 rows went
    in, and which has sent what it was handed: it now waits on the child."""
    source = large_csv(tmp_path / "large.csv", BEHIND_ROWS, pad=0)
    report = tmp_path / "report.csv"
    patched = f"from importer import checked_ahead; checked_ahead.SILENCE = {silence}"
    argv = ["run", str(source), "--report", str(report), *api_args(box), *FAST_WIDE]
    proc = start_run(argv, tmp_path, prelude=patched)
    wait_until(lambda: bool(children_of(proc.pid)), proc, timeout=60)
    children = children_of(proc.pid)
    wait_until(lambda: box.sandbox.stats.applied >= 200, proc, timeout=60)
    for child in children:
        os.kill(child, signal.SIGSTOP)
    # no request for half a second (16 workers at 20 ms send one every 2 ms)
    wait_until(lambda: time.time() - (box.sandbox.stats.last_put or 0) > 0.5, proc, 60)
    return proc, children, report


@contextlib.contextmanager
def _ended(proc: subprocess.Popen[str], children: list[int]) -> Iterator[None]:
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        for child in children:  # a stopped child the run failed to end: not left stopped
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.timeout(120)
def test_a_stopped_checking_child_is_given_up_after_the_silence_limit(
    make_sandbox: Callable[..., RunningSandbox], tmp_path: Path
) -> None:
    # a stopped child is alive and silent: the run waits for it no longer than the limit
    box = make_sandbox(latency=0.02)
    proc, children, report = _stopped_child_run(box, tmp_path, silence=2.0)
    with _ended(proc, children):
        _, err = proc.communicate(timeout=60)
    assert all_gone(children)
    assert proc.returncode == 1, err  # rows were imported
    assert "the process checking the rows gave no sign of life for 2 seconds" in err, err
    assert "--resume" in err
    assert len(read_report(report)) == BEHIND_ROWS


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.timeout(120)
def test_sigterm_ends_a_run_whose_checking_child_is_stopped(
    make_sandbox: Callable[..., RunningSandbox], tmp_path: Path
) -> None:
    # a stop never waits for the next slice: not the silence limit (120 s here)
    box = make_sandbox(latency=0.02)
    proc, children, report = _stopped_child_run(box, tmp_path, silence=120.0)
    with _ended(proc, children):
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert all_gone(children)
    assert proc.returncode == 130, err
    assert "--resume" in err
    assert len(read_report(report)) == BEHIND_ROWS


# --- bodies encoded a column at a time: the bytes json.dumps gives --------------------

_TEXT = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(['"', "\\", "\x00", "é", "😀"]))


@given(
    rows=st.lists(
        st.tuples(st.text(min_size=1, max_size=8), _TEXT, _TEXT, _TEXT, _TEXT), max_size=8
    ),
    keys=st.sampled_from([(), ("Agent",), ("Agent", 'Pri"ority'), ("reference", "Subject ✓")]),
)
@settings(max_examples=150, deadline=None)
def test_encoded_bodies_are_what_json_dumps_gives(
    rows: list[tuple[str, str | None, str | None, str | None, str | None]],
    keys: tuple[str, ...],
) -> None:
    width = 3 + len(keys)
    frame = pd.DataFrame(
        [list(row[:width]) for row in rows],
        columns=pd.Index(["reference", "type", "subject", *keys], dtype=object),
        index=pd.RangeIndex(2, 2 + len(rows), name="source_row"),
        dtype=object,
    )
    result = ChunkResult(frame.iloc[:, :0], frame, keys, frame.iloc[:0, :0], 0)
    encoded = result.encoded_payloads()
    assert encoded == [
        (row, reference, json.dumps(body).encode()) for row, reference, body in result.payloads()
    ]
    assert len(encoded) == len(rows)
    for (number, reference, body), row, at in zip(encoded, rows, frame.index, strict=True):
        sent = json.loads(body)
        assert number == at and sent["reference"] == reference == row[0]
        assert (sent.get("type"), sent.get("subject")) == (row[1], row[2])
        info = {k: v for k, v in zip(keys, row[3:], strict=False) if v is not None}
        assert sent.get("additional_information_object", {}) == info


def test_a_large_csv_resumes_and_keeps_its_history_through_the_child(
    make_sandbox: Callable[..., RunningSandbox],
    api_env: None,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    # the bodies' digests come from the child; an edited row must be told from the others
    box = make_sandbox(latency=0.01)
    rows = activity_rows(3_000)
    for row in rows:  # wide rows: a file large enough for the child from few rows
        row[-1] += " " + "x" * 300
    source = write_csv(tmp_path / "large.csv", [HEADER, *rows])
    assert source.stat().st_size >= checking.SECOND_PROCESS_BYTES
    history = tmp_path / "history.sqlite"
    report = tmp_path / "report.csv"
    base = ["run", source, "--report", report, *api_args(box), "--history", history]

    proc = start_run([str(a) for a in [*base, *FAST_WIDE]], tmp_path)
    try:
        wait_until(lambda: box.sandbox.stats.applied >= 500, proc, timeout=60)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    applied = box.sandbox.stats.applied
    assert applied < 3_000

    resumed = cli(*base, *FAST_WIDE, "--resume")
    assert resumed.code == 0, resumed.output
    assert {line["status"] for line in read_report(report)} == {"imported"}
    assert len(box.sandbox.activities) == 3_000 and box.sandbox.stats.duplicates == 0
    assert box.sandbox.stats.puts <= 3_000 + 16 * 2  # only rows in flight at the stop again

    rows[2_321][6] = "Subject edited since"
    write_csv(source, [HEADER, *rows])
    again = tmp_path / "again.csv"
    changed = cli(*base[:3], again, *base[4:], *FAST_WIDE, "--only-changed")
    assert changed.code == 0, changed.output
    lines = read_report(again)
    assert [line["source_row"] for line in lines if line["status"] == "imported"] == ["2323"]
    assert sum(line["status"] == "unchanged" for line in lines) == 2_999


def test_a_large_sheet_is_checked_by_a_fork_as_here(
    tmp_path: Path, excel_reader: str, excel_options, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the fork shares the sheet calamine read when the file was opened (this process lets
    # go of it); the openpyxl path streams the workbook in the child
    from openpyxl import Workbook

    monkeypatch.setattr(checking, "SECOND_PROCESS_ROWS", 2_000)  # "large": a few slices
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Activities")
    for row in [HEADER, *mixed_rows(checking.SECOND_PROCESS_ROWS + 500)]:
        sheet.append(row)
    source = tmp_path / "large.xlsx"
    book.save(source)
    here, _ = checked_all(source, child=False, read=excel_options)
    table = open_table(source, options=excel_options)
    assert table.reader == excel_reader
    # the openpyxl path is for sheets beyond calamine's budget: megabytes, always a child
    assert checking.second_process(table) or excel_reader == "openpyxl"
    there, from_child = checked_all(source, child=True, read=excel_options)
    assert from_child == len(there)
    assert_same(here, there)


# --- a child that dies half-way through handing over a slice -----------------------------


def _handing_over(checker: Checker) -> bool:
    """Whether the child has begun to write a slice the parent has not read yet."""
    assert checker._child is not None
    return checker._child.ready()


@pytest.mark.timeout(30)
def test_a_child_killed_half_way_through_a_slice_stops_the_run_at_once(tmp_path: Path) -> None:
    # slices of 4,000 rows: megabytes each, far more than a pipe holds, so the child is
    # killed while it writes one and the parent reads half a message
    source = write_csv(tmp_path / "many.csv", [HEADER, *activity_rows(16_000)])

    async def go() -> str:
        table = open_table(source)
        validator = Validator(plan_columns(table.headers, None, source.name), "UTC", None)
        checker = Checker(table, validator, 4_000, first=4_000, hashes=False, child=True)
        try:
            assert (await checker.next()) is not None  # the child's first slice
            deadline = time.monotonic() + 20
            while not _handing_over(checker):
                assert time.monotonic() < deadline, "the child never began the next slice"
                await asyncio.sleep(0.01)
            checker._process.kill()
            with pytest.raises(ImporterError) as lost:
                while await checker.next() is not None:
                    pass
            return str(lost.value)
        finally:
            checker.close()

    started = time.monotonic()
    message = asyncio.run(go())
    assert time.monotonic() - started < 20
    assert message == (
        "the process checking the rows ended unexpectedly (killed by signal 9; out of "
        "memory?); run the command again"
    )
