"""Rows that share a reference with an earlier row but hold other values.

The API keeps one activity per reference: a later row of a reference replaces what an
earlier one sent. Where the two rows' sent cells differ, the later row's report line says
so ("reference: also row 12, with other values: this row's are kept") and the summary
counts it; identical rows change nothing and are not flagged (exact duplicates of derived
references are ``skipped`` before this).

Remembered per reference: its last sent row and a 64-bit digest of that row's sent cells,
in sorted numpy arrays (24 bytes a reference), so memory stays flat over millions of rows.
Keys and digests are Python's own hashes (of a text; of a row's tuple of texts): computed
in C, each text hashed once, about four times faster than hashing column by column with
pandas. They are salted per process: one process hashes every row one object compares
(``validate``'s second process hashes the rows it checks, ``row_hashes``, for the report).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .outcome import Status

#: rows whose values reach (or, validated, would reach) the API
_SENT = frozenset((Status.VALID, Status.IMPORTED))


def sorted_lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``keys`` stands in ``sorted_keys``, and whether it is there."""
    at = np.searchsorted(sorted_keys, keys)
    found = at < len(sorted_keys)
    found[found] = sorted_keys[at[found]] == keys[found]
    return at, found


class SharedReferences:
    """Flags, chunk by chunk in row order, the rows that replace an earlier row's values."""

    def __init__(self) -> None:
        # each reference in one of two levels: the recent ones, few, where new ones are put
        # in place, and the others, merged with the recent ones once those are a quarter
        # of them (putting each chunk's new references into millions costs 5 times more)
        self._levels = (_Level(), _Level())
        #: rows whose values replaced those of an earlier row of their reference
        self.count = 0

    def notes(
        self,
        rows: np.ndarray,
        references: np.ndarray,
        statuses: np.ndarray,
        cells: list[np.ndarray],
        hashed: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray | None:
        """For each row, the note saying which earlier row's values it replaces ("" for
        none); None when no row of the chunk does. ``cells``: the sent columns' cells;
        ``hashed``: ``row_hashes`` of all the rows, if found already (by the same process
        for every chunk: the hashes are salted per process)."""
        sent_status = np.fromiter(map(_SENT.__contains__, statuses.tolist()), bool, len(rows))
        sent = np.flatnonzero(sent_status & (references != ""))
        if not len(sent):
            return None
        if hashed is None:
            keys, digests = row_hashes(references[sent], [column[sent] for column in cells])
        else:
            keys, digests = hashed[0][sent], hashed[1][sent]
        order = np.argsort(keys, kind="stable")  # rows keep their order within a reference
        key, digest, row = keys[order], digests[order], rows[sent][order].astype(np.int64)
        # each reference's first and last row of the chunk, and where it is remembered
        same = np.zeros(len(key), dtype=bool)
        same[1:] = key[1:] == key[:-1]
        first = np.flatnonzero(~same)
        last = np.append(first[1:] - 1, len(key) - 1)
        found = [level.lookup(key[first]) for level in self._levels]
        before_row = np.full(len(key), -1, dtype=np.int64)
        before_digest = np.zeros(len(key), dtype=np.uint64)
        inside = np.flatnonzero(same)
        before_row[inside] = row[inside - 1]
        before_digest[inside] = digest[inside - 1]
        for level, (at, known) in zip(self._levels, found, strict=True):
            before_row[first[known]] = level.rows[at[known]]
            before_digest[first[known]] = level.digests[at[known]]
        flagged = (before_row >= 0) & (before_digest != digest)
        self._remember(key[last], digest[last], row[last], found)
        if not flagged.any():
            return None
        self.count += int(flagged.sum())
        notes = np.full(len(rows), "", dtype=object)
        notes[sent[order][flagged]] = [
            f"reference: also row {earlier}, with other values: this row's are kept"
            for earlier in before_row[flagged].tolist()
        ]
        return notes

    def _remember(
        self,
        key: np.ndarray,
        digest: np.ndarray,
        row: np.ndarray,
        found: list[tuple[np.ndarray, np.ndarray]],
    ) -> None:
        """Each reference's last row of the chunk (``key`` sorted, ``found``: where each is
        remembered) replaces what was remembered of it."""
        new = np.ones(len(key), dtype=bool)
        for level, (at, known) in zip(self._levels, found, strict=True):
            level.rows[at[known]] = row[known]
            level.digests[at[known]] = digest[known]
            new &= ~known
        old, recent = self._levels
        if new.any():
            recent.insert(found[1][0][new], key[new], row[new], digest[new])
        if len(recent.keys) > max(len(old.keys) // 4, 1 << 16):
            old.merge(recent)


class _Level:
    """References (sorted hashes), the last sent row of each and that row's digest."""

    def __init__(self) -> None:
        self.keys = np.empty(0, dtype=np.uint64)
        self.rows = np.empty(0, dtype=np.int64)
        self.digests = np.empty(0, dtype=np.uint64)

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return sorted_lookup(self.keys, keys)

    def insert(
        self, at: np.ndarray, keys: np.ndarray, rows: np.ndarray, digests: np.ndarray
    ) -> None:
        """Put ``keys`` (sorted, none known) where they belong (``at``)."""
        self.keys = np.insert(self.keys, at, keys)
        self.rows = np.insert(self.rows, at, rows)
        self.digests = np.insert(self.digests, at, digests)

    def merge(self, other: _Level) -> None:
        """Take every reference of ``other`` (none of them known here); empty it."""
        keys = np.concatenate([self.keys, other.keys])
        order = np.argsort(keys, kind="stable")  # two sorted runs: merged in one pass
        self.keys = keys[order]
        self.rows = np.concatenate([self.rows, other.rows])[order]
        self.digests = np.concatenate([self.digests, other.digests])[order]
        other.clear()


def row_hashes(references: np.ndarray, cells: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the hash of its reference and the digest of its sent ``cells``."""
    keys = _hashes(references.tolist())
    return keys, _hashes(zip(*(column.tolist() for column in cells), strict=True))


def _hashes(values: Iterable[object]) -> np.ndarray:
    """Python's hash of each value, as unsigned 64-bit numbers."""
    return np.fromiter(map(hash, values), dtype=np.int64).view(np.uint64)
