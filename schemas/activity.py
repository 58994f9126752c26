"""The Activities API field rules: one table (``RULES``), the single source of those rules.

The importer validates every chunk of rows with the pandera schema built from it
(``activity_schema``), and the local sandbox API checks each body with the same rules
(``field_rules()``), so the two can never drift apart. The schema is built, and pandera
loaded (a fifth of a second), only when a row may fail a rule: a file of valid rows is
checked with the rules alone and never loads it.

``happened_at`` is checked here as a parsed UTC timestamp (seconds), sent as
``SENT_FORMAT``; turning the many forms found in spreadsheets into timestamps is
``importer/dates.py``'s job, and checking a parsed column is one vectorised dtype test.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pandera.pandas as pa

#: How the API wants ``happened_at`` written (in UTC): ``2019-10-06 22:34:45``
SENT_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class FieldRule:
    """One field's rules in plain values."""

    name: str
    required: bool
    max_length: int | None
    timestamp_format: str | None  # the field is a timestamp written in this format


#: The API's fields, in the order they are sent and reported, and their rules.
RULES: tuple[FieldRule, ...] = (
    FieldRule("reference", required=False, max_length=128, timestamp_format=None),
    FieldRule("account", required=True, max_length=255, timestamp_format=None),
    FieldRule("contact", required=False, max_length=255, timestamp_format=None),
    FieldRule("type", required=True, max_length=100, timestamp_format=None),
    FieldRule("source", required=True, max_length=100, timestamp_format=None),
    FieldRule("happened_at", required=True, max_length=None, timestamp_format=SENT_FORMAT),
)
#: The API fields in the order they are sent and reported.
FIELDS: tuple[str, ...] = tuple(rule.name for rule in RULES)
#: Fields every activity must have.
REQUIRED: tuple[str, ...] = tuple(rule.name for rule in RULES if rule.required)


def field_rules() -> tuple[FieldRule, ...]:
    """The rules per field (``RULES``), for code that checks a single payload."""
    return RULES


def text_lengths(data: pd.Series | np.ndarray) -> np.ndarray:
    """The length of each text (0 where missing)."""
    values = data.to_numpy(dtype=object) if isinstance(data, pd.Series) else data
    present = pd.notna(values)
    lengths = np.zeros(len(values), dtype=np.int64)
    # map(len, …) runs in C: 5 times faster than `.str.len()` on millions of texts
    lengths[present] = np.fromiter(map(len, values[present]), np.int64, int(present.sum()))
    return lengths


def is_timestamp_column(dtype: object) -> bool:
    """Whether a column of ``dtype`` holds what the schema's timestamp columns take (a
    time-zone-naive ``datetime64`` of any unit: what ``pa.DateTime`` accepts)."""
    return isinstance(dtype, np.dtype) and dtype.kind == "M"


@functools.cache
def activity_schema() -> pa.DataFrameSchema:
    """``RULES`` as one pandera schema (built once, at the first row that may fail)."""
    import pandera.pandas as pa

    def max_length(limit: int) -> pa.Check:
        """Texts of at most ``limit`` characters (the built-in ``str_length``, vectorised)."""
        return pa.Check(
            lambda data: pd.Series(text_lengths(data) <= limit, index=data.index),
            name="max_length",
            statistics={"max_value": limit},
            error=f"must be at most {limit} characters",
        )

    columns = {}
    for rule in RULES:
        if rule.timestamp_format is not None:
            columns[rule.name] = pa.Column(pa.DateTime, nullable=not rule.required)
        else:
            checks = [] if rule.max_length is None else [max_length(rule.max_length)]
            columns[rule.name] = pa.Column(dtype=None, nullable=not rule.required, checks=checks)
    return pa.DataFrameSchema(columns, name="activity", strict=True, ordered=True)
