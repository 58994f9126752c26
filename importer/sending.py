"""Sending a file's checked rows: the session, the token, the sender, the journal as
outcomes arrive.

``send_all`` is the send stage wired to the others (``pipeline.py`` calls it): rows come
checked from a ``Checker``, every row's outcome goes to the journal, the history, the
report being written and the progress; Ctrl-C and SIGTERM stop the sending, not the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from .checked_ahead import Checked, Checker
from .config import Settings
from .errors import SendingStopped, as_error
from .history import Changes, History, Lookup, Sendable
from .journal import Journal
from .outcome import SENT, Outcome, Status
from .progress import Progress
from .read import Table
from .reconcile import Reconciler
from .summary import RunSummary
from .validate import Validator

if TYPE_CHECKING:
    import aiohttp

    from .auth import TokenSource
    from .send import Delivery, Sender

__all__ = ["send_all", "signals_back"]


async def send_all(
    settings: Settings,
    table: Table,
    validator: Validator,
    journal: Journal,
    summary: RunSummary,
    progress: Progress,
    stream: Reconciler,
) -> None:
    """Send the rows ``validator`` finds valid, each outcome recorded as it arrives."""
    # rows are checked ahead of the workers from here on (a large file in a second process),
    # beside the token request; with --only-changed the checks ask the history too, so the
    # bodies of unchanged rows are never built (not on a resume: its finished rows are
    # never asked about, and only this process knows them)
    lookup = None
    if settings.history is not None and settings.only_changed and not settings.resume:
        lookup = Lookup(settings.history, settings.api_url, settings.client_id)
    hashes = settings.history is not None
    checker = Checker(table, validator, settings.chunk_rows, hashes=hashes, lookup=lookup)
    try:
        await _send_checked(settings, table, journal, summary, progress, stream, checker)
    finally:
        checker.close()
        if lookup is not None:
            lookup.close()


async def _send_checked(
    settings: Settings,
    table: Table,
    journal: Journal,
    summary: RunSummary,
    progress: Progress,
    stream: Reconciler,
    checker: Checker,
) -> None:
    # the network stack loads only for sending: `validate` starts faster without it
    import aiohttp

    from .auth import TokenSource
    from .send import departures

    if settings.resume:
        journal.supersede()  # never resend a row whose reference a later row imported
    timeout = aiohttp.ClientTimeout(
        total=settings.timeout, sock_connect=min(10.0, settings.timeout)
    )
    connector = aiohttp.TCPConnector(limit=settings.concurrency + 2)
    async with aiohttp.ClientSession(
        timeout=timeout,
        connector=connector,
        trace_configs=departures(settings.rate, settings.auto_rate),
    ) as session:
        tokens = TokenSource(
            session,
            settings.token_url,
            settings.client_id,
            settings.client_secret,
            retry_wait=settings.retry_wait,  # --retry-wait paces token requests too
        )
        parsed = await _parse_beside_token(table, tokens, lazy=checker.asks_history)
        changes = _changes(settings)
        sending = _Sending(settings, session, tokens, journal, summary, progress, stream, changes)
        await sending.run(checker, table.estimated_rows, parsed)


async def _parse_beside_token(table: Table, tokens: TokenSource, *, lazy: bool) -> _WholeFile:
    """The whole file's parse, started beside the token request (unless ``lazy``); wrong
    credentials stop the run at once."""
    parsed = _WholeFile(table, lazy=lazy)
    try:
        await tokens.bearer()
    except BaseException:
        parsed.let_go()
        raise
    return parsed


class _WholeFile:
    """The whole file parsed to its end (``Table.check_parses``) before the first row is
    sent: a file that breaks at row 20,001 stops the run before anything is sent.

    The parse starts beside the token request; ``lazy`` (the checks ask the history, with
    ``--only-changed``) only once a row is to be sent: most rows of a nightly file are then
    unchanged (a million rows parsed again would cost a second of work for nothing), and
    the checks read the file to its end anyway (a file that breaks before any row is to be
    sent stops the run from the checks, as it did before when no row was to be sent)."""

    def __init__(self, table: Table, *, lazy: bool) -> None:
        self._table = table
        self._lazy = lazy
        self._parse: asyncio.Future[None] | None = None
        if not lazy:
            self._start()

    def _start(self) -> asyncio.Future[None]:
        if self._parse is None:
            self._parse = asyncio.ensure_future(asyncio.to_thread(self._table.check_parses))
        return self._parse

    async def before_sending(self) -> None:
        await self._start()

    async def at_end(self) -> None:
        """The checks read the input to its end: it is whole, unless its parse says not."""
        if self._parse is not None or not self._lazy:
            await self._start()

    def let_go(self) -> None:
        if self._parse is not None:
            _let_go(self._parse)


def _changes(settings: Settings) -> Changes:
    """The history's part in this run (none without ``--history``)."""
    history = None
    if settings.history is not None:
        history = History(settings.history, settings.api_url, settings.client_id)
    return Changes(history, settings.only_changed, settings.input.name)


class _Sending:
    """The send stage wired to the others: checked slices in, every row's outcome out to
    the journal, the history, the report being written and the progress."""

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        tokens: TokenSource,
        journal: Journal,
        summary: RunSummary,
        progress: Progress,
        stream: Reconciler,
        changes: Changes,
    ) -> None:
        from .send import Sender, SendOptions

        self.resume = settings.resume
        self.journal, self.summary, self.progress = journal, summary, progress
        self.stream, self.changes = stream, changes
        options = SendOptions(
            api_url=settings.api_url,
            rate=settings.rate,
            concurrency=settings.concurrency,
            max_attempts=settings.max_attempts,
            retry_wait=settings.retry_wait,
            max_wait=settings.max_wait,
            auto_rate=settings.auto_rate,
            stall=settings.stall,
        )
        self.sender = Sender(session, tokens, options, self._answered)

    async def run(self, checker: Checker, estimated_rows: int | None, parsed: _WholeFile) -> None:
        """Send every row ``checker`` hands on; a failure once rows were sent stops the run."""
        sender = self.sender
        loop = asyncio.get_running_loop()
        signals = _stop_on_signals(loop, sender)
        self.progress.start(estimated_rows, "rows")
        started = time.monotonic()
        flusher = asyncio.create_task(self._flush_while_idle())
        try:
            await sender.run(self._deliveries(checker, parsed))
        except Exception as err:
            if not sender.requests:
                raise  # nothing was sent: nothing to report (e.g. the file breaks further on)
            raise SendingStopped(as_error(err), self.summary.imported_here) from err
        finally:
            parsed.let_go()
            self.changes.close()
            flusher.cancel()
            self._account(time.monotonic() - started)
            for sig in signals:  # until the report is written, a signal waits for it:
                loop.add_signal_handler(sig, _report_first)  # half a report serves nobody
            self.journal.flush()
            self.stream.advance()
            self.progress.close()

    def _answered(self, result: Outcome) -> None:
        """A sent row's final outcome, wherever it is kept."""
        self.changes.sent(result)
        self.summary.imported_here += result.status == Status.IMPORTED
        self.summary.sent_here += result.status in SENT
        self.journal.record(result)
        self.stream.done(result)
        self.progress.advance(1)

    async def _deliveries(self, checker: Checker, parsed: _WholeFile) -> AsyncIterator[Delivery]:
        """The rows to send, slice after slice, until the input ends or a stop."""
        from .send import Delivery

        sender = self.sender
        while not sender.stopping:
            checked = await sender.unless_stopped(checker.next())
            if checked is None:
                break
            payloads = await self._to_send(checked)
            if payloads:
                await parsed.before_sending()
            for row, reference, body in payloads:
                yield Delivery(row, reference, body)
            self.stream.advance()
        if not sender.stopping:
            await parsed.at_end()  # a file with nothing to send must still be whole

    async def _to_send(self, checked: Checked) -> list[Sendable]:
        """A checked slice's rows to send; the outcomes of the others go to the journal."""
        chunk, journal, changes = checked.chunk, self.journal, self.changes
        journal.record_many(checked.final)
        finished = (
            journal.finished_rows(int(chunk.index[0]), int(chunk.index[-1]))
            if self.resume and len(chunk)
            else set()
        )
        split = (checked.sendable, checked.hashes, finished)
        if changes.history is None or checked.looked_up:
            payloads, unchanged = changes.split(*split, ask=not checked.looked_up)
            unchanged = checked.unchanged or unchanged
        else:  # the history's lookups read its database
            payloads, unchanged = await asyncio.to_thread(changes.split, *split)
        if unchanged:
            journal.record_unchanged(
                unchanged.rows, unchanged.references, unchanged.activity_ids, unchanged.notes
            )
        changes.doubt(payloads)
        self.progress.advance(len(chunk) - len(payloads))
        self.stream.add(chunk, (row for row, _, _ in payloads), checked.final, unchanged)
        return payloads

    async def _flush_while_idle(self) -> None:
        slow = None
        while True:  # outcomes that arrive slowly still reach the disk within a second
            await asyncio.sleep(self.journal.every)
            self.journal.flush()
            self.stream.advance()
            if slow is None and (slow := self.sender.gate.slow()):
                self.summary.warnings.append(slow)  # a crawl is said at once, and at the end
                self.progress.note(slow)

    def _account(self, seconds: float) -> None:
        """What the sending did, into the summary."""
        sender, summary = self.sender, self.summary
        summary.send_seconds = seconds
        summary.requests = sender.requests
        summary.stopped = sender.halted
        summary.interrupted = sender.stopping and sender.halted is None


def _let_go(parsed: asyncio.Future[None]) -> None:
    """The whole file's parse is no longer wanted: stopped, or its error (already the run's
    own, or of no matter after a stop) taken, so that it is never printed at exit."""
    if not parsed.done():
        parsed.cancel()
    elif not parsed.cancelled():
        parsed.exception()


def _report_first() -> None:
    """Ctrl-C or SIGTERM once sending has ended: the report is finished first."""


def signals_back(loop: asyncio.AbstractEventLoop) -> None:
    """Ctrl-C and SIGTERM as they were before the run (the report is written)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(sig)


def _stop_on_signals(loop: asyncio.AbstractEventLoop, sender: Sender) -> list[signal.Signals]:
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, sender.interrupt)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or not supported on this platform
    return installed
