"""A 16-byte digest of the JSON body a row is sent with: how the history (``history.py``)
tells an unchanged row from a changed one.

The body is encoded canonically, as ``validate.derive_references`` does: the sent fields
(reference included) sorted by name, each as ``<length>:<name>,`` + ``<length>:<value>,``
and left out when missing, then ``~,``, then the additional information the same way,
sorted by key; the digest is BLAKE2b (16 bytes) of that text in UTF-8. Equal bodies give
equal digests whatever the column order; any difference in any sent text gives another.
Histories keep these digests: the encoding never changes.

Most columns of an export hold a few values over and over (account, type, source, agent):
a column is framed once per distinct value, and neighbouring columns of few values are
framed together, once per combination, so each row's text joins a handful of pieces
(1,000,000 rows of nine columns: 2.4 s instead of 4.6 s).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

#: a column whose first ``_SAMPLE`` values hold at most ``_FEW`` distinct ones is framed
#: once per distinct value
_SAMPLE = 512
_FEW = 128
#: combinations of neighbouring columns of few values are counted in one integer
_MAX_COMBINATIONS = 1 << 40


class _Coded:
    """A column of few values: each row's code into ``texts`` (its framed values)."""

    def __init__(self, codes: np.ndarray, texts: list[str]) -> None:
        self.codes = codes  # int64, 0 .. len(texts) - 1
        self.texts = texts


def payload_digests(frame: pd.DataFrame, extra_keys: Sequence[str]) -> list[bytes]:
    """The digest of each row of ``frame`` (sendable rows: the fields, then one column per
    additional-information key of ``extra_keys``, by position)."""
    if frame.empty:
        return []
    first_extra = len(frame.columns) - len(extra_keys)
    names = [str(name) for name in frame.columns[:first_extra]]
    pieces: list[_Coded | np.ndarray] = [
        _framed(frame.iloc[:, position], names[position])
        for position in sorted(range(first_extra), key=names.__getitem__)
    ]
    pieces.append(_Coded(np.zeros(len(frame), dtype=np.int64), ["~,"]))
    pieces += [
        _framed(frame.iloc[:, first_extra + position], key)
        for position, key in sorted(enumerate(extra_keys), key=lambda pair: pair[1])
    ]
    parts = [_texts(piece) for piece in _merged(pieces)]
    blake2b = hashlib.blake2b
    if len(parts) == 1:
        rows = parts[0].tolist()
    else:
        rows = ["".join(row) for row in zip(*parts, strict=True)]
    return [blake2b(row.encode(errors="surrogatepass"), digest_size=16).digest() for row in rows]


def _framed(values: pd.Series, key: str) -> _Coded | np.ndarray:
    """Each value as ``<length>:<key>,<length>:<value>,`` ("" when missing): coded if the
    column holds few distinct values, else as texts."""
    cells = values.to_numpy(dtype=object)
    head = f"{len(key)}:{key},"
    if len(pd.unique(cells[:_SAMPLE])) <= _FEW:
        codes, uniques = pd.factorize(cells)  # a missing value: -1, framed as ""
        texts = [f"{head}{len(t)}:{t}," for t in uniques.tolist()]
        texts.append("")
        return _Coded(np.where(codes < 0, len(texts) - 1, codes).astype(np.int64), texts)
    present = pd.notna(cells)
    framed = np.full(len(cells), "", dtype=object)
    framed[present] = [f"{head}{len(t)}:{t}," for t in cells[present].tolist()]
    return framed


def _merged(pieces: list[_Coded | np.ndarray]) -> list[_Coded | np.ndarray]:
    """``pieces`` with each run of neighbouring coded ones made one, coded by combination."""
    merged: list[_Coded | np.ndarray] = []
    for piece in pieces:
        last = merged[-1] if merged else None
        if (
            isinstance(piece, _Coded)
            and isinstance(last, _Coded)
            and len(last.texts) * len(piece.texts) <= _MAX_COMBINATIONS
        ):
            merged[-1] = _together(last, piece)
        else:
            merged.append(piece)
    return merged


def _together(first: _Coded, second: _Coded) -> _Coded:
    """One coded piece for two neighbours: the combinations that occur, each framed once."""
    combined = first.codes * len(second.texts) + second.codes
    seen, codes = np.unique(combined, return_inverse=True)
    width = len(second.texts)
    texts = [first.texts[c // width] + second.texts[c % width] for c in seen.tolist()]
    return _Coded(codes.astype(np.int64).ravel(), texts)


def _texts(piece: _Coded | np.ndarray) -> np.ndarray:
    """A piece as each row's text."""
    if isinstance(piece, _Coded):
        return np.asarray(piece.texts, dtype=object)[piece.codes]
    return piece
