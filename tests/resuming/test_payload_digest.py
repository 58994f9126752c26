"""The payload digest framed once per distinct value: the same digests as framing each row.

Histories keep these digests: the faster framing (``payload_digest.py``) must give, for any
rows, exactly what the row-by-row encoding gives (written out here as it was).
"""

from __future__ import annotations

import hashlib

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.payload_digest import _FEW, _SAMPLE, payload_digests
from schemas.activity import FIELDS


def _row_by_row(frame: pd.DataFrame, extra_keys: tuple[str, ...]) -> list[bytes]:
    """The canonical encoding, one row at a time: fields by name, ``~,``, extras by key."""
    first_extra = len(frame.columns) - len(extra_keys)
    names = [str(name) for name in frame.columns[:first_extra]]
    digests = []
    for values in frame.itertuples(index=False):
        entries = sorted(zip(names, values[:first_extra], strict=True))
        extras = sorted(zip(extra_keys, values[first_extra:], strict=True))
        text = "".join(f"{len(k)}:{k},{len(v)}:{v}," for k, v in entries if not pd.isna(v))
        text += "~,"
        text += "".join(f"{len(k)}:{k},{len(v)}:{v}," for k, v in extras if not pd.isna(v))
        data = text.encode(errors="surrogatepass")
        digests.append(hashlib.blake2b(data, digest_size=16).digest())
    return digests


def _frame(rows: list[list[str | None]], extra_keys: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[*FIELDS, *extra_keys], dtype=object)


_FEW_VALUES = st.one_of(st.none(), st.sampled_from(["", "a", "1:", "~,", "é", "\ud800"]))
_ANY = st.one_of(st.none(), st.text(alphabet="ab1:,~é", max_size=5))
_KEYS = ("x", "account", "a:", "")


@settings(max_examples=200, deadline=None)
@given(data=st.lists(st.tuples(*[st.one_of(_FEW_VALUES, _ANY)] * (len(FIELDS) + 4)), max_size=40))
def test_the_digests_are_those_of_the_row_by_row_encoding(data):
    frame = _frame([list(row) for row in data], _KEYS)
    assert payload_digests(frame, _KEYS) == _row_by_row(frame, _KEYS)


def test_many_rows_of_few_and_of_many_values_alike():
    size = _SAMPLE * 3
    rows = [
        [
            f"R-{i}",  # many values
            ["Acme", None, "Beta"][i % 3],  # few, with missing ones
            f"user{i}@x.example",
            ["Call", "Email"][i % 2],
            None if i % 7 == 0 else "Excel",
            f"2024-03-05T14:{i % 60:02d}:00Z",
            str(i % (_FEW + 1)),  # as many as may be framed once each
            ["Low", "High"][i % 2],
        ]
        for i in range(size)
    ]
    keys = ("Subject", "Priority")
    frame = _frame(rows, keys)
    digests = payload_digests(frame, keys)
    assert digests == _row_by_row(frame, keys)
    assert len(set(digests)) == size


def test_a_known_digest_never_changes():
    frame = _frame(
        [["R-1", "Acme", "ann@acme.example", "Call", "Excel", "2024-03-05T14:22:10Z", "Hi"]],
        ("Subject",),
    )
    assert payload_digests(frame, ("Subject",))[0].hex() == (
        hashlib.blake2b(
            b"7:account,4:Acme,7:contact,16:ann@acme.example,11:happened_at,"
            b"20:2024-03-05T14:22:10Z,9:reference,3:R-1,6:source,5:Excel,4:type,4:Call,"
            b"~,7:Subject,2:Hi,",
            digest_size=16,
        ).hexdigest()
    )


def test_an_empty_frame_has_no_digests():
    assert payload_digests(_frame([], ()), ()) == []
    assert payload_digests(_frame([], ("x",)), ("x",)) == []
