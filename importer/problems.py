"""The problems of a run tallied as it goes: how often each kind of error occurred, per
field, with the first rows of each (the Summary's "most frequent errors")."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from .outcome import PROBLEMS, split_errors

#: how many of the most frequent kinds of error a summary lists
TOP_ERRORS = 20
#: what differs between errors of one kind: quoted values and numbers (not HTTP statuses)
_QUOTED = re.compile(r"'[^'\n]*'")
#: ...but a number a limit is written with ("at most 100", "greater than 100", "--max-wait
#: 300") is the rule, the same for every row: it stays, so that the kind names its limit
_LIMIT = r"(?:at (?:most|least)|(?:more|greater|less|fewer|longer) than|up to|--[a-z][a-z-]*) "
_NUMBER = re.compile(rf"(?P<limit>{_LIMIT})?(?<!HTTP )(?<![\w+])\d+(?:[.,:]\d+)*")


def error_kind(message: str) -> str:
    """A message with its offending values (quoted texts, numbers) as ``…``: errors that
    differ only in the value are one kind of error. Limits are no values: they stay."""
    return _NUMBER.sub(_value_hidden, _QUOTED.sub("'…'", message))


def _value_hidden(found: re.Match[str]) -> str:
    return found.group() if found.group("limit") else "…"


class ProblemTally:
    """How often each kind of error occurred, per field, with the first rows of each.

    Memory is bounded whatever the number of rows: a count and at most ``FIRST_ROWS`` row
    numbers per kind, and at most ``MAX_KINDS`` kinds (the rest are counted together).
    """

    FIRST_ROWS = 5
    MAX_KINDS = 5_000
    OTHER = "(other messages)"

    def __init__(self) -> None:
        self.kinds: dict[tuple[str, str], _Kind] = {}
        self.per_field: Counter[str] = Counter()

    def add(self, rows: np.ndarray, statuses: np.ndarray, errors: np.ndarray) -> None:
        """One chunk: source rows, statuses and ``errors`` texts, as object arrays."""
        wanted = (errors != "") & np.isin(statuses, PROBLEMS)
        for row, text in zip(rows[wanted].tolist(), errors[wanted].tolist(), strict=True):
            for field, message in split_errors(text):
                self.per_field[field] += 1
                kind = error_kind(message)
                found = self.kinds.get((field, kind))
                if found is None:
                    if len(self.kinds) >= self.MAX_KINDS - 1:  # one is kept for the rest
                        field, kind = "row", self.OTHER
                        found = self.kinds.get((field, kind))
                    if found is None:
                        found = self.kinds[field, kind] = _Kind(message)
                found.count += 1
                if len(found.first_rows) < self.FIRST_ROWS:
                    found.first_rows.append(int(row))

    def top(self, count: int) -> list[dict[str, Any]]:
        """The ``count`` most frequent kinds: message, field, count, first rows, an example."""
        ranked = sorted(
            self.kinds.items(), key=lambda item: (-item[1].count, item[1].first_rows[:1])
        )
        return [
            {
                "message": message,
                "field": field,
                "count": kind.count,
                "first_rows": list(kind.first_rows),
                "example": kind.example,
            }
            for (field, message), kind in ranked[:count]
        ]


@dataclass
class _Kind:
    example: str
    count: int = 0
    first_rows: list[int] = dataclasses.field(default_factory=list)
