"""The report's companion files: where a run writes, checked before anything is read or sent.

Beside the report go its retry file, summary, journal and lock. None of them may be the
input (a report written over the input destroys it), the report must be writable, the
disk must hold at least what the report will, and only one run at a time may write them:
a second run on the same report would destroy the first one's journal.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .errors import ReportError, UsageError
from .files import NAME_MAX, partial_path, refuse_link
from .journal import journal_path
from .report import RETRY_FORMATS, retry_path, summary_book_path, summary_path


def outputs(report: Path) -> list[Path]:
    """Every file a run writes beside ``report`` (and the report itself)."""
    retries = [retry_path(report, kind) for kind in RETRY_FORMATS]
    return [
        report,
        *retries,
        # CSV files are written beside themselves first (a link there would be written)
        *(partial_path(path) for path in (report, *retries)),
        summary_path(report),
        summary_book_path(report),
        partial_path(summary_book_path(report)),
        journal_path(report),
        lock_path(report),
    ]


def lock_path(report: Path) -> Path:
    """The lock that keeps a second run off the same report and journal."""
    return report.with_name(report.name + ".lock")


def check_outputs(source: Path, report: Path) -> None:
    """Refuse outputs that would overwrite the input, and report paths that cannot be written.

    Runs before anything is read or sent: a report, retry file, summary or journal that is
    the input (same path, a link to it) would destroy it.
    """
    for path in outputs(report):
        if _same_file(path, source):
            raise UsageError(
                f"{path} is the input file {source}: writing it would destroy the input; "
                "choose another --report (e.g. in reports/)"
            )
    if report.is_dir():
        raise ReportError(f"--report {report} is a folder; give a file in it, e.g. {report}/x.csv")
    names = [path.name for path in outputs(report)] + [journal_path(report).name + "-journal"]
    longest = max(names, key=lambda name: len(name.encode("utf-8", "surrogateescape")))
    if len(longest.encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise UsageError(
            f"the report name {report.name} is too long: the file {longest} written beside it "
            f"would have more than the {NAME_MAX} bytes a file name may hold; choose a "
            "shorter --report"
        )
    try:
        report.parent.mkdir(parents=True, exist_ok=True)
        # a file of our own, created and removed: the report itself is never opened here
        # (it may be a link someone planted; it is replaced when written, never followed)
        probe, name = tempfile.mkstemp(prefix=".cg-import-", dir=report.parent)
        os.close(probe)
        os.unlink(name)
    except OSError as err:
        raise ReportError(
            f"cannot write {report} ({err.strerror or err}); choose another --report"
        ) from None


def check_space(report: Path, source: Path, rows: int | None) -> None:
    """Refuse a run whose report cannot fit on the disk.

    The report holds every input cell and the journal a line a row: a low estimate of
    both (the input's size, 50 bytes a row) is checked, so that a run that could succeed
    is not refused, while one bound to fail at its end fails before the first request.
    """
    try:
        free = shutil.disk_usage(report.parent).free
    except OSError:
        return
    need = source.stat().st_size + 50 * (rows or 0)
    if free < need:
        raise ReportError(
            f"only {free / 2**20:,.1f} MiB free in {report.parent}, and the report and journal "
            f"of {source.name} need at least {need / 2**20:,.1f} MiB; free disk space or "
            "choose another --report"
        )


def _same_file(path: Path, source: Path) -> bool:
    try:
        return os.path.samefile(path, source)
    except OSError:
        return False  # one of them does not exist (yet): it cannot be the other


def lock_report(report: Path) -> Any:
    """Hold the report's lock, or refuse at once: two runs would destroy each other's journal."""
    from filelock import FileLock, Timeout

    refuse_link(lock_path(report), "the lock")
    lock = FileLock(str(lock_path(report)), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise UsageError(
            f"another cg-import run is writing {report} (it holds the lock "
            f"{lock_path(report).name}); wait for it to finish or choose another --report"
        ) from None
    except OSError as err:
        raise ReportError(
            f"cannot create the lock {lock_path(report)} ({err.strerror}); choose another --report"
        ) from None
    return lock
