"""Wire the stages: read → map → validate → send → reconcile. Nothing else knows the order."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import signal
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from .checking import Checked, Checker
from .config import Settings
from .errors import ImporterError, ReportError, SendingStopped, internal_error
from .history import Changes, History, Sendable
from .journal import Journal, journal_path
from .mapping import ColumnPlan, Mapping, plan_columns
from .outcome import Outcome, Status
from .outputs import check_outputs, check_space, lock_report
from .problems import TOP_ERRORS
from .read import Table, open_table
from .reconcile import Reconciler, reconcile
from .report import ReportWriter, cell_columns, summary_path, write_summary
from .summary import RunSummary
from .validate import Validator

if TYPE_CHECKING:
    import aiohttp

    from .auth import TokenSource
    from .send import Delivery, Sender

__all__ = ["Progress", "RunSummary", "import_file", "validate_file"]


class Progress(Protocol):
    """How stages report progress; only the CLI draws it."""

    def start(self, total: int | None, what: str) -> None: ...
    def advance(self, rows: int) -> None: ...
    def note(self, text: str) -> None: ...
    def close(self) -> None: ...


class _Silent:
    def start(self, total: int | None, what: str) -> None:
        pass

    def advance(self, rows: int) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def pins(settings: Settings, table: Table) -> dict[str, str]:
    """What shapes a payload or a reference: a resume must use the same."""
    return {
        "mapping": _fingerprint(settings.mapping),
        "timezone": settings.timezone,
        "date_format": " | ".join(settings.date_format),
        "sheet": table.sheet or "",
        "header_row": str(table.header_row),
        "delimiter": table.delimiter or "",
        "encoding": table.encoding or "",
        "api": "sandbox" if settings.sandbox else settings.api_url,
    }


def _fingerprint(mapping: Mapping | None) -> str:
    """The mapping's content (not its path or comments) as a short hash."""
    if mapping is None:
        return "none"
    content = {k: v for k, v in dataclasses.asdict(mapping).items() if k != "path"}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return f"{mapping.path.name if mapping.path else 'mapping'} {digest[:12]}"


def _validator(settings: Settings, table: Table, plan: ColumnPlan, *, payloads: bool) -> Validator:
    """The checks for this file and these settings (cells must fit a workbook report)."""
    excel = settings.report.suffix.lower() == ".xlsx"
    return Validator(
        plan,
        settings.timezone,
        settings.date_format,
        payloads=payloads,
        excel_headers=table.headers if excel else None,
    )


def _open(settings: Settings, *, load_aside: bool = False) -> tuple[Table, ColumnPlan]:
    mapping = settings.mapping or Mapping()
    table = open_table(
        settings.input,
        sheet=settings.sheet,
        delimiter=settings.delimiter,
        encoding=settings.encoding,
        header_row=mapping.header_row,
        find_header=mapping.find_header,
        load_aside=load_aside,
    )
    plan = plan_columns(table.headers, settings.mapping, settings.input.name)
    table.error_columns = plan.positions  # an Excel error elsewhere is not sent: no matter
    return table, plan


def validate_file(settings: Settings, progress: Progress | None = None) -> RunSummary:
    """Check every row, send nothing, write the report (status ``valid`` or why not)."""
    progress = progress or _Silent()
    check_outputs(settings.input, settings.report)
    # a large sheet is loaded by a child process while this one scans it (its rows are read
    # once); a run keeps it here: its checking process shares it (checking.py)
    table, plan = _open(settings, load_aside=True)
    summary = RunSummary("validate", settings.input, settings.report, input_sha256=table.sha256)
    summary.warnings.extend(plan.warnings)
    validator = _validator(settings, table, plan, payloads=False)
    lock = lock_report(settings.report)
    try:
        writer = ReportWriter(
            settings.report,
            table.headers,
            retry=False,
            cell_columns=cell_columns(plan),
            sheet=table.sheet,
        )
        progress.start(table.estimated_rows, "rows checked")
        try:
            for chunk in table.chunks(settings.chunk_rows):
                result = validator.check(chunk)
                summary.blank_rows += result.blank_rows
                summary.count(result.outcomes["status"])
                writer.write(result.outcomes, chunk)
                progress.advance(len(chunk))
        finally:
            progress.close()
            summary.finished = dt.datetime.now(dt.UTC)
            writer.close(summary.as_json())
        summary.problems = writer.problems.top(TOP_ERRORS)
        write_summary(summary_path(settings.report), summary.as_json())
    finally:
        lock.release()
    return summary


async def import_file(settings: Settings, progress: Progress | None = None) -> RunSummary:
    """Validate, send the valid rows, record every outcome, write the report.

    Whatever stops the run once rows were sent (the credentials refused, a full disk, a
    defect) raises ``SendingStopped`` with the number of rows this run imported: what the
    journal holds was done, and ``--resume`` finishes it.
    """
    summary = RunSummary(
        "run", settings.input, settings.report, api_host=urlsplit(settings.api_url).netloc
    )
    try:
        return await _import(settings, progress or _Silent(), summary)
    except SendingStopped as stop:
        raise SendingStopped(stop.cause, summary.imported_here) from stop.__cause__
    except Exception as err:
        if not summary.imported_here:
            raise
        raise SendingStopped(_as_error(err), summary.imported_here) from err


async def _import(settings: Settings, progress: Progress, summary: RunSummary) -> RunSummary:
    check_outputs(settings.input, settings.report)
    table, plan = _open(settings)
    summary.input_sha256 = table.sha256
    summary.warnings.extend(plan.warnings)
    check_space(settings.report, table.path, table.estimated_rows)
    lock = lock_report(settings.report)
    try:
        journal = Journal(
            journal_path(settings.report),
            table.sha256,
            resume=settings.resume,
            pins=pins(settings, table),
        )
        stopped: list[ImporterError] = []  # what stopped sending, once it had begun
        checks = functools.partial(_validator, settings, table, plan, payloads=False)
        stream = Reconciler(settings, table, plan, journal, summary, checks)
        try:
            try:
                await _send_all(settings, table, plan, journal, summary, progress, stream)
            except SendingStopped as stop:
                # e.g. the credentials were revoked mid-run: keep and report what was done
                stopped.append(stop.cause)
                summary.stopped = str(stop.cause)
            summary.finished = dt.datetime.now(dt.UTC)
            with _after(stopped):
                superseded = journal.supersede()
                if stream.complete and not (superseded or summary.interrupted or summary.stopped):
                    stream.finish()
                else:  # rows never read, or outcomes changed after their lines were written
                    stream.abandon()
                    reconcile(settings, table, plan, journal, summary, checks)
        finally:
            stream.abandon()  # files of a run stopped before its report: not left half-done
            with _after(stopped):
                journal.close()
        with _after(stopped):
            write_summary(summary_path(settings.report), summary.as_json())
    finally:
        lock.release()
        _signals_back(asyncio.get_running_loop())
    if stopped:
        raise SendingStopped(stopped[0], summary.imported_here)
    return summary


def _as_error(err: Exception) -> ImporterError:
    """``err`` as one line of the exception tree (a defect says it is one)."""
    if isinstance(err, ImporterError):
        return err
    return ImporterError(internal_error(err))


@contextlib.contextmanager
def _after(stopped: list[ImporterError]) -> Iterator[None]:
    """After a stop, a failing report is the stop's echo (the disk that stopped the journal
    stops the report too): the first cause, which says what to do, is the one raised."""
    try:
        yield
    except ReportError:
        if not stopped:
            raise


async def _send_all(
    settings: Settings,
    table: Table,
    plan: ColumnPlan,
    journal: Journal,
    summary: RunSummary,
    progress: Progress,
    stream: Reconciler,
) -> None:
    validator = _validator(settings, table, plan, payloads=True)
    # rows are checked ahead of the workers from here on (a large file in a second process),
    # beside the token request
    checker = Checker(table, validator, settings.chunk_rows, hashes=settings.history is not None)
    try:
        await _send_checked(settings, table, journal, summary, progress, stream, checker)
    finally:
        checker.close()


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
            session, settings.token_url, settings.client_id, settings.client_secret
        )
        parsed = await _parse_beside_token(table, tokens)
        changes = _changes(settings)
        sending = _Sending(settings, session, tokens, journal, summary, progress, stream, changes)
        await sending.run(checker, table.estimated_rows, parsed)


async def _parse_beside_token(table: Table, tokens: TokenSource) -> asyncio.Future[None]:
    """The whole file's parse, started beside the token request (awaited before any row is
    sent): a file that breaks at row 20,001 stops the run before anything is sent, and
    wrong credentials stop it at once."""
    parsed = asyncio.ensure_future(asyncio.to_thread(table.check_parses))
    try:
        await tokens.bearer()
    except BaseException:
        _let_go(parsed)
        raise
    return parsed


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

    async def run(
        self, checker: Checker, estimated_rows: int | None, parsed: asyncio.Future[None]
    ) -> None:
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
            raise SendingStopped(_as_error(err), self.summary.imported_here) from err
        finally:
            _let_go(parsed)
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
        self.journal.record(result)
        self.stream.done(result.source_row)
        self.progress.advance(1)

    async def _deliveries(
        self, checker: Checker, parsed: asyncio.Future[None]
    ) -> AsyncIterator[Delivery]:
        """The rows to send, slice after slice, until the input ends or a stop."""
        from .send import Delivery

        sender = self.sender
        while not sender.stopping:
            checked = await sender.unless_stopped(checker.next())
            if checked is None:
                break
            payloads = await self._to_send(checked)
            if payloads:
                await parsed
            for row, reference, body in payloads:
                yield Delivery(row, reference, body)
            self.stream.advance()
        if not sender.stopping:
            await parsed  # a file with nothing to send must still be whole

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
        if changes.history is None:
            payloads, unchanged = changes.split(*split)
        else:  # the history's lookups read its database
            payloads, unchanged = await asyncio.to_thread(changes.split, *split)
        journal.record_many(unchanged)
        changes.doubt(payloads)
        self.progress.advance(len(chunk) - len(payloads))
        self.stream.add(chunk, (row for row, _, _ in payloads))
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


def _signals_back(loop: asyncio.AbstractEventLoop) -> None:
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
