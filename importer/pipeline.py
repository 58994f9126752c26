"""Wire the stages: read → map → validate → send → reconcile. Nothing else knows the order."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

from .checked_aside import checked_chunks, second_process
from .config import Settings
from .errors import ImporterError, ReportError, SendingStopped, as_error
from .journal import Journal, journal_path
from .mapping import ColumnPlan, Mapping, plan_columns
from .problems import TOP_ERRORS
from .progress import Progress, Silent
from .read import Table, open_table
from .reconcile import Reconciler, reconcile
from .report import ReportWriter, cell_columns, summary_path, write_summary
from .report_files import check_outputs, check_space, lock_report
from .sending import send_all, signals_back
from .summary import RunSummary
from .validate import Validator

__all__ = ["Progress", "RunSummary", "import_file", "validate_file"]


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
        options=settings.read,
    )
    plan = plan_columns(table.headers, settings.mapping, settings.input.name)
    table.error_columns = plan.positions  # an Excel error elsewhere is not sent: no matter
    return table, plan


def validate_file(settings: Settings, progress: Progress | None = None) -> RunSummary:
    """Check every row, send nothing, write the report (status ``valid`` or why not)."""
    progress = progress or Silent()
    check_outputs(settings.input, settings.report)
    # a large sheet is loaded by a child process while this one scans it (its rows are read
    # once); a run keeps it here: its checking process shares it (checked_ahead.py)
    table, plan = _open(settings, load_aside=True)
    summary = RunSummary("validate", settings.input, settings.report, input_sha256=table.sha256)
    summary.warnings.extend(plan.warnings)
    validator = _validator(settings, table, plan, payloads=False)
    lock = lock_report(settings.report)
    try:
        cells = cell_columns(plan)
        writer = ReportWriter(
            settings.report,
            table.headers,
            retry=False,
            cell_columns=cells,
            sheet=table.sheet,
            source_name=settings.input.name,
        )
        progress.start(table.estimated_rows, "rows checked")
        try:
            # a large CSV: read and checked by a second process while this one reports
            aside = second_process(table, settings.report.suffix)
            with checked_chunks(
                table, validator, settings.chunk_rows, cells, child=aside
            ) as checked:
                for verdict in checked:
                    summary.blank_rows += verdict.blank_rows
                    summary.count(verdict.outcomes["status"])
                    writer.write(verdict.outcomes, verdict.cells, hashed=verdict.hashed)
                    progress.advance(verdict.rows)
        except BaseException:  # Ctrl-C, a checking process lost, a file cut short…
            writer.abandon()  # half a report, its summary counting what was read, would
            raise  # read as the whole file's: none is written, an earlier one stays
        finally:
            progress.close()
        summary.finished = dt.datetime.now(dt.UTC)
        summary.shared_references = writer.shared.count
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
        return await _import(settings, progress or Silent(), summary)
    except SendingStopped:
        raise  # raised by _import with this run's count already
    except Exception as err:
        if not summary.imported_here:
            raise
        raise SendingStopped(as_error(err), summary.imported_here) from err


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
                sends = _validator(settings, table, plan, payloads=True)
                await send_all(settings, table, sends, journal, summary, progress, stream)
            except SendingStopped as stop:
                # e.g. the credentials were revoked mid-run: keep and report what was done
                stopped.append(stop.cause)
                summary.stopped = str(stop.cause)
            except BaseException:
                if not (settings.resume or summary.requests):
                    journal.discard()  # stopped before sending (credentials refused…): no
                raise  # journal is left for a run that nothing can resume
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
        signals_back(asyncio.get_running_loop())
    if stopped:
        raise SendingStopped(stopped[0], summary.imported_here)
    return summary


@contextlib.contextmanager
def _after(stopped: list[ImporterError]) -> Iterator[None]:
    """After a stop, a failing report is the stop's echo (the disk that stopped the journal
    stops the report too): the first cause, which says what to do, is the one raised."""
    try:
        yield
    except ReportError:
        if not stopped:
            raise
