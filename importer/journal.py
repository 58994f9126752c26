"""A durable SQLite record of every row's outcome, so a stopped run can resume.

The journal sits beside the report (``<report>.journal.sqlite``) and is keyed on the input
file's SHA-256: resuming against a changed file is refused. Outcomes are committed in
batches of 100 or every half second, whichever comes first (the pipeline also flushes
when outcomes stop arriving); losing the last batch to a crash only means those rows are
sent again, which is harmless because every row has a stable reference (sending it again
updates, never duplicates).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .errors import ResumeError

FINAL = ("imported", "rejected", "invalid", "skipped")
COLUMNS = ("source_row", "status", "reference", "activity_id", "http_status", "attempts", "errors")
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

Outcome = tuple[int, str, str | None, str | None, int | None, int | None, str | None]


def journal_path(report: Path) -> Path:
    """Where the journal of ``report`` lives."""
    return report.with_name(report.name + ".journal.sqlite")


class Journal:
    """Outcomes of one input file's rows, written in batches."""

    def __init__(
        self, path: Path, input_sha256: str, *, resume: bool, batch: int = 100, every: float = 0.5
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
        if not resume and path.exists():
            path.unlink()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        stored = self._db.execute("SELECT value FROM meta WHERE key='input_sha256'").fetchone()
        if stored is None:
            self._db.execute("INSERT INTO meta VALUES ('input_sha256', ?)", (input_sha256,))
        elif stored[0] != input_sha256:
            self._db.close()
            raise ResumeError(
                "the input file changed since the interrupted run (its content hash differs); "
                "resume with the original file, or start afresh without --resume"
            )

    def record(self, outcome: Outcome) -> None:
        """Keep one outcome; it reaches the disk with the next batch."""
        self._pending.append(outcome)
        if len(self._pending) >= self.batch or time.monotonic() - self._flushed >= self.every:
            self.flush()

    def record_many(self, outcomes: Iterable[Outcome]) -> None:
        """Keep many outcomes at once (validation results of a chunk)."""
        self.flush()
        self._write(list(outcomes))

    def flush(self) -> None:
        """Write the pending outcomes durably."""
        self._flushed = time.monotonic()
        if self._pending:
            pending, self._pending = self._pending, []
            self._write(pending)

    def _write(self, rows: list[Outcome]) -> None:
        if not rows:
            return
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO outcome VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )

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
        self.flush()
        self._db.close()
