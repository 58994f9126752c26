"""Rows that share a reference with an earlier row but hold other values.

The API keeps one activity per reference: a later row of a reference replaces what an
earlier one sent. Where the two rows' sent cells differ, the later row's report line says
so ("reference: also row 12, with other values: this row's are kept") and the summary
counts it; identical rows change nothing and are not flagged (exact duplicates of derived
references are ``skipped`` before this).

Remembered per reference: its last sent row and a 64-bit digest of that row's sent cells,
in sorted numpy arrays (24 bytes a reference), so memory stays flat over millions of rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .outcome import Status

#: rows whose values reach (or, validated, would reach) the API
_SENT = (Status.VALID, Status.IMPORTED)


def sorted_lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``keys`` stands in ``sorted_keys``, and whether it is there."""
    at = np.searchsorted(sorted_keys, keys)
    found = at < len(sorted_keys)
    found[found] = sorted_keys[at[found]] == keys[found]
    return at, found


class SharedReferences:
    """Flags, chunk by chunk in row order, the rows that replace an earlier row's values."""

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.uint64)  # sorted hashes of references
        self._rows = np.empty(0, dtype=np.int64)  # the last sent row of each
        self._digests = np.empty(0, dtype=np.uint64)  # that row's sent cells
        #: rows whose values replaced those of an earlier row of their reference
        self.count = 0

    def notes(
        self,
        rows: np.ndarray,
        references: np.ndarray,
        statuses: np.ndarray,
        cells: list[np.ndarray],
    ) -> np.ndarray | None:
        """For each row, the note saying which earlier row's values it replaces ("" for
        none); None when no row of the chunk does. ``cells``: the sent columns' cells."""
        sent = np.flatnonzero(np.isin(statuses, _SENT) & (references != ""))
        if not len(sent):
            return None
        keys = pd.util.hash_array(references[sent].astype(object), categorize=False)
        # the cells' hashes combined column by column (most cells differ from row to row:
        # hashing them as they are is faster than factorising them first)
        digests = np.zeros(len(sent), dtype=np.uint64)
        for column in cells:
            cell_hashes = pd.util.hash_array(column[sent].astype(object), categorize=False)
            digests = digests * np.uint64(1_000_003) ^ cell_hashes
        order = np.argsort(keys, kind="stable")  # rows keep their order within a reference
        key, digest, row = keys[order], digests[order], rows[sent][order].astype(np.int64)
        before_row, before_digest = self._earlier(key, digest, row)
        flagged = (before_row >= 0) & (before_digest != digest)
        self._remember(key, digest, row)
        if not flagged.any():
            return None
        self.count += int(flagged.sum())
        notes = np.full(len(rows), "", dtype=object)
        notes[sent[order][flagged]] = [
            f"reference: also row {earlier}, with other values: this row's are kept"
            for earlier in before_row[flagged].tolist()
        ]
        return notes

    def _earlier(
        self, key: np.ndarray, digest: np.ndarray, row: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each (key-sorted) row, the row before it of its reference and its digest:
        in this chunk, else remembered from earlier ones (-1: none)."""
        before_row = np.full(len(key), -1, dtype=np.int64)
        before_digest = np.zeros(len(key), dtype=np.uint64)
        same = np.zeros(len(key), dtype=bool)
        same[1:] = key[1:] == key[:-1]
        inside = np.flatnonzero(same)
        before_row[inside] = row[inside - 1]
        before_digest[inside] = digest[inside - 1]
        first = np.flatnonzero(~same)
        at, known = sorted_lookup(self._keys, key[first])
        before_row[first[known]] = self._rows[at[known]]
        before_digest[first[known]] = self._digests[at[known]]
        return before_row, before_digest

    def _remember(self, key: np.ndarray, digest: np.ndarray, row: np.ndarray) -> None:
        """Each reference's last row of the chunk replaces what was remembered of it."""
        last = np.ones(len(key), dtype=bool)
        last[:-1] = key[1:] != key[:-1]
        key, digest, row = key[last], digest[last], row[last]
        at, known = sorted_lookup(self._keys, key)
        self._rows[at[known]] = row[known]
        self._digests[at[known]] = digest[known]
        new = ~known
        if new.any():
            keys = np.concatenate([self._keys, key[new]])
            order = np.argsort(keys, kind="stable")
            self._keys = keys[order]
            self._rows = np.concatenate([self._rows, row[new]])[order]
            self._digests = np.concatenate([self._digests, digest[new]])[order]
