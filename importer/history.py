"""What was already imported, per API host and client ID, so a run sends only new and changed rows.

Nightly exports are cumulative: tonight's file repeats last night's rows. The history
(one SQLite file, shared by every run that names it) remembers, for each API host and
client ID, every reference imported with a 16-byte digest of the body sent
(``ChunkResult.payload_hashes``) and the activity ID the API returned. A row whose
reference is there with the same digest is ``unchanged``: sending it again would change
nothing. It also remembers input files by content hash, so a file already fully imported,
under any name, is recognised.

A lost write costs nothing but a resend: a row the history missed is only sent again
(an update, never a duplicate). Rows are therefore committed in batches of 100 or every
half second, as in ``journal.py``. Two processes may share the file (an ``inbox`` job and a
manual ``run --history``): WAL lets readers and a writer work together, and a writer waits
up to 30 s for the other one's lock instead of failing. The client secret never goes in.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from .errors import ReportError
from .outcome import Outcome, Status

#: the schema's version, in ``PRAGMA user_version``
VERSION = 1
#: how long to wait for another process's write lock before giving up, in seconds
BUSY_TIMEOUT = 30.0
_SCHEMA = f"""
CREATE TABLE scope (
    id INTEGER PRIMARY KEY,
    api TEXT NOT NULL,
    client_id TEXT NOT NULL,
    UNIQUE (api, client_id)
);
CREATE TABLE imported (
    scope INTEGER NOT NULL REFERENCES scope (id),
    reference TEXT NOT NULL,
    payload_hash BLOB NOT NULL,
    activity_id TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    file_name TEXT NOT NULL,
    PRIMARY KEY (scope, reference)
) WITHOUT ROWID;
CREATE TABLE input_file (
    scope INTEGER NOT NULL REFERENCES scope (id),
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_imported TEXT NOT NULL,
    fully_imported_at TEXT,
    report TEXT NOT NULL,
    PRIMARY KEY (scope, sha256)
) WITHOUT ROWID;
PRAGMA user_version = {VERSION};
"""
#: references asked about at once: a chunk's worth, with room to spare
_LOOKUP_BATCH = 20_000
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

Imported = tuple[str, str]  # (activity_id, imported_at)
Sendable = tuple[int, str, bytes]  # (source row, reference, JSON body)


@dataclass(frozen=True)
class FileRecord:
    """An input file the history has seen, recognised by its content."""

    sha256: str
    name: str  # its name at its last full import (else at its last import)
    first_seen: str  # ISO UTC
    last_imported: str  # ISO UTC, fully or not
    imported_at: str | None  # ISO UTC of its last full import (every row imported or unchanged)
    report: str  # the report of that import

    @property
    def fully_imported(self) -> bool:
        """Every row of this content was imported (or unchanged) at least once."""
        return self.imported_at is not None


def api_key(api: str) -> str:
    """The API's host (and port) from a URL or a host name: how entries are scoped.

    User and password in a URL never reach the file.
    """
    text = api.strip()
    parts = urlsplit(text if "//" in text else f"//{text}")
    host = (parts.hostname or text).lower()
    return f"{host}:{parts.port}" if parts.port else host


def unchanged_note(imported_at: str) -> str:
    """The ``errors`` text of an unchanged row: it was not sent, and since when it stands."""
    when = imported_at.replace("T", " ").removesuffix("Z")
    return f"not sent: imported with exactly this content on {when} UTC"


class History:
    """The rows imported into one API under one client ID, in a file several runs share."""

    def __init__(
        self,
        path: Path,
        api: str,
        client_id: str,
        *,
        batch: int = 100,
        every: float = 0.5,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.path = path
        self.api = api_key(api)
        self.client_id = client_id
        self.batch = batch
        self.every = every
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._pending: list[tuple[int, str, bytes, str, str, str]] = []
        self._flushed = time.monotonic()
        # the writer serves the event loop (record); the lookup reads in a worker thread or
        # the checking process (unchanged): WAL lets each go on while the other works
        self._write_lock = threading.Lock()
        with self._failing("cannot open"):
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = _connect(path)
        try:
            with self._failing("cannot open"):
                self._scope = self._prepare()
                self.lookup = Lookup(path, self.api, client_id)
        except BaseException:
            self._db.close()
            raise

    def _prepare(self) -> int:
        """Create the schema in a new file, check it in an old one; this scope's id."""
        # WAL is a property of the file, kept by every later connection; setting it needs
        # no write lock beyond a brief one, and on a non-SQLite file it fails first
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        with self._transaction():
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            if version == 0:
                (tables,) = self._db.execute("SELECT count(*) FROM sqlite_schema").fetchone()
                if tables:
                    raise ReportError(
                        f"{self.path} is an SQLite database but not a cg-import history; "
                        "pass another --history path (the file is left as it is)"
                    )
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            elif version > VERSION:
                raise ReportError(
                    f"the history {self.path} was written by a newer cg-import (format "
                    f"{version}; this one reads {VERSION}): upgrade cg-import, or pass "
                    "another --history path"
                )
            self._db.execute(
                "INSERT OR IGNORE INTO scope (api, client_id) VALUES (?, ?)",
                (self.api, self.client_id),
            )
            (scope,) = self._db.execute(
                "SELECT id FROM scope WHERE api = ? AND client_id = ?", (self.api, self.client_id)
            ).fetchone()
        return int(scope)

    def unchanged(
        self, references: Sequence[str], hashes: Sequence[bytes]
    ) -> list[Imported | None]:
        """For each row, (activity_id, imported_at) if that exact payload was imported, else
        None (``Lookup.unchanged``)."""
        return self.lookup.unchanged(references, hashes)

    def record(self, reference: str, payload_hash: bytes, activity_id: str, file_name: str) -> None:
        """Remember one imported row; it reaches the disk with the next batch."""
        self._pending.append(
            (self._scope, reference, payload_hash, activity_id, self._now(), file_name)
        )
        if len(self._pending) >= self.batch or time.monotonic() - self._flushed >= self.every:
            self.flush()

    def record_many(self, rows: Iterable[tuple[str, bytes, str]], file_name: str) -> None:
        """Remember many imported rows (reference, payload hash, activity ID) in one commit."""
        self.flush()
        now = self._now()
        self._write((self._scope, ref, digest, aid, now, file_name) for ref, digest, aid in rows)

    def doubt(self, references: Sequence[str]) -> None:
        """Forget ``references`` durably, before they are sent: a send that fails or gets
        no answer may still have been applied, so only a later import (``record``) says
        again what the API holds; until then a row of theirs is never ``unchanged``."""
        self.flush()  # an earlier row's import, still pending, must not land after this
        with self._failing("cannot write"), self._transaction():
            for start in range(0, len(references), _LOOKUP_BATCH):
                batch = json.dumps(list(references[start : start + _LOOKUP_BATCH]))
                self._db.execute(
                    "DELETE FROM imported WHERE scope = ? "
                    "AND reference IN (SELECT value FROM json_each(?))",
                    (self._scope, batch),
                )

    def flush(self) -> None:
        """Write the pending rows durably."""
        self._flushed = time.monotonic()
        if self._pending:
            pending, self._pending = self._pending, []
            self._write(pending)

    def _write(self, rows: Iterable[tuple[int, str, bytes, str, str, str]]) -> None:
        with self._failing("cannot write"), self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO imported VALUES (?, ?, ?, ?, ?, ?)", rows)

    def file_imported(self, sha256: str) -> FileRecord | None:
        """What the history knows of an input file with this content, if anything."""
        with self._write_lock, self._failing("cannot read"):
            row = self._db.execute(
                "SELECT sha256, name, first_seen, last_imported, fully_imported_at, report "
                "FROM input_file WHERE scope = ? AND sha256 = ?",
                (self._scope, sha256),
            ).fetchone()
        return None if row is None else FileRecord(*row)

    def record_file(self, sha256: str, name: str, fully_imported: bool, report: str) -> None:
        """Remember an input file's import; once fully imported, it stays so."""
        self.flush()
        now = self._now()
        # after a partial import of a file once fully imported, the full import's name,
        # time and report stay: they are what a repeat of the file is a duplicate of
        keep = "input_file.fully_imported_at IS NOT NULL AND excluded.fully_imported_at IS NULL"
        with self._failing("cannot write"), self._transaction():
            self._db.execute(
                "INSERT INTO input_file VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (scope, sha256) DO UPDATE SET "
                "last_imported = excluded.last_imported, "
                f"name = iif({keep}, input_file.name, excluded.name), "
                f"report = iif({keep}, input_file.report, excluded.report), "
                "fully_imported_at = "
                f"iif({keep}, input_file.fully_imported_at, excluded.fully_imported_at)",
                (self._scope, sha256, name, now, now, now if fully_imported else None, report),
            )

    def close(self) -> None:
        """Flush and close."""
        try:
            self.flush()
        finally:
            self.lookup.close()
            self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self) -> str:
        return self._clock().astimezone(dt.UTC).strftime(_TIME_FORMAT)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction, taking the write lock at once (so a busy wait can work)."""
        with self._write_lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _failing(self, what: str) -> contextlib.AbstractContextManager[None]:
        return _failing(self.path, what)


class Lookup:
    """The history's read side: the rows it holds exactly as they are, for one API host and
    client ID (``unchanged``).

    It may ask from another process (the one that checks the rows ahead,
    ``checked_ahead.py``): nothing is opened before the first question, and then in the
    process that asks (an SQLite connection must never cross a fork; a copy taken by a fork
    or a pickle starts afresh, as that process checks the file from its first row). A
    history that does not exist yet, or holds nothing of this scope yet, holds none of the
    rows.
    """

    def __init__(self, path: Path, api: str, client_id: str) -> None:
        self.path = path
        self.api = api_key(api)
        self.client_id = client_id
        self._fresh()

    def _fresh(self) -> None:
        self._pid = os.getpid()
        self._db: sqlite3.Connection | None = None
        self._scope: int | None = None
        self._seen = _SeenKeys()
        # held by each query and by close: an SQLite connection closed while another thread
        # reads through it crashes the interpreter (a run ends while a slice checked ahead
        # is still being looked up in a thread)
        self._lock = threading.Lock()
        self._closed = False

    def __getstate__(self) -> dict[str, object]:
        return {"path": self.path, "api": self.api, "client_id": self.client_id}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._fresh()

    def unchanged(
        self, references: Sequence[str], hashes: Sequence[bytes]
    ) -> list[Imported | None]:
        """For each row, (activity_id, imported_at) if that exact payload was imported, else None.

        A reference already asked about in this run (earlier in the file) is never
        unchanged: the earlier row may be sent, and only sending the later one too keeps
        the file's last state, as a run without the history would.
        """
        if len(references) != len(hashes):
            raise ValueError("one payload hash per reference")
        found: list[Imported | None] = [None] * len(references)
        if not len(references):
            return found
        if self._pid != os.getpid():
            self._fresh()  # a fork's copy: its own connection, its own file from the start
        with self._open():
            positions = np.flatnonzero(self._seen.first_time(references)).tolist()
            scope = self._scope_id() if positions else None
        if scope is None:
            return found
        asked = [references[i] for i in positions]
        # in the B-tree's order: neighbours share pages (a shuffled file: 2.4 x faster)
        order = sorted(range(len(asked)), key=asked.__getitem__)
        for start in range(0, len(order), _LOOKUP_BATCH):
            batch = order[start : start + _LOOKUP_BATCH]
            with self._open():  # a close waits for one batch at most
                known = self._query([asked[i] for i in batch], scope)
            for key, payload_hash, activity_id, imported_at in known:
                position = positions[batch[key]]
                if payload_hash == hashes[position]:
                    found[position] = (activity_id, imported_at)
        return found

    @contextlib.contextmanager
    def _open(self) -> Iterator[None]:
        """The lock, on a lookup not closed yet; SQLite's errors as one ReportError."""
        with self._lock, _failing(self.path, "cannot read"):
            if self._closed:  # the run has ended: what this would find is never used
                raise ReportError(f"the history {self.path} was closed before a lookup")
            yield

    def _scope_id(self) -> int | None:
        """This scope's id in the file, or None while the file or the scope is not there."""
        if self._scope is None:
            if self._db is None:
                if not self.path.exists():
                    return None
                self._db = _connect(self.path)
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            if not version:
                return None  # being created by the run's own History: nothing in it yet
            row = self._db.execute(
                "SELECT id FROM scope WHERE api = ? AND client_id = ?", (self.api, self.client_id)
            ).fetchone()
            self._scope = None if row is None else int(row[0])
        return self._scope

    def _query(self, references: list[str], scope: int) -> list[tuple[int, bytes, str, str]]:
        """(index in ``references``, payload hash, activity ID, imported at) of those known."""
        # one query for the whole batch: the references travel as one JSON array
        # (measured, 1M rows against 1M: 2.8 s, `IN (…)` batches of 900: 3.1 s, a temp
        # table joined: 3.9 s)
        assert self._db is not None
        rows: list[tuple[int, bytes, str, str]] = self._db.execute(
            "SELECT j.key, i.payload_hash, i.activity_id, i.imported_at "
            "FROM json_each(?) j CROSS JOIN imported i "
            "WHERE i.scope = ? AND i.reference = j.value",
            (json.dumps(references), scope),
        ).fetchall()
        return rows

    def close(self) -> None:
        """Close the connection this process opened, if any (after the query under way)."""
        with self._lock:
            self._closed = True
            db, self._db = self._db, None
        if db is not None and self._pid == os.getpid():
            db.close()


@dataclass
class UnchangedRows:
    """Rows of a slice that the history holds as they are: not sent, reported
    ``unchanged``. Columns, not an ``Outcome`` a row: a nightly file may hold millions."""

    rows: list[int]
    references: list[str]
    activity_ids: list[str]
    notes: list[str]  # the ``errors`` text: since when it stands (``unchanged_note``)

    @classmethod
    def of(
        cls, rows: Sequence[int], references: Sequence[str], found: Sequence[Imported | None]
    ) -> UnchangedRows:
        """The rows whose ``found`` (``Lookup.unchanged``) is not None."""
        hits = [i for i, hit in enumerate(found) if hit is not None]
        notes: dict[str, str] = {}  # a history's rows share a few times: one note each
        when = [found[i][1] for i in hits]  # type: ignore[index]
        return cls(
            [int(rows[i]) for i in hits],
            [references[i] for i in hits],
            [found[i][0] for i in hits],  # type: ignore[index]
            [notes.get(t) or notes.setdefault(t, unchanged_note(t)) for t in when],
        )

    def __len__(self) -> int:
        return len(self.rows)


class Changes:
    """The history's part in a run: rows it holds as they are stay unsent (``unchanged``,
    with the activity ID it remembers) when only changed rows are wanted, and every row
    imported is remembered with the hash of what was sent. Without a history: nothing."""

    def __init__(self, history: History | None, only_changed: bool, file_name: str) -> None:
        self.history = history
        self.only_changed = only_changed
        self.file_name = file_name
        self._hashes: dict[int, bytes] = {}  # rows sent and not yet answered
        self._waiting: Counter[str] = Counter()  # of those, the rows of each reference

    def split(
        self, sendable: list[Sendable], hashes: list[bytes], finished: set[int], *, ask: bool = True
    ) -> tuple[list[Sendable], UnchangedRows | None]:
        """(the bodies to send, the rows the history holds unchanged), of a slice's
        ``sendable`` rows with their payloads' ``hashes``.

        Rows ``finished`` in the journal of a resumed run are neither. ``ask`` False: the
        history was asked already (by the checks, ``checked_ahead.py``), these are to send.
        """
        keep = [i for i, (row, _, _) in enumerate(sendable) if row not in finished]
        unchanged = None
        if self.history is not None and keep:
            if self.only_changed and ask:
                references = [sendable[i][1] for i in keep]
                found = self.history.unchanged(references, [hashes[i] for i in keep])
                unchanged = UnchangedRows.of([sendable[i][0] for i in keep], references, found)
                keep = [i for i, hit in zip(keep, found, strict=True) if hit is None]
            self._hashes.update((sendable[i][0], hashes[i]) for i in keep)
        if len(keep) == len(sendable):
            return sendable, unchanged
        return [sendable[i] for i in keep], unchanged

    def doubt(self, sendable: list[Sendable]) -> None:
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


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(
        path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
    )


@contextlib.contextmanager
def _failing(path: Path, what: str) -> Iterator[None]:
    """SQLite and file-system errors become one ReportError saying what to do."""
    try:
        yield
    except (OSError, sqlite3.Error) as err:
        raise ReportError(_explain(path, what, err)) from None


def _explain(path: Path, what: str, err: OSError | sqlite3.Error) -> str:
    name = getattr(err, "sqlite_errorname", "")
    if name == "SQLITE_NOTADB":
        return (
            f"the history {path} is not a cg-import history (not an SQLite file); "
            "pass another --history path (the file is left as it is)"
        )
    if name.startswith("SQLITE_CORRUPT"):
        return (
            f"the history {path} is damaged ({err}); move it aside and run again "
            "(a new history starts empty, so every row is sent once more)"
        )
    if name.startswith("SQLITE_BUSY"):
        return (
            f"the history {path} stayed locked by another cg-import for {BUSY_TIMEOUT:.0f} s; "
            "run again when it has finished"
        )
    reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    fix = (
        "free disk space (or fix the folder's permissions) and run again; rows it could "
        "not remember are only sent again next time"
        if what == "cannot write"
        else "its folder must exist or be creatable, and be writable: fix that, or pass "
        "another --history path"
    )
    return f"{what} the history {path} ({reason or err.__class__.__name__}); {fix}"


class _SeenKeys:
    """References asked about so far, as sorted 8-byte hashes (8 MB for a million)."""

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.uint64)

    def first_time(self, references: Sequence[str]) -> np.ndarray:
        """True for each reference not asked about before (nor earlier in this call)."""
        keys = pd.util.hash_array(np.asarray(references, dtype=object), categorize=False)
        order = np.argsort(keys, kind="stable")  # sorted look-ups: far fewer cache misses
        ordered = keys[order]
        pos = np.searchsorted(self._keys, ordered)
        inside = pos < len(self._keys)
        earlier = np.zeros(len(keys), dtype=bool)
        earlier[inside] = self._keys[pos[inside]] == ordered[inside]
        earlier[1:] |= ordered[1:] == ordered[:-1]  # a repeat within this call (stable: the first)
        first = np.empty(len(keys), dtype=bool)
        first[order] = ~earlier
        new = ordered[~earlier]
        self._keys = np.insert(self._keys, pos[~earlier], new)
        return first
