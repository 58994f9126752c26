"""A durable SQLite record of every row's outcome, so a stopped run can resume.

The journal sits beside the report (``<report>.journal.sqlite``) and is keyed on the input
file's SHA-256: resuming against a changed file is refused, and so is resuming with other
settings that shape a payload or a reference (the *pins*: mapping content, time zone,
sheet, header row, delimiter, encoding, API). Outcomes are committed in
batches of 100 or every half second, whichever comes first (the pipeline also flushes
when outcomes stop arriving); losing the last batch to a crash only means those rows are
sent again, which is harmless because every row has a stable reference (sending it again
updates, never duplicates).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from .errors import ReportError, ResumeError
from .files import create_new, refuse_link
from .outcome import FINAL, Outcome, Status

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outcome (
    source_row INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    reference TEXT,
    activity_id TEXT,
    http_status INTEGER,
    attempts INTEGER,
    errors TEXT
);
"""
#: made when first needed (``supersede``): kept up while a million outcomes are written,
#: it would cost more than building it once
_REFERENCE_INDEX = "CREATE INDEX IF NOT EXISTS outcome_reference ON outcome (reference)"
#: the status and errors of a row whose reference a later row imported: sending it again
#: would put back an older state
SUPERSEDED = Status.SKIPPED


def journal_path(report: Path) -> Path:
    """Where the journal of ``report`` lives."""
    return report.with_name(report.name + ".journal.sqlite")


class Journal:
    """Outcomes of one input file's rows, written in batches."""

    def __init__(
        self,
        path: Path,
        input_sha256: str,
        *,
        resume: bool,
        pins: Mapping[str, str] | None = None,
        batch: int = 100,
        every: float = 0.5,
    ):
        self.path = path
        self.batch = batch
        self.every = every
        self._pending: list[Outcome] = []
        self._flushed = time.monotonic()
        if resume and not path.exists():
            raise ResumeError(
                f"nothing to resume: no journal {path.name} beside the report; "
                "pass the same --report as the interrupted run"
            )
        try:
            if resume:
                refuse_link(path, "the journal")
            else:  # a new journal, created afresh: never an earlier one's leftovers, nor a link
                for stale in _companions(path):
                    stale.unlink(missing_ok=True)
                os.close(create_new(path))
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            stored = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except (OSError, sqlite3.Error) as err:
            raise ReportError(
                f"cannot create the journal {path} ({_reason(err)}); nothing was sent: "
                "choose another --report or free disk space"
            ) from None
        wanted = {"input_sha256": input_sha256, **(pins or {})}
        if "input_sha256" in stored and stored["input_sha256"] != input_sha256:
            self._db.close()
            raise ResumeError(
                "the input file changed since the interrupted run (its content hash differs); "
                "resume with the original file, or start afresh without --resume"
            )
        changed = [
            f"{key} was {stored[key]!r}, now {value!r}"
            for key, value in wanted.items()
            if key in stored and stored[key] != value
        ]
        if changed:
            self._db.close()
            raise ResumeError(
                "--resume must use the settings of the interrupted run, as they shape what "
                f"is sent: {'; '.join(changed)}. Resume with the same ones, or start afresh "
                "without --resume"
            )
        with self._writing():
            self._db.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", sorted(wanted.items()))

    def record(self, outcome: Outcome) -> None:
        """Keep one outcome; it reaches the disk with the next batch."""
        self._pending.append(outcome)
        if len(self._pending) >= self.batch or time.monotonic() - self._flushed >= self.every:
            self.flush()

    def record_many(self, outcomes: Iterable[Outcome]) -> None:
        """Keep many outcomes at once (validation results of a chunk)."""
        self.flush()
        self._write(list(outcomes))

    def record_unchanged(
        self,
        rows: Sequence[int],
        references: Sequence[str],
        activity_ids: Sequence[str],
        notes: Sequence[str],
    ) -> None:
        """Keep the outcomes of rows not sent because the history holds them as they are
        (``unchanged``), given as columns: a million of them are kept in a third of the
        time an ``Outcome`` a row takes."""
        self.flush()
        if not rows:
            return
        with self._writing(), self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO outcome "
                f"VALUES (?, '{Status.UNCHANGED}', ?, ?, NULL, NULL, ?)",
                zip(rows, references, activity_ids, notes, strict=True),
            )

    def flush(self) -> None:
        """Write the pending outcomes durably."""
        self._flushed = time.monotonic()
        if self._pending:
            pending, self._pending = self._pending, []
            self._write(pending)

    def _write(self, rows: list[Outcome]) -> None:
        if not rows:
            return
        with self._writing(), self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO outcome VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A failed write (disk full, file too large) becomes one clear ReportError."""
        try:
            yield
        except (OSError, sqlite3.Error) as err:
            raise ReportError(
                f"cannot write the journal {self.path} ({_reason(err)}): nothing was lost. "
                "Free disk space (or fix the folder) and run the same command with --resume"
            ) from None

    def supersede(self) -> int:
        """Mark rows not imported whose reference a later row imported; returns how many.

        Sending such a row again (``--resume``, the retry file) would overwrite the newer
        state with an older one, so it becomes ``skipped``, naming the row that stays.
        """
        self.flush()
        later = (
            "SELECT MAX(l.source_row) FROM outcome l WHERE l.reference = outcome.reference "
            "AND l.source_row > outcome.source_row AND l.status IN ('imported', 'unchanged')"
        )
        with self._writing():
            self._db.execute(_REFERENCE_INDEX)
            cursor = self._db.execute(
                f"UPDATE outcome SET status = ?, errors = 'reference: superseded by row ' || "
                f"({later}) || ', which was imported later with the same reference' "
                f"WHERE status IN ('failed', 'rejected', 'invalid') AND reference IS NOT NULL "
                f"AND ({later}) IS NOT NULL",
                (SUPERSEDED,),
            )
        return cursor.rowcount

    def finished_rows(self, first: int, last: int) -> set[int]:
        """Rows in ``first..last`` that already have a final outcome (not to be sent again)."""
        self.flush()
        marks = ",".join("?" * len(FINAL))
        cursor = self._db.execute(
            f"SELECT source_row FROM outcome WHERE source_row BETWEEN ? AND ? "
            f"AND status IN ({marks})",
            (first, last, *FINAL),
        )
        return {row for (row,) in cursor}

    def outcomes(self, first: int, last: int) -> pd.DataFrame:
        """Every recorded outcome of rows ``first..last``, indexed by source row."""
        self.flush()
        frame = pd.read_sql_query(
            "SELECT * FROM outcome WHERE source_row BETWEEN ? AND ? ORDER BY source_row",
            self._db,
            params=(first, last),
        )
        return frame.set_index("source_row")

    def close(self) -> None:
        """Flush and close."""
        try:
            self.flush()
        finally:
            self._db.close()

    def discard(self) -> None:
        """Close and remove the journal and SQLite's files beside it: for a journal this
        run created and then stopped before sending, which nothing can resume."""
        self._pending.clear()
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        for path in (self.path, *_companions(self.path)):
            with contextlib.suppress(OSError):
                path.unlink()


def _companions(path: Path) -> list[Path]:
    """The files SQLite keeps beside a database while it writes it."""
    return [path.with_name(path.name + ending) for ending in ("-wal", "-shm", "-journal")]


def runs_of(folder: Path, stem: str) -> list[Path]:
    """The reports of earlier runs of an input named ``stem`` in ``folder``, newest first
    (found through their journals: a report may not be written yet)."""
    return _reports_of(folder.glob(f"{glob.escape(stem)}-*.journal.sqlite"))


def runs_of_input(folder: Path, sha256: str) -> list[Path]:
    """The reports of earlier runs in ``folder`` of the input whose SHA-256 is ``sha256``,
    newest first, whatever each report was named (found through their journals)."""
    journals = folder.glob("*.journal.sqlite")
    return _reports_of(j for j in journals if journal_input(j) == sha256)


def _reports_of(journals: Iterable[Path]) -> list[Path]:
    """The reports the ``journals`` belong to, the newest journal first."""
    newest = sorted(journals, key=lambda p: p.stat().st_mtime, reverse=True)
    return [j.with_name(j.name.removesuffix(".journal.sqlite")) for j in newest]


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex (what a journal names its input by)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def journal_input(path: Path) -> str | None:
    """The SHA-256 of the input a journal belongs to (None if it is no readable journal)."""
    try:
        # the path quoted: a name holding %, # or ? is a file name, not part of the URI
        db = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'input_sha256'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or err.__class__.__name__
