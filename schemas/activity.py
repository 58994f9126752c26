"""The Activities API field rules, as one pandera schema: the single source of those rules.

The importer validates every chunk of rows with ``ACTIVITY_SCHEMA`` before anything is
sent, and the local sandbox API derives its server-side checks from the same object
(``field_rules()``), so the two can never drift apart.

``happened_at`` is checked here in its sent form (``Y-m-d H:i:s`` in UTC); turning the
many forms found in spreadsheets into that form is ``importer/dates.py``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandera.pandas as pa

SENT_TIMESTAMP = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"


def _text(max_length: int, *, required: bool) -> pa.Column:
    return pa.Column(
        dtype=None,
        nullable=not required,
        checks=[
            pa.Check.str_length(
                max_value=max_length, error=f"must be at most {max_length} characters"
            )
        ],
        required=True,
    )


ACTIVITY_SCHEMA = pa.DataFrameSchema(
    {
        "reference": _text(128, required=False),
        "account": _text(255, required=True),
        "contact": _text(255, required=False),
        "type": _text(100, required=True),
        "source": _text(100, required=True),
        "happened_at": pa.Column(
            dtype=None,
            nullable=False,
            checks=[
                pa.Check.str_matches(
                    SENT_TIMESTAMP, error="must be a date and time (Y-m-d H:i:s, UTC)"
                )
            ],
        ),
    },
    name="activity",
    strict=True,
    ordered=True,
)

#: The API fields in the order they are sent and reported.
FIELDS: tuple[str, ...] = tuple(ACTIVITY_SCHEMA.columns)
#: Fields every activity must have.
REQUIRED: tuple[str, ...] = tuple(
    name for name, col in ACTIVITY_SCHEMA.columns.items() if not col.nullable
)


@dataclass(frozen=True)
class FieldRule:
    """One field's rules in plain values, for code that checks a single payload."""

    name: str
    required: bool
    max_length: int | None
    pattern: str | None


def field_rules() -> tuple[FieldRule, ...]:
    """The schema's rules per field, read off ``ACTIVITY_SCHEMA`` itself."""
    rules = []
    for name, column in ACTIVITY_SCHEMA.columns.items():
        max_length = None
        pattern = None
        for check in column.checks:
            stats = check.statistics or {}
            if check.name == "str_length":
                max_length = stats.get("max_value")
            elif check.name == "str_matches":
                pattern = str(stats.get("pattern"))
        rules.append(FieldRule(name, not column.nullable, max_length, pattern))
    return tuple(rules)
