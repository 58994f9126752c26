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

The child is a ``child.Child``: it ignores Ctrl-C and SIGTERM (the parent decides when the
run stops, and closes it) and leaves with the parent. A thread of the child writes the
slices to the pipe, so that it checks up to ``AHEAD`` slices ahead of the parent. A child
that dies, even half-way through a slice, or falls silent stops the run with an error that
says how (never a wait for ever); what it handed over before is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import pickle
import queue
import threading
import traceback
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from . import child as _child_process
from .child import Child, ChildLost, End
from .errors import ImporterError
from .history import Lookup, UnchangedRows
from .outcome import Outcome, Status
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
_START = _child_process.START
#: how long the child may say nothing while a slice is awaited (seconds): it is stuck
SILENCE = _child_process.SILENCE


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
    #: rows the history holds as they are, when the checks asked it (``lookup``): not in
    #: ``sendable``, their bodies never built
    unchanged: UnchangedRows | None = None
    looked_up: bool = False  # whether the history was asked here (then sendable is to send)


def check_slice(
    validator: Validator,
    chunk: pd.DataFrame,
    number: int,
    hashes: bool,
    lookup: Lookup | None = None,
) -> Checked:
    """Check ``chunk``: the outcomes of rows not to send, and the bodies of the others;
    with ``lookup`` (``--only-changed``), rows the history holds as they are apart."""
    result = validator.check(chunk)
    final = result.outcomes[result.outcomes["status"] != Status.VALID]
    outcomes: list[Outcome] = [
        Outcome(
            int(row), Status(str(o.status)), _text(o.reference), None, None, None, _text(o.errors)
        )
        for row, o in zip(final.index, final.itertuples(), strict=True)
    ]
    if not hashes:
        return Checked(number, chunk, outcomes, result.encoded_payloads())
    digests = result.payload_hashes()
    if lookup is None:
        return Checked(number, chunk, outcomes, result.encoded_payloads(), digests)
    references = result.sendable["reference"].tolist()
    found = lookup.unchanged(references, digests)
    unchanged = UnchangedRows.of(result.sendable.index.tolist(), references, found)
    if len(unchanged):  # their bodies are never sent: none is built
        keep = [i for i, hit in enumerate(found) if hit is None]
        result = dataclasses.replace(result, sendable=result.sendable.iloc[keep])
        digests = [digests[i] for i in keep]
    return Checked(number, chunk, outcomes, result.encoded_payloads(), digests, unchanged, True)


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
        lookup: Lookup | None = None,
        first: int = FIRST_SLICE,
        child: bool | None = None,
        local_first: bool = False,
    ) -> None:
        self._validator = validator
        self._hashes = hashes
        self._lookup = lookup
        self._chunks: Generator[pd.DataFrame] | None = ramped(table.chunks(chunk_rows), first)
        self._number = 0  # the next slice wanted
        self._closed = False
        self._silence = SILENCE
        self._child: Child | None = None
        self._process: Any = None  # multiprocessing's process: its types are not public
        self.child_slices = 0  # slices the child checked that were used (for tests)
        if child if child is not None else second_process(table):
            try:
                self._child = Child(
                    _check_all,
                    table,
                    validator,
                    chunk_rows,
                    first,
                    hashes,
                    lookup,
                    name="cg-import checks",
                    start=_START,
                )
            except OSError:  # no process to be had (limits): this one checks every row
                pass
            else:
                self._process = self._child.process
                if _START == "fork" and not local_first:
                    self._drop_reader()  # a fork is ready at once: nothing to check here
                    table._calamine = None  # the child has the sheet: this process lets go
        # the first slice is checked at once, beside whatever the run does before it asks
        # (the token request): the first request leaves as soon as the run may send
        self._ahead: asyncio.Future[Checked | None] | None = (
            asyncio.ensure_future(self._here()) if self._chunks is not None else None
        )

    @property
    def asks_history(self) -> bool:
        """Whether the checks ask the history (``lookup``) which rows are unchanged."""
        return self._lookup is not None

    async def next(self) -> Checked | None:
        """The next slice; None after the last. An unreadable file raises ``InputError``."""
        if self._ahead is not None:
            ahead, self._ahead = self._ahead, None
            return await ahead
        if self._child is None:
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
        if self._child is not None:
            self._child.close()  # a read under way in a thread ends within a step

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
        return await asyncio.to_thread(
            check_slice, self._validator, chunk, number, self._hashes, self._lookup
        )

    def _from_child(self, wait: bool) -> tuple[str, Any] | None:
        """The child's next message about the slice wanted or a later one (slices this
        process has checked itself are dropped); None if it has none ready (``wait``
        False) or the checker was closed. Its loss is a message too: ("gone", ChildLost)."""
        child = self._child
        assert child is not None
        while True:
            if not wait and not child.ready():
                return None
            try:
                message: tuple[str, Any] = child.recv(silence=self._silence)
            except ChildLost as lost:  # what it sent before it went was read first
                return None if self._closed else ("gone", lost)
            kind, payload = message
            if kind == "slice" and payload.number < self._number:
                wait = True  # checked here already; the child is under way: it catches up
                continue  # faster than this process checks the next one
            return message

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
        # once rows were sent, the run's stop adds how to finish it (--resume); before
        # that, nothing is kept and there is nothing to resume
        raise ImporterError(f"the process checking the rows {payload.how()}; run the command again")


def _check_all(
    end: End,
    table: Table,
    validator: Validator,
    chunk_rows: int,
    first: int,
    hashes: bool,
    lookup: Lookup | None,
) -> None:
    """The child's whole life: check every slice, hand each over, then say it ended."""
    # a slice is megabytes and the pipe holds kilobytes: a thread writes them, the child
    # checks on; AHEAD slices handed over and not yet read (one of them being written)
    ready: queue.Queue[bytes | None] = queue.Queue(maxsize=AHEAD - 1)
    writer = threading.Thread(target=_write, args=(end, ready), name="hand-over", daemon=True)
    writer.start()

    def hand(message: tuple[str, Any]) -> None:
        ready.put(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))

    try:
        for number, chunk in enumerate(ramped(table.chunks(chunk_rows), first)):
            hand(("slice", check_slice(validator, chunk, number, hashes, lookup)))
        hand(("end", None))
    except ImporterError as err:
        hand(("error", err))
    except Exception as err:  # a defect: the parent tells it with the child's traceback
        hand(("crash", "".join(traceback.format_exception(err))))
    ready.put(None)
    writer.join()


def _write(end: End, ready: queue.Queue[bytes | None]) -> None:
    while (message := ready.get()) is not None:
        try:
            end.send_bytes(message)
        except ChildLost:
            os._exit(0)  # the parent is gone: nobody reads the rest


def _text(value: object) -> str | None:
    return (
        None
        if value is None or value is pd.NA or (isinstance(value, float) and value != value)
        else str(value)
    )
