"""Check a chunk of mapped rows against the activity schema; row problems become data.

For each chunk: timestamps are normalised (``dates.py``), the pandera schema runs lazily
so every problem of every row is found at once, rows without a reference get a derived
one, and exact duplicates of earlier rows are marked ``skipped``. Nothing here raises for
a bad row: problems are ``RowIssue`` records, gathered per row into the report's
``errors`` text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from json.encoder import encode_basestring_ascii
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from schemas.activity import (
    FIELDS,
    activity_schema,
    field_rules,
    is_timestamp_column,
    text_lengths,
)

from .dates import parse_timestamps, sent_text
from .excel_text import excel_problem, fit_as_they_are, longest_in_excel
from .mapping import ColumnPlan
from .outcome import ERROR_SEPARATOR, Status
from .payload_digest import payload_digests
from .read import OVERFLOW, PROBLEM, is_blank
from .shared_references import sorted_lookup

AUTO_PREFIX = "auto-"
#: the schema's rules per field, for the quick look at which rows may fail them
FIELD_RULES = field_rules()


class RowIssue(NamedTuple):
    """One problem of one row: what the report's ``errors`` column is made of."""

    source_row: int
    field: str
    message: str


@dataclass
class ChunkResult:
    """What validation decided for one chunk (blank rows are left out and counted)."""

    outcomes: pd.DataFrame  # index source_row; status, reference, errors
    sendable: pd.DataFrame  # valid rows: API fields + additional information columns
    extra_keys: tuple[str, ...]
    issues: pd.DataFrame  # source_row, field, message
    blank_rows: int

    def row_issues(self) -> Iterator[RowIssue]:
        """The problems as typed records, for library users."""
        for row in self.issues.itertuples(index=False):
            yield RowIssue(int(str(row.source_row)), str(row.field), str(row.message))

    def payloads(self) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """(source row, reference, JSON body) for every row that may be sent."""
        names, columns, first_extra = self._sent_columns()
        rows = self.sendable.index.tolist()
        for row, values in zip(rows, zip(*columns, strict=True), strict=True):
            body = {names[i]: values[i] for i in range(first_extra) if values[i] is not None}
            info = {
                names[i]: values[i] for i in range(first_extra, len(names)) if values[i] is not None
            }
            if info:
                body["additional_information_object"] = info
            yield int(row), str(body["reference"]), body

    def encoded_payloads(self) -> list[tuple[int, str, bytes]]:
        """``payloads()`` with each body as the bytes ``json.dumps`` gives it (what is sent),
        built a column at a time: a third of the cost of a dictionary and a dump per row."""
        if self.sendable.empty:
            return []
        names, columns, first_extra = self._sent_columns()
        fields = [_json_members(columns[p], names[p]) for p in range(first_extra)]
        extras = [_json_members(columns[p], names[p]) for p in range(first_extra, len(names))]
        references = columns[names.index("reference")]
        encoded = []
        for row, reference, sent, info in zip(
            self.sendable.index.tolist(),
            references,
            zip(*fields, strict=True),
            zip(*extras, strict=True) if extras else repeat(()),
            strict=False,
        ):
            body = ", ".join(filter(None, sent))
            if extra := ", ".join(filter(None, info)):
                body += ', "additional_information_object": {' + extra + "}"
            encoded.append((int(row), str(reference), ("{" + body + "}").encode()))
        return encoded

    @property
    def _first_extra(self) -> int:
        """Where the sendable columns' additional-information keys begin (by position: a
        key may share a field's name)."""
        return len(self.sendable.columns) - len(self.extra_keys)

    def _sent_columns(self) -> tuple[list[str], list[Any], int]:
        """The sendable columns' names, their cells as Python objects (missing: None), and
        ``_first_extra``. Whole columns: iterating pandas' arrays cell by cell costs five
        times more than building the bodies."""
        frame = self.sendable
        missing: Any = None  # pandas' stubs leave None out of na_value's types
        columns = [
            frame.iloc[:, position].to_numpy(dtype=object, na_value=missing)
            for position in range(len(frame.columns))
        ]
        return [str(name) for name in frame.columns], columns, self._first_extra

    def payload_hashes(self) -> list[bytes]:
        """A 16-byte digest of each sendable row's whole JSON body, in ``payloads()`` order
        (``payload_digest.py``): how the history tells an unchanged row from a changed one."""
        return payload_digests(self.sendable, self.extra_keys)


class Validator:
    """Validates chunk after chunk of one file, remembering derived references seen."""

    def __init__(
        self,
        plan: ColumnPlan,
        zone: str = "UTC",
        date_format: str | tuple[str, ...] | None = None,
        *,
        payloads: bool = True,
        excel_headers: list[str] | None = None,
    ):
        self.plan = plan
        self.zone = zone
        self.date_format = date_format
        self.payloads = payloads  # False: only checking, valid rows' bodies are not needed
        # the report is a workbook: a cell it cannot hold exactly is a problem of its row
        self.excel_headers = excel_headers
        self._seen = _SeenReferences()

    def check(self, chunk: pd.DataFrame) -> ChunkResult:
        blank = is_blank(chunk)
        if blank.any():
            chunk = chunk[~blank]
        fields = self.plan.fields_of(chunk)
        dates = parse_timestamps(fields["happened_at"], self.zone, self.date_format)
        fields["happened_at"] = dates.utc
        issues = [
            found
            for found in (
                _overflow_issues(chunk),
                _reader_issues(chunk),
                _excel_issues(chunk, self.excel_headers),
                _date_issues(dates.problem),
                _schema_issues(fields, dates.problem),
            )
            if not found.empty
        ]
        issue_frame = (
            pd.concat(issues, ignore_index=True).sort_values("source_row", kind="stable")
            if issues
            else _NO_ISSUES
        )
        errors = _join_errors(issue_frame, fields.index)
        valid = errors.isna()

        reference = fields["reference"]
        derive = valid & reference.isna()
        # additional information is needed for derived references and for bodies only
        extras = self.plan.extras_of(chunk[valid if self.payloads else derive])
        derived = derive_references(fields[derive], extras.loc[derive[derive].index])
        if self.payloads:
            fields["happened_at"] = sent_text(fields["happened_at"])
        reference[derive] = derived
        status = pd.Series(Status.VALID, index=fields.index, dtype="object")
        status[~valid] = Status.INVALID
        first_rows = self._seen.first_rows(derived)
        duplicate = first_rows.notna()
        if duplicate.any():
            rows = first_rows[duplicate]
            status[rows.index] = Status.SKIPPED
            errors[rows.index] = "reference: duplicate of row " + rows.astype("int64").astype(str)
        fields["reference"] = reference
        outcomes = pd.DataFrame({"status": status, "reference": reference, "errors": errors})
        if self.payloads:
            sendable_rows = status == Status.VALID
            extras = extras.loc[sendable_rows[sendable_rows].index]
            sendable = pd.concat([fields[sendable_rows], extras], axis=1)
        else:
            sendable = fields.iloc[:0]
        return ChunkResult(
            outcomes=outcomes,
            sendable=sendable,
            extra_keys=tuple(extras.columns),
            issues=issue_frame.reset_index(drop=True),
            blank_rows=int(blank.sum()),
        )


_NO_ISSUES = pd.DataFrame(
    {
        "source_row": pd.Series(dtype="int64"),
        "field": pd.Series(dtype=object),
        "message": pd.Series(dtype=object),
    }
)


def _overflow_issues(chunk: pd.DataFrame) -> pd.DataFrame:
    if OVERFLOW not in chunk.columns:
        return _NO_ISSUES
    extra = chunk[OVERFLOW]
    extra = extra[extra != ""]
    message = (
        "has more cells than the header row (extra: "
        + extra.str.slice(0, 60)
        + "); a delimiter inside a cell that is not in quotes? The columns may be shifted"
    )
    return pd.DataFrame(
        {"source_row": extra.index.astype("int64"), "field": "row", "message": message.values}
    )


def _reader_issues(chunk: pd.DataFrame) -> pd.DataFrame:
    """What the reader found wrong with rows (e.g. a formula without a saved value)."""
    if PROBLEM not in chunk.columns:
        return _NO_ISSUES
    problem = chunk[PROBLEM]
    problem = problem[problem.notna() & (problem != "")]
    return pd.DataFrame(
        {"source_row": problem.index.astype("int64"), "field": "row", "message": problem.values}
    )


def _excel_issues(chunk: pd.DataFrame, headers: list[str] | None) -> pd.DataFrame:
    """Cells an .xlsx report cannot hold as they are (control characters, too long)."""
    if headers is None:
        return _NO_ISSUES
    rows: list[int] = []
    messages: list[str] = []
    for position, header in enumerate(headers):
        cells = chunk[position].to_numpy(dtype=object)
        if fit_as_they_are(cells, longest_in_excel(cells)):
            continue  # the common case, decided at C speed
        for row, cell in zip(chunk.index, cells, strict=True):
            problem = excel_problem(cell)
            if problem:
                rows.append(int(row))
                messages.append(
                    f"column '{header}' {problem}; fix the cell, or write a .csv --report"
                )
    if not rows:
        return _NO_ISSUES
    return pd.DataFrame({"source_row": rows, "field": "row", "message": messages})


def _date_issues(problem: pd.Series) -> pd.DataFrame:
    bad = problem.dropna()
    return pd.DataFrame(
        {"source_row": bad.index.astype("int64"), "field": "happened_at", "message": bad.values}
    )


def _schema_issues(fields: pd.DataFrame, date_problem: pd.Series) -> pd.DataFrame:
    failing = _may_fail(fields)
    if failing is not None:
        if not failing.any():
            return _NO_ISSUES
        fields = fields[failing]  # the same failures, found among the rows that have them
    import pandera.errors  # loaded with the schema, at the first row that may fail

    try:
        activity_schema().validate(fields, lazy=True)
    except pandera.errors.SchemaErrors as err:
        cases = err.failure_cases
    else:
        return _NO_ISSUES
    cases = cases[cases["index"].notna()]
    message = cases["check"].astype(str).where(cases["check"] != "not_nullable", "is required")
    frame = pd.DataFrame(
        {
            "source_row": cases["index"].astype("int64").values,
            "field": cases["column"].astype(str).values,
            "message": message.values,
        }
    )
    # a timestamp that could not be read already has its own, better message
    explained = frame["source_row"].isin(date_problem.dropna().index)
    return frame[~(explained & (frame["field"] == "happened_at"))]


def _may_fail(fields: pd.DataFrame) -> np.ndarray | None:
    """The rows that fail a check of the schema (a superset of them), found with its rules
    in a few vectorised passes: pandera, which words the failures, then looks at these rows
    alone (a tenth of the checking time of a chunk of valid rows). None when a
    column-level check may fail: pandera looks at every row then."""
    if list(fields.columns) != list(FIELDS) or not is_timestamp_column(fields["happened_at"].dtype):
        return None
    failing = np.zeros(len(fields), dtype=bool)
    try:
        for rule in FIELD_RULES:
            column = fields[rule.name]
            texts = column.to_numpy() if column.dtype == object else None
            # all() and max() over the texts run in C: the masks only where one may fail
            if rule.required and (texts is None or not all(texts)):
                failing |= column.isna().to_numpy()
            if rule.max_length is not None and (
                texts is None or max(map(len, filter(None, texts)), default=0) > rule.max_length
            ):
                failing |= text_lengths(column) > rule.max_length
    except TypeError:  # a cell that is not a text (a constant's number): as pandera says
        return None
    return failing


def _join_errors(issues: pd.DataFrame, index: pd.Index) -> pd.Series:
    if issues.empty:
        return pd.Series(pd.NA, index=index, dtype="object")
    text = issues["field"] + ": " + issues["message"]
    joined = text.groupby(issues["source_row"].to_numpy(), sort=False).agg(ERROR_SEPARATOR.join)
    return joined.reindex(index).astype("object")


def derive_references(fields: pd.DataFrame, extras: pd.DataFrame) -> pd.Series:
    """``auto-`` + 24 hex digits of the SHA-256 of the row's canonical payload.

    The canonical payload is the sent values of account, contact, type, source and
    happened_at (UTC), in that order, then the additional information sorted by key
    (blank values left out, as they are not sent), each key and value written as
    ``<length>:<text>,`` and a missing value as ``~,``. Lengths make the encoding
    unambiguous whatever the texts hold (``=``, commas, control characters), so two rows
    that would be sent differently never share a reference, and the same content always
    gets the same one, in any run.
    """
    if fields.empty:
        return pd.Series(dtype="object", index=fields.index)
    parts = [_framed(fields[name]) for name in ("account", "contact", "type", "source")]
    parts.append(_framed(sent_text(fields["happened_at"])))
    for key in sorted(extras.columns):
        parts.append(_framed(extras[key], key=key))
    digests = [
        AUTO_PREFIX + hashlib.sha256("".join(row).encode()).hexdigest()[:24]
        for row in zip(*parts, strict=True)
    ]
    return pd.Series(digests, index=fields.index, dtype="object")


def _framed(values: pd.Series, key: str | None = None) -> np.ndarray:
    """Each text as ``<length>:<text>,`` (after its framed ``key``, if given).

    A missing text is ``~,``; with a key, a missing value leaves the whole entry out.
    """
    texts = values.to_numpy(dtype=object)
    present = pd.notna(texts)
    head = "" if key is None else f"{len(key)}:{key},"
    framed = np.full(len(texts), "~," if key is None else "", dtype=object)
    framed[present] = [f"{head}{len(t)}:{t}," for t in texts[present]]
    return framed


class _SeenReferences:
    """First row of every derived reference seen so far, in 16 bytes a reference."""

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.uint64)
        self._rows = np.empty(0, dtype=np.int64)

    def first_rows(self, references: pd.Series) -> pd.Series:
        """For each reference, the earlier row that had it (NA if none); then remember them."""
        result = pd.Series(pd.NA, index=references.index, dtype="Int64")
        if references.empty:
            return result
        prefix = len(AUTO_PREFIX)
        keys = np.array([int(r[prefix : prefix + 16], 16) for r in references], dtype=np.uint64)
        rows = references.index.to_numpy(dtype=np.int64)
        pos, earlier = sorted_lookup(self._keys, keys)
        first = np.full(len(keys), -1, dtype=np.int64)
        first[earlier] = self._rows[pos[earlier]]
        by_key = (
            pd.Series(rows, index=keys).groupby(level=0, sort=False).transform("first").to_numpy()
        )
        repeat = (~earlier) & (by_key != rows)
        first[repeat] = by_key[repeat]
        dup = first >= 0
        result[dup] = first[dup]
        new = ~dup
        if new.any():
            keys_all = np.concatenate([self._keys, keys[new]])
            rows_all = np.concatenate([self._rows, rows[new]])
            order = np.argsort(keys_all, kind="stable")
            self._keys, self._rows = keys_all[order], rows_all[order]
        return result


def _json_members(values: Any, name: str) -> list[str | None]:
    """``"name": value`` as ``json.dumps`` writes a member, for each value (None: left out)."""
    key = encode_basestring_ascii(name) + ": "
    return [
        None
        if value is None
        else key + (encode_basestring_ascii(value) if type(value) is str else json.dumps(value))
        for value in values
    ]
