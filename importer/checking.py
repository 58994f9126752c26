"""Read and check the rows ahead of the workers: a slice at a time, in a second process
for a large file.

Sending is CPU-bound when the API is fast: the requests, the journal and the report share
one interpreter lock, and every moment it spends reading a CSV, validating and encoding
rows in a thread is one the requests wait (measured: 30,000 rows sent at 0.89 of a bare
client's rate with the checks in a thread, 1.07 with them done beforehand). So a CSV file
of ``SECOND_PROCESS_BYTES`` or more (and, where the child is forked, a sheet of
``SECOND_PROCESS_ROWS`` or more) is read and checked by a child process, which hands over
each slice ready to use: the rows read (for the report), the outcomes of the rows that are
not sent, and the JSON bodies of the rest, already encoded.

On Linux the child is forked: it is ready at once, with everything already loaded, and
runs only the reading and checking code (never the event loop or its sockets). Elsewhere
it is spawned, a fresh interpreter that needs most of a second to import pandas and
pandera, so the parent checks the first slices itself meanwhile. The child checks the
file from its first row (a row's outcome can depend on earlier rows: a duplicate is one of
an earlier row), slices cut the same way, and the parent takes its slices from the first
one it has not done itself: the outcome of every row is the same whichever process checked
it.

The child ignores Ctrl-C and SIGTERM (the parent decides when the run stops, and closes
it), and leaves by itself if the parent goes away without closing it (killed).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import signal
import sys
import traceback
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .child import how_it_ended
from .errors import ImporterError
from .journal import Outcome
from .read import Table
from .validate import Validator

#: a file at least this large, or of this many rows (as far as its opening tells), is read
#: and checked in a second process (1 MiB of CSV: ~7,000 rows)
SECOND_PROCESS_BYTES = 1 << 20
SECOND_PROCESS_ROWS = 7_000
#: rows checked before the first request of a run: then twice as many each time
FIRST_SLICE = 1_000
#: slices the child may hold ready (its memory: a few chunks)
AHEAD = 3
#: how the child starts: a fork (at once, sharing what is loaded) where that is safe
_START = "fork" if sys.platform == "linux" else "spawn"
#: how often a blocked side looks whether the other is still there (seconds)
_LOOK = 0.5


@dataclass
class Checked:
    """One slice of the input, read and checked."""

    number: int  # slices counted from 0, in file order
    chunk: pd.DataFrame  # the rows as read (blank ones included): the report shows them
    final: list[Outcome]  # rows that are not sent (invalid, duplicates) with their outcome
    #: (source row, reference, JSON body) of every row that may be sent
    sendable: list[tuple[int, str, bytes]] = field(default_factory=list)
    #: the body's digest (``ChunkResult.payload_hashes``) for each sendable row, if asked
    hashes: list[bytes] = field(default_factory=list)


def check_slice(validator: Validator, chunk: pd.DataFrame, number: int, hashes: bool) -> Checked:
    """Check ``chunk``: the outcomes of rows not to send, and the bodies of the others."""
    result = validator.check(chunk)
    final = result.outcomes[result.outcomes["status"] != "valid"]
    outcomes: list[Outcome] = [
        (int(row), str(o.status), _text(o.reference), None, None, None, _text(o.errors))
        for row, o in zip(final.index, final.itertuples(), strict=True)
    ]
    digests = result.payload_hashes() if hashes else []
    return Checked(number, chunk, outcomes, result.encoded_payloads(), digests)


def ramped(chunks: Iterator[pd.DataFrame], first: int = FIRST_SLICE) -> Generator[pd.DataFrame]:
    """``chunks`` cut so that sending starts at once: ``first`` rows, then twice as many
    each time, until whole chunks follow (a chunk's rows are checked before any is sent,
    so a first chunk of 20,000 rows would keep the workers idle for a third of a second)."""
    size = first
    for chunk in chunks:
        start = 0
        while len(chunk) - start > size:
            yield chunk.iloc[start : start + size]
            start += size
            size *= 2
        yield chunk.iloc[start:] if start else chunk


def second_process(table: Table) -> bool:
    """Whether ``table`` is worth a process of its own: a file of some size or rows; a
    workbook only where the child is forked (it shares the sheet calamine read when the
    file was opened; a spawned child would read the whole workbook again)."""
    if table.kind != "csv" and _START != "fork":
        return False
    if (table.estimated_rows or 0) >= SECOND_PROCESS_ROWS:
        return True
    try:
        return table.path.stat().st_size >= SECOND_PROCESS_BYTES
    except OSError:
        return False


class Checker:
    """The slices of ``table`` checked by ``validator``, in order (``next``), from this
    process (a thread) or, for a large file, from a child process. A forked child is ready
    at once; a spawned one (or any, with ``local_first``) once it has caught up with the
    slices this process checks meanwhile."""

    def __init__(
        self,
        table: Table,
        validator: Validator,
        chunk_rows: int,
        *,
        hashes: bool,
        first: int = FIRST_SLICE,
        child: bool | None = None,
        local_first: bool = False,
    ) -> None:
        self._validator = validator
        self._hashes = hashes
        self._chunks: Generator[pd.DataFrame] | None = ramped(table.chunks(chunk_rows), first)
        self._number = 0  # the next slice wanted
        self._closed = False
        self._process: Any = None  # multiprocessing's process: its types are not public
        self._queue: Any = None
        self.child_slices = 0  # slices the child checked that were used (for tests)
        if child if child is not None else second_process(table):
            context: Any = multiprocessing.get_context(_START)
            self._queue = context.Queue(maxsize=AHEAD)
            try:
                self._process = context.Process(
                    target=_child,
                    args=(table, validator, chunk_rows, first, hashes, self._queue),
                    name="cg-import checks",
                    daemon=True,
                )
                self._process.start()
            except OSError:  # no process to be had (limits): this one checks every row
                self._process = self._queue = None
            else:
                if _START == "fork" and not local_first:
                    self._drop_reader()  # a fork is ready at once: nothing to check here
                    table._calamine = None  # the child has the sheet: this process lets go
        # the first slice is checked at once, beside whatever the run does before it asks
        # (the token request): the first request leaves as soon as the run may send
        self._ahead: asyncio.Future[Checked | None] | None = (
            asyncio.ensure_future(self._here()) if self._chunks is not None else None
        )

    async def next(self) -> Checked | None:
        """The next slice; None after the last. An unreadable file raises ``InputError``."""
        if self._ahead is not None:
            ahead, self._ahead = self._ahead, None
            return await ahead
        if self._queue is None:
            return await self._here()
        if self._chunks is not None:
            handed = await asyncio.to_thread(self._from_child, False)
            if handed is None:
                return await self._here()
            self._drop_reader()  # the child has caught up: it does the rest
        else:
            handed = await asyncio.to_thread(self._from_child, True)
        return self._take(handed)

    def close(self) -> None:
        """Stop the child, if any (it holds nothing that needs finishing)."""
        self._closed = True
        ahead, self._ahead = self._ahead, None
        if ahead is not None and not (ahead.done() and ahead.cancelled()):
            if ahead.done():
                ahead.exception()  # never asked for (e.g. the token was refused): let it go
            else:
                ahead.cancel()
        self._drop_reader()
        process, self._process = self._process, None
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(timeout=5)
            with contextlib.suppress(Exception):
                process.close()
        if self._queue is not None:
            self._queue.close()
            self._queue.cancel_join_thread()

    def _drop_reader(self) -> None:
        chunks, self._chunks = self._chunks, None
        if chunks is not None:
            with contextlib.suppress(ValueError):  # running in a thread: it ends with it
                chunks.close()

    async def _here(self) -> Checked | None:
        """The next slice, read and checked in a thread of this process."""
        chunks = self._chunks
        assert chunks is not None
        chunk = await asyncio.to_thread(next, chunks, None)
        if chunk is None:
            return None
        number, self._number = self._number, self._number + 1
        return await asyncio.to_thread(check_slice, self._validator, chunk, number, self._hashes)

    def _from_child(self, wait: bool) -> tuple[str, Any] | None:
        """The child's next message about the slice wanted or a later one (slices this
        process has checked itself are dropped); None if it has none ready (``wait``
        False) or the checker was closed."""
        while True:
            try:
                message = self._queue.get(timeout=_LOOK) if wait else self._queue.get_nowait()
            except queue.Empty:
                if not wait or self._closed:
                    return None
                if self._process is None or not self._process.is_alive():
                    return self._from_gone_child()
                continue
            except (OSError, EOFError, ValueError):  # the queue closed under us
                return None if self._closed else self._from_gone_child()
            kind, payload = message
            if kind == "slice" and payload.number < self._number:
                wait = True  # checked here already; the child is under way: it catches up
                continue  # faster than this process checks the next one
            return message

    def _from_gone_child(self) -> tuple[str, Any]:
        try:  # what it sent before it went is still good
            return self._queue.get(timeout=_LOOK)
        except (queue.Empty, OSError, EOFError, ValueError):
            code = None if self._process is None else self._process.exitcode
            return ("gone", code)

    def _take(self, handed: tuple[str, Any] | None) -> Checked | None:
        if handed is None:  # closed while waiting
            return None
        kind, payload = handed
        if kind == "slice":
            self._number = payload.number + 1
            self.child_slices += 1
            return payload
        if kind == "end":
            return None
        if kind == "error":
            raise payload
        if kind == "crash":
            raise RuntimeError(f"checking the rows failed in the second process:\n{payload}")
        how = how_it_ended(payload)
        raise ImporterError(
            f"the process checking the rows ended unexpectedly ({how}); run the "
            "command again with --resume: the rows sent are kept"
        )


def _child(
    table: Table,
    validator: Validator,
    chunk_rows: int,
    first: int,
    hashes: bool,
    out: Any,
) -> None:
    """The child's whole life: check every slice, hand each over, then say it ended."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.set_wakeup_fd(-1)  # a fork's signals must not wake the parent's event loop
    parent = multiprocessing.parent_process()

    def hand(message: tuple[str, Any]) -> bool:
        while True:
            try:
                out.put(message, timeout=_LOOK)
                return True
            except queue.Full:
                if parent is not None and not parent.is_alive():
                    return False

    try:
        for number, chunk in enumerate(ramped(table.chunks(chunk_rows), first)):
            if not hand(("slice", check_slice(validator, chunk, number, hashes))):
                return
        hand(("end", None))
    except ImporterError as err:
        hand(("error", err))
    except Exception as err:  # a defect: the parent tells it with the child's traceback
        hand(("crash", "".join(traceback.format_exception(err))))
    finally:
        if parent is not None and not parent.is_alive():
            out.cancel_join_thread()  # nobody reads what is left in the pipe


def _text(value: object) -> str | None:
    return (
        None
        if value is None or value is pd.NA or (isinstance(value, float) and value != value)
        else str(value)
    )
