"""The outcome of one input row, the one record that send, the journal, the report and the
workbook all hold, and the statuses it can have.

Every input row ends with exactly one outcome. Its fields are the report's first columns,
in this order, and the journal's table. A status is a ``StrEnum``: it is, compares and is
written as its text (``imported``…), so journals and reports hold the same words as ever.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NamedTuple


class Status(StrEnum):
    """What became of a row, in the order summaries list them."""

    VALID = "valid"  # checked and sendable (validate only: nothing is sent)
    IMPORTED = "imported"  # the API took it
    UNCHANGED = "unchanged"  # the history holds the same payload as imported: not sent
    INVALID = "invalid"  # the schema refused it: fix the row
    REJECTED = "rejected"  # the API refused it: fix the row
    FAILED = "failed"  # no final answer (network, server errors, attempts used up)
    SKIPPED = "skipped"  # not sent on purpose (a duplicate, superseded, not attempted)


#: statuses in the order summaries list them
STATUS_ORDER = tuple(Status)
#: a send's final word on a row
SENT = (Status.IMPORTED, Status.REJECTED, Status.FAILED)
#: rows that got in (or were already in, unchanged)
GOT_IN = (Status.IMPORTED, Status.UNCHANGED)
#: final in the journal: a resumed run does not send these again (a failed row it does)
FINAL = (Status.IMPORTED, Status.UNCHANGED, Status.REJECTED, Status.INVALID, Status.SKIPPED)
#: rows whose status means nothing is left to do; a retry file never holds them
NOTHING_LEFT = (Status.VALID, Status.IMPORTED, Status.UNCHANGED, Status.SKIPPED)
#: rows that go to the retry file (with the rows a stopped run never attempted)
TO_RETRY = (Status.INVALID, Status.REJECTED, Status.FAILED)
#: statuses whose ``errors`` text is a problem to fix (the others carry notes, or nothing)
PROBLEMS = (Status.INVALID, Status.REJECTED, Status.FAILED, Status.SKIPPED)


class Outcome(NamedTuple):
    """What became of one input row: a journal row, the first columns of a report line."""

    source_row: int
    status: Status
    reference: str | None
    activity_id: str | None
    http_status: int | None
    attempts: int | None
    errors: str | None  # ``field: message`` entries joined by ERROR_SEPARATOR


#: the report's first columns and the journal's, in this order
OUTCOME_COLUMNS = Outcome._fields
#: between the ``field: message`` entries of the errors column, from the schema or the API
ERROR_SEPARATOR = " | "
#: an entry's field: an API field name, ``row``, ``additional_information_object.Key``…
_FIELD = re.compile(r"[A-Za-z_][\w.]*")


def split_errors(errors: str) -> list[tuple[str, str]]:
    """An ``errors`` text as (field, message) pairs; an entry without a field is ``row``'s."""
    pairs = []
    for entry in errors.split(ERROR_SEPARATOR):
        field, sep, message = entry.partition(": ")
        if sep and _FIELD.fullmatch(field):
            pairs.append((field, message))
        elif entry:
            pairs.append(("row", entry))
    return pairs
