"""Wire the stages: read → map → validate → send → reconcile. Nothing else knows the order."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import signal
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import pandas as pd

from .checking import Checked, Checker
from .config import Settings
from .errors import ImporterError, ReportError, SendingStopped
from .history import History, unchanged_note
from .journal import Journal, journal_path
from .mapping import ColumnPlan, Mapping, plan_columns
from .outcome import GOT_IN, SENT, TO_RETRY, Outcome, Status
from .outputs import check_outputs, check_space, lock_report
from .problems import TOP_ERRORS
from .read import Table, is_blank, open_table
from .report import ReportWriter, cell_columns, summary_path, write_summary
from .validate import Validator

if TYPE_CHECKING:
    from .send import Delivery, Sender

NOT_ATTEMPTED = "not attempted: the run was interrupted; finish it with --resume"


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


@dataclass
class RunSummary:
    """What a run did, for the summary table, summary.json and the exit code."""

    command: str
    input: Path
    report: Path
    counts: Counter[str] = field(default_factory=Counter)
    blank_rows: int = 0
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    finished: dt.datetime | None = None
    input_sha256: str = ""
    api_host: str | None = None
    retry_file: Path | None = None
    interrupted: bool = False  # Ctrl-C or SIGTERM
    stopped: str | None = None  # why the run stopped sending by itself (no answers, …)
    requests: int = 0
    imported_here: int = 0  # rows this run imported (a resume's earlier ones not counted)
    send_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # e.g. mapped columns the file lacks
    #: the most frequent kinds of error: message, field, count, first rows, example
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def all_good(self) -> bool:
        if self.command == "validate":
            return self.counts[Status.VALID] == self.rows
        return sum(self.counts[s] for s in GOT_IN) == self.rows

    @property
    def rows_per_second(self) -> float:
        sent = sum(self.counts[s] for s in SENT)
        return sent / self.send_seconds if self.send_seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "input_file": str(self.input),
            "input_sha256": self.input_sha256,
            "api_host": self.api_host,
            "rows": self.rows,
            "counts": dict(sorted(self.counts.items())),
            "blank_rows_skipped": self.blank_rows,
            "requests": self.requests,
            "rows_per_second": round(self.rows_per_second, 2),
            "started": self.started.isoformat(timespec="seconds"),
            "finished": self.finished.isoformat(timespec="seconds") if self.finished else None,
            "interrupted": self.interrupted,
            "stopped": self.stopped,
            "report": str(self.report),
            "retry_file": str(self.retry_file) if self.retry_file else None,
            "warnings": self.warnings,
            "errors": self.problems,
        }


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
                summary.counts.update(_count(result.outcomes["status"]))
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
        stream = _Reconciler(settings, table, plan, journal, summary)
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
                    _reconcile(settings, table, plan, journal, summary)
        finally:
            stream.abandon()  # files of a run stopped before its report: not left half-done
            with _after(stopped):
                journal.close()
        with _after(stopped):
            write_summary(summary_path(settings.report), summary.as_json())
    finally:
        lock.release()
    if stopped:
        raise SendingStopped(stopped[0], summary.imported_here)
    return summary


def _as_error(err: Exception) -> ImporterError:
    """``err`` as one line of the exception tree (a defect says it is one)."""
    if isinstance(err, ImporterError):
        return err
    return ImporterError(
        f"internal error: {err.__class__.__name__}: {err} (please report it; set "
        "CG_IMPORT_DEBUG=1 to see the traceback)"
    )


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
    stream: _Reconciler,
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
    stream: _Reconciler,
    checker: Checker,
) -> None:
    # the network stack loads only for sending: `validate` starts faster without it
    import aiohttp

    from .auth import TokenSource
    from .send import Delivery, Sender, SendOptions, departures

    if settings.resume:
        journal.supersede()  # never resend a row whose reference a later row imported
    timeout = aiohttp.ClientTimeout(
        total=settings.timeout, sock_connect=min(10.0, settings.timeout)
    )
    connector = aiohttp.TCPConnector(limit=settings.concurrency + 2)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(
        timeout=timeout,
        connector=connector,
        trace_configs=departures(settings.rate, settings.auto_rate),
    ) as session:
        tokens = TokenSource(
            session, settings.token_url, settings.client_id, settings.client_secret
        )
        # a file that breaks at row 20,001 stops the run before anything is sent: the whole
        # file is parsed beside the token request and the first chunks' checks, and no row
        # is sent before that parse has succeeded; wrong credentials stop it at once
        parsed = asyncio.ensure_future(asyncio.to_thread(table.check_parses))
        try:
            await tokens.bearer()
        except BaseException:
            parsed.cancel()
            raise

        changes = _Changes(settings)

        def on_result(result: Outcome) -> None:
            changes.sent(result)
            summary.imported_here += result.status == Status.IMPORTED
            journal.record(result)
            stream.done(result.source_row)
            progress.advance(1)

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
        sender = Sender(session, tokens, options, on_result)

        async def deliveries() -> AsyncIterator[Delivery]:
            while not sender.stopping:
                checked = await sender.unless_stopped(checker.next())
                if checked is None:
                    break
                chunk = checked.chunk
                journal.record_many(checked.final)
                finished = (
                    journal.finished_rows(int(chunk.index[0]), int(chunk.index[-1]))
                    if settings.resume and len(chunk)
                    else set()
                )
                if changes.history is None:
                    payloads, unchanged = changes.split(checked, finished)
                else:  # the history's lookups read its database
                    payloads, unchanged = await asyncio.to_thread(changes.split, checked, finished)
                journal.record_many(unchanged)
                changes.doubt(payloads)
                progress.advance(len(chunk) - len(payloads))
                stream.add(chunk, (row for row, _, _ in payloads))
                if payloads:
                    await parsed
                for row, reference, body in payloads:
                    yield Delivery(row, reference, body)
                stream.advance()
            if not sender.stopping:
                await parsed  # a file with nothing to send must still be whole

        async def flush_while_idle() -> None:
            slow = None
            while True:  # outcomes that arrive slowly still reach the disk within a second
                await asyncio.sleep(journal.every)
                journal.flush()
                stream.advance()
                if slow is None and (slow := sender.gate.slow()):
                    summary.warnings.append(slow)  # a crawl is said at once, and at the end
                    progress.note(slow)

        signals = _stop_on_signals(loop, sender)
        progress.start(table.estimated_rows, "rows")
        started = time.monotonic()
        flusher = asyncio.create_task(flush_while_idle())
        try:
            await sender.run(deliveries())
        except Exception as err:
            if not sender.requests:
                raise  # nothing was sent: nothing to report (e.g. the file breaks further on)
            raise SendingStopped(_as_error(err), summary.imported_here) from err
        finally:
            if not parsed.done():
                parsed.cancel()
            changes.close()
            flusher.cancel()
            summary.send_seconds = time.monotonic() - started
            summary.requests = sender.requests
            summary.stopped = sender.halted
            summary.interrupted = sender.stopping and sender.halted is None
            for sig in signals:
                loop.remove_signal_handler(sig)
            journal.flush()
            stream.advance()
            progress.close()


class _Changes:
    """The history's part in a run: rows it holds as they are stay unsent (``unchanged``,
    with the activity ID it remembers) when only changed rows are wanted, and every row
    imported is remembered with the hash of what was sent."""

    def __init__(self, settings: Settings) -> None:
        self.history: History | None = None
        if settings.history is not None:
            self.history = History(settings.history, settings.api_url, settings.client_id)
        self.only_changed = settings.only_changed
        self.file_name = settings.input.name
        self._hashes: dict[int, bytes] = {}  # rows sent and not yet answered
        self._waiting: Counter[str] = Counter()  # of those, the rows of each reference

    def split(
        self, checked: Checked, finished: set[int]
    ) -> tuple[list[tuple[int, str, bytes]], list[Outcome]]:
        """(the bodies to send, the outcomes of rows the history holds unchanged).

        Rows ``finished`` in the journal of a resumed run are neither.
        """
        sendable = checked.sendable
        keep = [i for i, (row, _, _) in enumerate(sendable) if row not in finished]
        unchanged: list[Outcome] = []
        if self.history is not None and keep:
            hashes = checked.hashes
            known = (
                self.history.unchanged([sendable[i][1] for i in keep], [hashes[i] for i in keep])
                if self.only_changed
                else [None] * len(keep)
            )
            sent = []
            for i, found in zip(keep, known, strict=True):
                if found is None:
                    sent.append(i)
                    continue
                row, reference, _ = sendable[i]
                activity_id, imported_at = found
                note = unchanged_note(imported_at)
                unchanged.append(
                    Outcome(row, Status.UNCHANGED, reference, activity_id, None, None, note)
                )
            keep = sent
            self._hashes.update((sendable[i][0], hashes[i]) for i in keep)
        if len(keep) == len(sendable):
            return sendable, unchanged
        return [sendable[i] for i in keep], unchanged

    def doubt(self, sendable: list[tuple[int, str, bytes]]) -> None:
        """Before rows go out, the history forgets their references: only an import proves
        what the API holds (a send that failed, or got no answer, may have been applied),
        so until one does, the next send of each is unconditional."""
        if self.history is not None and sendable:
            references = [reference for _, reference, _ in sendable]
            self.history.doubt(references)
            self._waiting.update(references)

    def sent(self, result: Outcome) -> None:
        """Remember an imported row's payload (and forget the hash of any other outcome),
        unless a later row of its reference is still to be answered: what stays is that
        one's, known only from its own outcome."""
        digest = self._hashes.pop(result.source_row, None)
        if self.history is None or digest is None:
            return
        reference = result.reference
        assert reference is not None  # every row sent has one
        self._waiting[reference] -= 1
        if self._waiting[reference] <= 0:
            del self._waiting[reference]
            if result.status == Status.IMPORTED:
                self.history.record(reference, digest, result.activity_id or "", self.file_name)

    def close(self) -> None:
        if self.history is not None:
            self.history.close()


def _count(statuses: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in statuses.value_counts().items()}


def _stop_on_signals(loop: asyncio.AbstractEventLoop, sender: Sender) -> list[signal.Signals]:
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, sender.interrupt)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or not supported on this platform
    return installed


def _reconcile(
    settings: Settings, table: Table, plan: ColumnPlan, journal: Journal, summary: RunSummary
) -> None:
    """A second pass over the input: every row with its outcome, in input order (for a run
    whose report could not be written as it went: stopped, or rows superseded)."""
    summary.counts.clear()
    again = _Reconciler(settings, table, plan, journal, summary)
    try:
        for chunk in table.chunks(settings.chunk_rows):
            again.add(chunk, ())
            again.advance()
    finally:
        again.finish()


class _Reconciler:
    """The report written while the run goes on, so the input is not read again at the end.

    Each slice of rows is held until every row of it sent has its final outcome, then its
    lines are written, slices in input order (a few slices are held at a time: the reader
    keeps only a queue's length ahead of the workers). A run that stops, or whose outcomes
    change after their lines were written (a failed row superseded by a later import of its
    reference), is written again by ``_reconcile`` instead: ``abandon`` drops this one.
    """

    def __init__(
        self,
        settings: Settings,
        table: Table,
        plan: ColumnPlan,
        journal: Journal,
        summary: RunSummary,
    ) -> None:
        self.settings, self.table, self.plan = settings, table, plan
        self.journal, self.summary = journal, summary
        self._writer: ReportWriter | None = None  # opened with the first lines
        self._slices: deque[tuple[pd.DataFrame, set[int]]] = deque()
        self._blank = 0

    def add(self, chunk: pd.DataFrame, sent: Iterable[int]) -> None:
        """A slice read and checked; ``sent``: its rows handed to the workers."""
        rows = chunk[~is_blank(chunk)]
        self._blank += len(chunk) - len(rows)
        self._slices.append((rows, set(sent)))

    def done(self, row: int) -> None:
        """A row sent has its final outcome (in the journal)."""
        for _, waiting in self._slices:
            if row in waiting:
                waiting.discard(row)
                return

    def advance(self) -> None:
        """Write every leading slice whose rows all have their outcomes."""
        while self._slices and not self._slices[0][1]:
            rows, _ = self._slices.popleft()
            self._write(rows)

    @property
    def complete(self) -> bool:
        """Every slice read was written (whether the input was read to its end: the caller's)."""
        return not self._slices

    def finish(self) -> None:
        """Close the report: the summary gets the blank rows, retry file and problems."""
        summary = self.summary
        summary.blank_rows = self._blank
        writer, self._writer = self._open(), None
        writer.close(summary.as_json())
        summary.retry_file = writer.retry_file
        summary.problems = writer.problems.top(TOP_ERRORS)

    def abandon(self) -> None:
        """Drop what was written (idempotent); the report files are left as they were."""
        self._slices.clear()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.abandon()

    def _open(self) -> ReportWriter:
        if self._writer is None:
            self._writer = ReportWriter(
                self.settings.report,
                self.table.headers,
                retry=True,
                delimiter=self.table.delimiter or ",",
                retry_format=self.settings.retry_format,
                cell_columns=cell_columns(self.plan),
                sheet=self.table.sheet,
            )
        return self._writer

    def _write(self, rows: pd.DataFrame) -> None:
        """The report lines of ``rows`` (non-blank input rows) from their journal outcomes."""
        writer = self._open()
        if rows.empty:
            return
        summary = self.summary
        known = self.journal.outcomes(int(rows.index[0]), int(rows.index[-1]))
        outcomes = known.reindex(rows.index)
        missing = outcomes["status"].isna()
        if missing.any():
            # never sent (a stopped run): still show the reference they will be sent with
            checked = _validator(self.settings, self.table, self.plan, payloads=False)
            found = checked.check(rows[missing.to_numpy()]).outcomes["reference"]
            outcomes.loc[missing, "reference"] = found.reindex(outcomes.index[missing])
            outcomes.loc[missing, "status"] = Status.SKIPPED
            outcomes.loc[missing, "errors"] = (
                NOT_ATTEMPTED
                if summary.stopped is None
                else f"not attempted: the run stopped ({summary.stopped}); finish it with --resume"
            )
        # superseded rows and exact duplicates need nothing: they are not to be resent
        outcomes["retry"] = outcomes["status"].isin(TO_RETRY) | missing
        summary.counts.update(_count(outcomes["status"]))
        writer.write(outcomes, rows)
