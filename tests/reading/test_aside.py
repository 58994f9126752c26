"""A large sheet loaded by a child process while this one scans it (``loading_child.Aside``).

What must hold: the child's rows are the rows this process would read; a sheet the scan
refuses never reaches this process through the child; a grid too large for memory makes
the child fail, not this process; a child that dies or a parent that dies leaves nothing
behind and says what happened.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from importer.errors import ImporterError, InputError
from importer.read import ReadOptions, calamine_rows, loading_child, open_table
from importer.read.calamine_rows import AsideSheet
from importer.read.cells import one_object_per_text
from importer.read.loading_child import Aside

from ..forkserver import launch
from ..helpers import HEADER, activity_rows, all_gone, children_of, read_report

pytestmark = pytest.mark.skipif(
    not loading_child.AVAILABLE, reason="the child is forked on Linux only"
)


# --- the child process itself -------------------------------------------------------------


def numbers(value: int, count: int) -> Iterator[int]:
    """Items made in the child: ``value``, ``value + 1``, … (``count`` of them)."""
    yield from range(value, value + count)


def refused(value: int, after: int) -> Iterator[int]:
    yield from range(value, value + after)
    raise InputError("row 7 cannot be read; save the file again")


def broken(value: int) -> Iterator[int]:
    yield value
    raise ZeroDivisionError("a defect")


def where(_: int) -> Iterator[int]:
    yield os.getpid()


def forty_two() -> int:
    return 42


@pytest.fixture
def served() -> Iterator[Aside]:
    """A child holding 42, loaded, serving iterators over it; ended after the test."""
    loader = Aside(forty_two, str, memory=1 << 28, what="reading the sheet")
    assert loader.loaded() == (True, "42")
    yield loader
    loader.close()


def test_items_are_made_by_the_child_from_what_it_loaded():
    loader = Aside(forty_two, lambda value: value * 2, memory=1 << 28, what="counting")
    try:
        assert loader.loaded() == (True, 84)
        assert list(loader.iterate(numbers, 3)) == [42, 43, 44]
        assert list(loader.iterate(where)) != [os.getpid()]
    finally:
        loader.close()


def test_an_iterator_left_half_way_does_not_confuse_the_next_one(served):
    first = served.iterate(numbers, 100)
    assert [next(first), next(first)] == [42, 43]
    first.close()  # left: the child holds the next item ready
    assert list(served.iterate(numbers, 2)) == [42, 43]
    served._ask(("next",))  # an answer never read (as when Ctrl-C stops a wait for it)
    assert list(served.iterate(numbers, 2)) == [42, 43]
    again = served.iterate(numbers, 5)
    assert next(again) == 42
    assert list(served.iterate(numbers, 1)) == [42]  # a new one while the first is open


def test_errors_in_the_child_are_raised_here(served):
    items = served.iterate(refused, 2)
    assert [next(items), next(items)] == [42, 43]
    with pytest.raises(InputError, match="row 7 cannot be read; save the file again"):
        next(items)
    with pytest.raises(RuntimeError, match=r"(?s)reading the sheet failed.*ZeroDivisionError"):
        list(served.iterate(broken))
    assert list(served.iterate(numbers, 1)) == [42]  # still serving


def too_much() -> bytearray:
    return bytearray(2 << 30)  # 2 GiB, touched


def test_a_load_beyond_the_memory_limit_fails_in_the_child_only():
    before = _peak_kb()
    loader = Aside(too_much, len, memory=256 << 20, what="loading")
    try:
        assert loader.loaded() == (False, None)
    finally:
        loader.close()
    assert _peak_kb() - before < 100_000  # this process never held it


def far_apart_book(path: Path, far: str) -> Path:
    book = openpyxl.Workbook()
    book.active.append(HEADER)
    book.active.append(activity_rows(1)[0])
    book.active[far] = "far"
    book.save(path)
    return path


def test_calamine_laying_out_a_huge_grid_fails_in_the_child_only(tmp_path):
    # cells at A1 and CV1048576: calamine would lay out 105 million cells, 3.4 GB
    path = far_apart_book(tmp_path / "far.xlsx", "CV1048576")
    started = time.monotonic()
    loader = Aside(
        functools.partial(calamine_rows.calamine_load, path, "Sheet"),
        calamine_rows._extent,
        memory=ReadOptions().aside_memory,
        what="reading the sheet",
    )
    try:
        assert loader.loaded() == (False, None)
    finally:
        loader.close()
    assert time.monotonic() - started < 30  # refused at the allocation, not after filling it


def test_a_child_killed_half_way_stops_the_reading_with_a_clear_line(served):
    items = served.iterate(numbers, 10)
    next(items)
    os.kill(served._process.pid, signal.SIGKILL)
    with pytest.raises(ImporterError) as stopped:
        list(items)
    assert str(stopped.value) == (
        "the process reading the sheet ended unexpectedly (killed by signal 9; out of "
        "memory?); run the command again"
    )


def test_close_ends_the_child_at_once(served):
    assert served.loaded() == (True, "42")  # asked again: the same answer
    process = served._process
    served.close()
    served.close()
    with pytest.raises(ValueError):  # closed: the process object is released
        process.is_alive()
    with pytest.raises(ImporterError, match="the process reading the sheet ended unexpectedly"):
        list(served.iterate(numbers, 1))


# --- reading a sheet through it -------------------------------------------------------------


def write_book(path: Path, rows: int) -> Path:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Activities")
    sheet.append(HEADER)
    for row in activity_rows(rows):
        sheet.append(row)
    sheet.append(["", "", "#REF!"])  # a row with no reference: invalid
    book.save(path)
    return path


#: every sheet large enough for the loading child
EVERY_SHEET_ASIDE = ReadOptions(aside_min_bytes=0)


def test_the_child_holds_the_sheet_and_lets_it_go_once_read(tmp_path):
    path = write_book(tmp_path / "book.xlsx", 60)
    table = open_table(path, load_aside=True, options=EVERY_SHEET_ASIDE)
    sheet = table._calamine.sheet
    assert isinstance(sheet, AsideSheet)
    process = sheet.aside._process
    assert process.is_alive() and process.pid != os.getpid()
    chunks = list(table.chunks(25))
    assert [len(chunk) for chunk in chunks] == [25, 25, 11]
    with pytest.raises(ValueError):
        process.is_alive()  # ended and released once the rows were read
    here = open_table(path)
    assert not isinstance(here._calamine.sheet, AsideSheet)
    pd.testing.assert_frame_equal(pd.concat(chunks), pd.concat(here.chunks(25)))


def test_the_childs_chunks_hold_one_object_per_repeated_text(tmp_path):
    path = write_book(tmp_path / "book.xlsx", 60)
    (chunk,) = open_table(path, load_aside=True, options=EVERY_SHEET_ASIDE).chunks(100)
    for column in chunk.columns:
        values = chunk[column].tolist()
        assert len({id(value) for value in values}) == len(set(values))
    assert one_object_per_text(["a", None, "a"]) == ["a", None, "a"]  # as it was


def test_a_sheet_the_scan_refuses_is_read_by_openpyxl_and_the_child_ended(tmp_path, monkeypatch):
    path = far_apart_book(tmp_path / "far.xlsx", "XFD1048576")
    started: list[Aside] = []
    real = calamine_rows.start_loading_child

    def watched(*args: object) -> Aside | None:
        loader = real(*args)  # type: ignore[arg-type]
        assert loader is not None
        started.append(loader)
        return loader

    monkeypatch.setattr(calamine_rows, "start_loading_child", watched)
    options = ReadOptions(calamine_max_bytes=1 << 40, aside_min_bytes=0)
    table = open_table(path, load_aside=True, options=options)
    assert table.reader == "openpyxl"
    assert len(started) == 1
    with pytest.raises(ValueError):
        started[0]._process.is_alive()  # killed and released when the scan said no


def test_validate_of_a_large_sheet_reports_what_this_process_would(tmp_path, cli):
    # large enough for the child at the default threshold
    path = write_book(tmp_path / "big.xlsx", 10_000)
    assert _sheet_bytes(path) >= ReadOptions().aside_min_bytes
    reports = {}
    for name, options in [("aside", ReadOptions()), ("here", ReadOptions(aside_min_bytes=1 << 40))]:
        report = tmp_path / f"{name}.csv"
        result = cli("validate", path, "--report", report, "--quiet", read=options)
        assert result.code == 1, result.err
        reports[name] = report.read_bytes()
    assert reports["aside"] == reports["here"]
    rows = read_report(tmp_path / "aside.csv")
    assert len(rows) == 10_001
    assert rows[-1]["status"] == "invalid"


def test_no_child_outlives_a_killed_validate(tmp_path):
    path = write_book(tmp_path / "big.xlsx", 10_000)
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from pathlib import Path
        from importer.read import open_table
        table = open_table(Path({str(path)!r}), load_aside=True)
        print(table._calamine.sheet.aside._process.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert all_gone([int(done.stdout.split()[0])])


def test_ctrl_c_during_validate_leaves_no_child(tmp_path):
    path = write_book(tmp_path / "big.xlsx", 30_000)
    report = tmp_path / "report.csv"
    process = launch(["validate", str(path), "--report", str(report)], dict(os.environ), tmp_path)
    children: set[int] = set()
    deadline = time.monotonic() + 60
    while not children and time.monotonic() < deadline and process.poll() is None:
        children = set(children_of(process.pid))
        time.sleep(0.02)
    assert children, "validate of a large sheet starts a child"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert all_gone(children)


# --- helpers -----------------------------------------------------------------------------


def _peak_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _sheet_bytes(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(i.file_size for i in archive.infolist() if i.filename.startswith("xl/work"))
