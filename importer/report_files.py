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


def lock_report(report: Path) -> ReportLock:
    """Hold the report's lock, or refuse at once: two runs would destroy each other's journal."""
    return ReportLock(report)


class ReportLock:
    """The report's lock, ``<report>.lock``: held while a run writes the report and its
    companions, and removed when the run ends, however it ends (``release``).

    Removing a lock file is safe only as done here: by its holder, while it still holds
    it, and only the file it locked. A run that opened the file just before that and takes
    the lock just after finds a file with no name left (filelock checks the link count
    after locking) and is refused as if the holder still ran, which a moment before it did;
    the next run creates the file afresh. A run killed with ``kill -9`` leaves the file,
    unheld: the next run takes it, and removes it when it ends.
    """

    def __init__(self, report: Path) -> None:
        from filelock import FileLock, Timeout

        self.path = lock_path(report)
        refuse_link(self.path, "the lock")
        self._lock = FileLock(str(self.path), timeout=0)
        try:
            self._lock.acquire()
        except Timeout:
            raise UsageError(
                f"another cg-import run is writing {report} (it holds the lock "
                f"{self.path.name}); wait for it to finish or choose another --report"
            ) from None
        except OSError as err:
            raise ReportError(
                f"cannot create the lock {self.path} ({err.strerror}); choose another --report"
            ) from None
        try:  # the file locked, to remove only that one (nobody else removes a held lock)
            self._held: os.stat_result | None = os.lstat(self.path)
        except OSError:
            self._held = None

    def release(self) -> None:
        """Remove the lock file, then let the lock go (idempotent)."""
        if not self._lock.is_locked:
            return
        try:
            if self._held is not None and os.path.samestat(os.lstat(self.path), self._held):
                os.unlink(self.path)  # on Windows, filelock removes it after the release
        except OSError:
            pass  # gone already, or held open elsewhere: an unheld file locks nobody out
        finally:
            self._lock.release()
