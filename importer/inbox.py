"""Unattended drops: import every settled file in a folder, once, and file it away.

A layer above the pipeline: it picks files (oldest first, once unmodified for ``settle``
seconds, never temporary or lock files), holds a lock on the folder so overlapping
scheduled runs cannot both take a file, moves each file to ``processing/`` while the
pipeline imports it (``import_file``, with the history so only new and changed rows are
sent), then to ``done/``, ``failed/`` or ``duplicates/``. Nothing is overwritten or
deleted: a name already taken gets a numeric suffix. A file left in ``processing/`` by a
run that died is finished by the next run with ``--resume``, found through its journal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import (
    AuthError,
    ImporterError,
    ReportError,
    SendingStopped,
    UsageError,
    internal_error,
)
from .files import NAME_MAX, REPORT_STEM_MAX, fit_stem, refuse_link
from .history import History
from .inbox_summary import FileResult, InboxSummary
from .journal import file_sha256, journal_input, journal_path, runs_of
from .notify import Delivery, Target, notify
from .pipeline import import_file
from .summary import RunSummary

SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")
#: files being written or held by an editor: Excel's owner files, LibreOffice locks,
#: downloads and copies in progress, hidden files
_TEMPORARY_PREFIXES = ("~$", ".~lock", ".")
_TEMPORARY_SUFFIXES = (".tmp", ".part", ".crdownload")
FOLDERS = ("processing", "done", "failed", "duplicates")
#: free space the log's disk must have before a run touches a file (a night's lines)
LOG_ROOM = 64 * 1024
LOCK_NAME = ".cg-import.lock"
#: what a report's name adds to its input's stem: ``-<UTC time>`` and, rarely, ``-<n>``
_STAMP = "-20261127T023001Z-99"


def default_reports(folder: Path) -> Path:
    """``<DIR>-reports`` beside the drop folder: never inside it, where whoever drops files
    could aim the reports at other files, and the next run would import them."""
    real = folder.resolve()
    if real.parent == real:
        raise UsageError(f"the drop folder {folder} has no folder beside it; name one: --reports")
    return real.with_name(real.name + "-reports")


def check_reports(folder: Path, reports: Path) -> None:
    """Refuse a reports folder inside the drop folder (or the drop folder itself), and one
    that is a link (its files would be written wherever the link points)."""
    if reports.is_symlink():
        raise UsageError(
            f"--reports {reports} is a link; name the folder itself (reports are never "
            "written through links)"
        )
    real, real_reports = folder.resolve(), reports.resolve()
    named, named_reports = Path(os.path.abspath(folder)), Path(os.path.abspath(reports))
    if any(
        outer == inner or outer in inner.parents
        for outer, inner in ((real, real_reports), (named, named_reports))
    ):
        raise UsageError(
            f"--reports {reports} is inside the drop folder {folder} (or is it): the next run "
            "would import the reports, and whoever drops files could aim them at other files; "
            f"choose a folder outside it, e.g. --reports {default_reports(folder)}"
        )


def check_log(log_file: Path | None) -> None:
    """The log can be appended to: found before the first file is touched, not after."""
    if log_file is None:
        return
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a", encoding="utf-8"):
            pass
        room = os.statvfs(log_file.parent)
        if room.f_bavail * room.f_frsize < LOG_ROOM:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    except OSError as err:
        raise ReportError(
            f"cannot write the log {log_file} ({err.strerror}); nothing was imported: "
            "choose another --log-file"
        ) from None


@dataclass(frozen=True)
class InboxOptions:
    """Where the drop folder is and how a run treats it."""

    folder: Path
    reports: Path
    history: Path
    settle: float = 60.0
    resend_all: bool = False
    log_file: Path | None = None


async def run_inbox(
    template: Settings,
    options: InboxOptions,
    on_file: Callable[[FileResult], None] | None = None,
    summary: InboxSummary | None = None,
) -> InboxSummary:
    """Import every settled file of ``options.folder``; ``template`` holds the run settings.

    ``summary`` (filled as files are done) is the caller's, so that a run ended by an
    exception still has what it did for ``end_run``.
    """
    from filelock import FileLock, Timeout

    folder = options.folder
    if not folder.is_dir():
        raise UsageError(f"the inbox folder {folder} does not exist (or is not a folder)")
    summary = summary or InboxSummary(folder)
    refuse_link(folder / LOCK_NAME, "the inbox lock")
    lock = FileLock(str(folder / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        summary.locked = True
        return summary
    except OSError as err:
        raise ReportError(
            f"cannot create the lock {folder / LOCK_NAME} ({err.strerror}); check that the "
            "scheduled job may write in the inbox folder"
        ) from None
    try:
        _prepare(options)
        history = History(options.history, template.api_url, template.client_id)
        try:
            pending = [(path, True) for path in _settled(folder / "processing", 0.0)]
            settled = _settled(folder, options.settle)
            pending += [(path, False) for path in settled]
            # files still being written: said (log, notification), left for the next run
            summary.waiting = [p.name for p in _settled(folder, 0.0) if p not in settled]
            for path, left_over in pending:
                result = await _one_file(template, options, history, path, left_over, summary)
                summary.files.append(result)
                try:
                    _log(options.log_file, result.as_json())
                except ReportError as err:  # the file is handled: said, not undone
                    summary.log_problem = summary.log_problem or str(err)
                if on_file is not None:
                    on_file(result)
                if summary.interrupted or summary.stopped:
                    break
        finally:
            history.close()
    finally:
        lock.release()
    return summary


def end_run(summary: InboxSummary, log_file: Path | None, chosen: list[Target]) -> list[str]:
    """The run's notification, then its JSON log line (which says what became of each
    notification), however the run ended; returns warnings (a log or notification that
    failed must not hide why the run ended, nor change its exit code)."""
    warnings_: list[str] = [summary.log_problem] if summary.log_problem else []
    deliveries: list[Delivery] = []
    try:
        deliveries = notify(chosen, summary)
    except Exception as err:  # a defect in telling must not cost the run its log line
        warnings_.append(f"the notification failed: {internal_error(err)}")
    finally:
        summary.notifications = [delivery.as_json() for delivery in deliveries]
        try:
            _log(log_file, summary.as_json())
        except ReportError as err:
            said = [summary.error or "", summary.log_problem or ""]
            if not any(s.startswith(f"cannot write the log {log_file}") for s in said):
                warnings_.append(str(err))  # (not the same problem twice)
    return warnings_ + [d.problem() for d in deliveries if not d.delivered]


def _prepare(options: InboxOptions) -> None:
    """The inbox's folders, made where missing; a link planted in their place (whoever
    drops files may plant links) would send the files moved there elsewhere: refused,
    as is a history that is a link."""
    for name in FOLDERS:
        refuse_link(options.folder / name, f"the inbox folder {name}/:")
    refuse_link(options.history, "the history")
    try:
        for name in FOLDERS:
            (options.folder / name).mkdir(exist_ok=True)
        options.reports.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReportError(
            f"cannot create the folders of the inbox {options.folder} ({err.strerror}); "
            "check that the scheduled job may write there"
        ) from None


def _settled(folder: Path, settle: float) -> list[Path]:
    """Files of ``folder`` to import, oldest first: not temporary, unmodified for ``settle`` s."""
    if not folder.is_dir():
        return []
    now = time.time()
    found = []
    for path in folder.iterdir():
        name = path.name
        lowered = name.lower()
        if (
            not path.is_file()
            or path.is_symlink()
            or name.startswith(_TEMPORARY_PREFIXES)
            or lowered.endswith(_TEMPORARY_SUFFIXES)
            or not lowered.endswith(SUFFIXES)
        ):
            continue
        modified = path.stat().st_mtime
        if now - modified >= settle:
            found.append((modified, name, path))
    return [path for _, _, path in sorted(found)]


async def _one_file(
    template: Settings,
    options: InboxOptions,
    history: History,
    path: Path,
    left_over: bool,
    summary: InboxSummary,
) -> FileResult:
    """Import one file and file it away; exceptions only for what stops the whole run.

    A file this program cannot handle (a bug: an exception that is no ``ImporterError``)
    goes to ``failed/`` with the error as its note, so it cannot block every later run.
    """
    started = time.monotonic()
    where = [path]  # where the file is now
    try:
        return await _import_one(template, options, history, where, left_over, summary)
    except ImporterError:
        raise
    except Exception as err:
        moved = _move(where[0], options.folder / "failed")
        note = internal_error(err)
        return FileResult(path.name, "failed", moved, seconds=time.monotonic() - started, note=note)


async def _import_one(
    template: Settings,
    options: InboxOptions,
    history: History,
    where: list[Path],
    left_over: bool,
    summary: InboxSummary,
) -> FileResult:
    """One file: a repeat of a fully imported one set aside, else imported (or its earlier
    run finished) from processing/; ``where[0]`` follows the file as it moves."""
    started = time.monotonic()
    path = where[0]
    name = path.name
    sha256 = file_sha256(path)
    if not left_over and not options.resend_all:
        duplicate = _set_aside_if_imported(path, sha256, options, history)
        if duplicate is not None:
            return duplicate
    work = path if left_over else _move(path, options.folder / "processing")
    where[0] = work
    settings = _file_settings(template, options, work, sha256, left_over)
    try:
        run = await import_file(settings)
    except AuthError as refused:  # no file can be imported: stop; this one waits
        _waits(summary, options.log_file, name, work, settings.report, started, refused)
        raise
    except SendingStopped as stop:
        if isinstance(stop.cause, AuthError):  # as above, after rows of it went in
            _waits(summary, options.log_file, name, work, settings.report, started, stop.cause)
            raise stop.cause from stop
        summary.stopped = str(stop)  # rows went out: the next run resumes this file
        return FileResult(
            name,
            "processing",
            work,
            report=settings.report,
            counts={"imported": stop.imported},  # the rest is known once it is finished
            seconds=time.monotonic() - started,
            note=f"left in processing/: the next run finishes it (the run stopped: {stop})",
        )
    except ImporterError as err:
        return _not_imported(name, work, options, settings, started, err)
    result = FileResult(
        name,
        "processing",
        work,
        report=settings.report,
        counts=dict(run.counts),
        requests=run.requests,
        seconds=time.monotonic() - started,
        retry_file=run.retry_file,
        problems=run.problems,
    )
    return _file_done(result, run, options, history, sha256, summary)


def _not_imported(
    name: str,
    work: Path,
    options: InboxOptions,
    settings: Settings,
    started: float,
    err: ImporterError,
) -> FileResult:
    """A file this run could not import goes to failed/; one whose earlier run sent rows
    (this run resumes its journal) stays in processing/: in failed/ nothing would ever
    finish them."""
    seconds = time.monotonic() - started
    if settings.resume:
        note = (
            f"left in processing/: its earlier run is not finished and this run cannot "
            f"finish it ({err}); run again with the settings it began with"
        )
        return FileResult(
            name, "processing", work, report=settings.report, seconds=seconds, note=note
        )
    moved = _move(work, options.folder / "failed")
    return FileResult(name, "failed", moved, seconds=seconds, note=str(err))


def _set_aside_if_imported(
    path: Path, sha256: str, options: InboxOptions, history: History
) -> FileResult | None:
    """A file the history says was fully imported goes to duplicates/, nothing sent."""
    earlier = history.file_imported(sha256)
    if earlier is None or not earlier.fully_imported:
        return None
    moved = _move(path, options.folder / "duplicates")
    note = f"repeats {earlier.name}, fully imported {earlier.imported_at}: nothing sent"
    return FileResult(path.name, "duplicates", moved, note=note)


def _file_settings(
    template: Settings, options: InboxOptions, work: Path, sha256: str, left_over: bool
) -> Settings:
    """The run's settings for one file: a left-over file resumes its report, if it has one."""
    report = _report_for(options.reports, work, sha256) if left_over else None
    return dataclasses.replace(
        template,
        input=work,
        report=report or _new_report(options.reports, work),
        resume=report is not None,
        history=options.history,
        only_changed=not options.resend_all,
    )


def _file_done(
    result: FileResult,
    run: RunSummary,
    options: InboxOptions,
    history: History,
    sha256: str,
    summary: InboxSummary,
) -> FileResult:
    """An interrupted or stopped file stays in processing/; else it moves to done/ or
    failed/ and the history records it."""
    if run.interrupted or run.stopped:
        summary.interrupted = summary.interrupted or run.interrupted
        summary.stopped = run.stopped
        result.note = "left in processing/: the next run finishes it" + (
            f" (the run stopped: {run.stopped})" if run.stopped else " (interrupted)"
        )
        return result
    good = run.all_good  # every row imported or unchanged
    result.outcome = "done" if good else "failed"
    result.moved_to = _move(result.moved_to, options.folder / result.outcome)
    history.record_file(sha256, result.file, good, str(result.report))
    return result


def _waits(
    summary: InboxSummary,
    log_file: Path | None,
    name: str,
    work: Path,
    report: Path,
    started: float,
    refused: AuthError,
) -> None:
    """A file left in processing/ by refused credentials: counted and logged as waiting
    for the next run (the run's own line, written as it ends, says why it stopped)."""
    waits = FileResult(
        name,
        "processing",
        work,
        report=report,
        seconds=time.monotonic() - started,
        note=f"left in processing/: the next run finishes it ({refused})",
    )
    summary.files.append(waits)
    with contextlib.suppress(ReportError):
        _log(log_file, waits.as_json())


def _report_for(reports: Path, work: Path, sha256: str) -> Path | None:
    """The report of the run that died on ``work``: its journal names the input's hash."""
    for report in runs_of(reports, _report_stem(work)):
        if journal_input(journal_path(report)) == sha256:
            return report
    return None


def _report_stem(work: Path) -> str:
    """The input's stem, shortened so that the report and its companions fit a file name."""
    return fit_stem(work.stem, REPORT_STEM_MAX - len(_STAMP))


def _new_report(reports: Path, work: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    stem = _report_stem(work)
    report = reports / f"{stem}-{stamp}.csv"
    number = 1
    while os.path.lexists(report):  # two files of one name within a second
        number += 1
        report = reports / f"{stem}-{stamp}-{number}.csv"
    return report


def _move(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder`` under a name not yet taken there (never overwriting)."""
    target = folder / path.name
    number = 0
    while os.path.lexists(target):
        number += 1
        ending = f"-{number}{path.suffix}"
        target = folder / f"{fit_stem(path.stem, NAME_MAX - len(ending.encode()))}{ending}"
    try:
        path.rename(target)
    except OSError as err:
        raise ReportError(
            f"cannot move {path} to {folder} ({err.strerror}); check the folder's permissions"
        ) from None
    return target


def _log(log_file: Path | None, line: dict[str, Any]) -> None:
    """Append one JSON line (monitoring reads them); never a secret: messages hold none."""
    if log_file is None:
        return
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    except OSError as err:
        raise ReportError(f"cannot write the log {log_file} ({err.strerror})") from None
