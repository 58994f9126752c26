"""``validate`` of a large CSV on two cores: a second process reads and checks the rows
while this one writes the report.

Measured on 1,000,000 rows, one process spends about as long reading and checking the
rows (parsing, cleaning, the dates, the schema, the shared references) as writing their
report lines. So a CSV file of ``SECOND_PROCESS_BYTES`` or more is read and checked by a
child (``child.Child``), in the same chunks, with the same ``Validator``, from the first row
to the last (an outcome may depend on earlier rows): it hands over each chunk's verdict
(status, reference and errors of each row, and the hashes that tell a row replacing an
earlier row's values, ``shared_references.row_hashes``) and the rows' cells, each column
packed into one text (``_packed``: a few large strings pickle and travel at the speed of
memory, millions of small ones do not); this process finds the shared references and
writes the report lines (the work is split so that both take about as long). Every line
is the same as when one process does it all.

Only where a core is free (``free_core``): on a machine whose cores are all busy, the
hand-over's cost makes two processes slower than one.

The child ignores Ctrl-C and SIGTERM and leaves with this process (``child.py``); every
wait for it is bounded (``SILENCE``); leaving the ``with`` block, however, kills and reaps
it. A child that dies stops the command with an error that says so. A workbook (input or
report), or a smaller file, is checked here, chunk after chunk, as before.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import child as _child_process
from .child import Child, ChildLost, End
from .errors import ImporterError
from .read import Table
from .report import as_text, original_cells, sent_cells
from .shared_references import row_hashes
from .validate import Validator

#: a CSV file at least this large is checked by a second process (as for ``run``,
#: ``checked_ahead.py``: 1 MiB, about 7,000 rows)
SECOND_PROCESS_BYTES = 1 << 20
#: chunks the child may have checked ahead of the report (its memory: a few chunks)
AHEAD = 4
#: how long the child may say nothing while a chunk is awaited (seconds)
SILENCE = _child_process.SILENCE
#: before each cell of a packed column (a cell holding one is sent as it is)
_CELL = "\x00"


@dataclass
class Verdict:
    """One chunk, checked: its rows' outcomes (blank rows left out) and their cells."""

    rows: int  # rows read, blank ones included
    outcomes: pd.DataFrame  # index source_row; status, reference, errors
    #: the original cells of the outcomes' rows: the chunk as read, or its columns
    cells: pd.DataFrame | list[np.ndarray]
    blank_rows: int
    #: the rows' ``row_hashes`` (found by the child: the report's process does not hash)
    hashed: tuple[np.ndarray, np.ndarray] | None


def second_process(table: Table, report_suffix: str) -> bool:
    """Whether ``table`` is a CSV file large enough to be checked by a second process
    (for a CSV report: a workbook report checks every cell for Excel, here), on a machine
    with a core to spare (``free_core``)."""
    if table.kind != "csv" or report_suffix.lower() != ".csv":
        return False
    try:
        large = table.path.stat().st_size >= SECOND_PROCESS_BYTES
    except OSError:
        return False
    return large and free_core()


def free_core() -> bool:
    """Whether a second process would find a core to run on: this process may use two or
    more, and fewer tasks than that were runnable over the last minute (the load average).

    Handing the rows over costs CPU (packing, the pipe, unpacking: about a fifth more in
    all, measured on 1,000,000 rows); that pays where the second process runs beside this
    one, not on a machine whose cores are all taken: there both processes only get their
    share, and one process does the same work with less CPU.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not told (Windows): as if idle
        load = 0.0
    return (cores or 1) >= 2 and load < (cores or 1)


@contextlib.contextmanager
def checked_chunks(
    table: Table,
    validator: Validator,
    chunk_rows: int,
    cell_columns: dict[str, int],
    *,
    child: bool = False,
) -> Iterator[Iterator[Verdict]]:
    """Within: the ``Verdict`` of each chunk of ``table``, in file order, checked by a
    child process (``child``, where one can be had) or here."""
    process: Child | None = None
    if child:
        with contextlib.suppress(OSError):  # no process to be had (limits): checked here
            process = Child(
                _check_all,
                table,
                validator,
                chunk_rows,
                cell_columns,
                name="cg-import checks",
                start=_child_process.START,
            )
    try:
        if process is None:
            yield _checked_here(table, validator, chunk_rows)
        else:
            yield _checked_aside(process)
    finally:
        if process is not None:
            process.close()


def _checked_here(table: Table, validator: Validator, chunk_rows: int) -> Iterator[Verdict]:
    for chunk in table.chunks(chunk_rows):
        result = validator.check(chunk)
        yield Verdict(len(chunk), result.outcomes, chunk, result.blank_rows, None)


def _checked_aside(process: Child) -> Iterator[Verdict]:
    while True:
        try:
            kind, payload = process.recv(silence=SILENCE)
        except ChildLost as lost:
            raise ImporterError(
                f"the process checking the rows {lost.how()}; run the command again"
            ) from None
        if kind == "end":
            return
        if kind == "error":
            raise payload
        if kind == "crash":
            raise RuntimeError(f"checking the rows failed in the second process:\n{payload}")
        verdict: Verdict = payload
        rows = len(verdict.outcomes)
        verdict.cells = [_unpacked(column, rows) for column in verdict.cells]
        yield verdict


def _check_all(
    end: End, table: Table, validator: Validator, chunk_rows: int, cell_columns: dict[str, int]
) -> None:
    """The child's whole life: check every chunk, hand it over, then say it ended."""
    # a thread hands the chunks over while the next one is checked; AHEAD chunks handed
    # over and not yet read (one of them being written)
    ready: queue.Queue[tuple[str, Any] | None] = queue.Queue(maxsize=AHEAD - 1)
    writer = threading.Thread(target=_hand_over, args=(end, ready), name="verdicts", daemon=True)
    writer.start()
    width = len(table.headers)
    try:
        for chunk in table.chunks(chunk_rows):
            result = validator.check(chunk)
            outcomes = result.outcomes
            original = original_cells(outcomes, chunk, width)
            hashed = row_hashes(as_text(outcomes["reference"]), sent_cells(original, cell_columns))
            packed = [_packed(column) for column in original]
            verdict = Verdict(len(chunk), outcomes, packed, result.blank_rows, hashed)
            ready.put(("chunk", verdict))
        ready.put(("end", None))
    except ImporterError as err:
        ready.put(("error", err))
    except Exception as err:  # a defect: the parent tells it with the child's traceback
        ready.put(("crash", "".join(traceback.format_exception(err))))
    ready.put(None)
    writer.join()


def _hand_over(end: End, ready: queue.Queue[tuple[str, Any] | None]) -> None:
    while (message := ready.get()) is not None:
        try:
            end.send(message)
        except ChildLost:
            os._exit(0)  # the parent is gone: nobody reads the rest


def _packed(column: np.ndarray) -> Any:
    """A column of texts as one text, each cell after ``_CELL``; as it is if a cell is
    not a text or holds ``_CELL`` itself."""
    cells = column.tolist()
    try:
        packed = _CELL + _CELL.join(cells)
    except TypeError:
        return column
    return packed if packed.count(_CELL) == len(cells) else column


def _unpacked(packed: Any, rows: int) -> np.ndarray:
    if not isinstance(packed, str):
        return np.asarray(packed, dtype=object)
    cells = np.empty(rows, dtype=object)
    if rows:
        cells[:] = packed[1:].split(_CELL)
    return cells
