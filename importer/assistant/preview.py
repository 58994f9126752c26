"""How the sample fares with the mapping written, and what ``init`` tells the analyst."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from schemas.activity import FIELDS

from ..errors import MappingError
from ..mapping import load_mapping, plan_columns
from ..validate import Validator
from .proposal import SAMPLE_ROWS, Proposal
from .sampled_values import column_values
from .toml_file import DERIVED, PLACEHOLDER, quoted_arg


@dataclass(frozen=True)
class SampleCheck:
    """What ``validate`` would say of the sampled rows with the mapping written."""

    counts: dict[str, int]
    problems: tuple[str, ...]  # the first ones, as 'row N: field: message'
    refused: str | None  # why the mapping cannot be used yet (a placeholder, …)
    first_sent: tuple[dict[str, Any], ...] = ()  # the first bodies as they would be sent


def check_sample(proposal: Proposal, mapping_path: Path, zone: str = "UTC") -> SampleCheck:
    """Validate the sampled rows with the mapping file as written (read back from disk)."""
    try:
        mapping = load_mapping(mapping_path)
        plan = plan_columns(proposal.table.headers, mapping, proposal.input.name)
    except MappingError as err:
        return SampleCheck({}, (), str(err))
    table = proposal.table
    table.error_columns = plan.positions
    chunk = next(table.chunks(SAMPLE_ROWS), None)
    if chunk is None:
        return SampleCheck({}, (), None)
    result = Validator(plan, zone, mapping.date_format, payloads=True).check(chunk)
    counts = Counter(result.outcomes["status"])
    problems = tuple(
        f"row {issue.source_row}: {issue.field}: {issue.message}"
        for issue in list(result.row_issues())[:5]
    )
    first = tuple(body for _, _, body in islice(result.payloads(), FIRST_SHOWN))
    return SampleCheck(dict(counts), problems, None, first)


#: rows shown as they would be sent, and the fields shown of them
FIRST_SHOWN = 3
_SHOWN_FIELDS = ("reference", "account", "type", "source", "happened_at")


def first_rows_lines(bodies: tuple[dict[str, Any], ...]) -> list[str]:
    """The first bodies as a small table: what the API would receive (happened_at in UTC)."""
    if not bodies:
        return []
    cells = [[_cut(str(body.get(name, ""))) for name in _SHOWN_FIELDS] for body in bodies]
    widths = [
        max(len(name), *(len(row[i]) for row in cells)) for i, name in enumerate(_SHOWN_FIELDS)
    ]

    def line(values: list[str] | tuple[str, ...]) -> str:
        return "    " + "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    heading = ["  the first rows as they would be sent (happened_at in UTC):", line(_SHOWN_FIELDS)]
    return heading + [line(row) for row in cells]


def _cut(text: str, most: int = 28) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


#: an offset or zone letter at the end of a timestamp
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2}|UTC|GMT)$"


def _sample_notes(proposal: Proposal, written: Path) -> list[str]:
    """What the sample says that the analyst must know: rows sharing a reference, and the
    time zone assumed for times that carry none."""
    notes = []
    reference = proposal.fields.get("reference")
    if reference is not None and reference.column is not None:
        values = column_values(proposal.sample, reference.column).dropna()
        distinct = values.nunique()
        if 0 < distinct < len(values):
            notes.append(
                f"  note: {len(values):,} sampled rows hold {distinct:,} distinct references: "
                "the rows of one reference update one activity and the last row's values "
                "stay; the run counts rows, not activities"
            )
    happened = proposal.fields.get("happened_at")
    if happened is not None and happened.column is not None:
        values = column_values(proposal.sample, happened.column).dropna().astype(str)
        if len(values) and not values.str.strip().str.contains(_OFFSET).all():
            notes.append(
                "  timezone     UTC assumed: the times carry no offset; if they are local, "
                f"set timezone in {written} to {proposal.timezone_note or 'their zone'}"
            )
    return notes


def summary_lines(proposal: Proposal, written: Path, check: SampleCheck) -> list[str]:
    """What ``init`` tells the analyst: where the file is, what to fill in, how rows fare."""
    lines = [f"Wrote {written}"]
    lines.append(
        f"  recognised: {proposal.recognised_as}"
        if proposal.profile
        else "  no known export recognised: columns matched by name and by their values"
    )
    for name in FIELDS:
        choice = proposal.fields.get(name)
        if choice is not None and choice.column is not None:
            shown = ", else ".join(
                f"'{proposal.header(p)}'" for p in (choice.column, *choice.fallbacks)
            )
            lines.append(f"  {name:<12} ← {shown} (by {choice.how})")
        elif name in proposal.constants:
            lines.append(f"  {name:<12} = '{proposal.constants[name]}' (fixed)")
    lines += [f"  note: {note}" for note in proposal.notes]
    lines += _sample_notes(proposal, written)
    if "reference" not in proposal.fields:
        lines.append(f"  reference: no ID column: derived from each row's content ({DERIVED})")
    if proposal.blank_values:
        shown = ", ".join(f"'{v}'" for v in proposal.blank_values)
        lines.append(f"  blank_values {shown} (cells that mean nothing here)")
    if proposal.dates.formats:
        lines.append(f"  date_format  {', '.join(proposal.dates.formats)}")
    if proposal.dates.question:
        lines.append(f"  date_format? {proposal.dates.question}")
    if proposal.dates.unreadable:
        shown = ", ".join(f"'{v}'" for v in proposal.dates.unreadable)
        lines.append(f"  dates no form reads: {shown}")
    for name in proposal.missing:
        lines.append(
            f"  {name}: REQUIRED, no column found; edit '{name} = \"{PLACEHOLDER}\"' in "
            f"{written} (or give a fixed value in [constants])"
        )
    if check.refused:
        lines.append(f"  sample not validated: {check.refused}")
    elif check.counts:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(check.counts.items()))
        total = sum(check.counts.values())
        share = check.counts.get("valid", 0) / total if total else 0.0
        lines.append(f"  sample of {total} rows validated: {counts} ({share:.0%} valid)")
        lines += [f"    {problem}" for problem in check.problems]
        lines += first_rows_lines(check.first_sent)
    if proposal.missing:
        lines.append(f"Next: fill in {', '.join(proposal.missing)} in {written}, then validate")
    else:
        lines.append(
            f"Next: cg-import validate {quoted_arg(str(proposal.input))} --mapping {written}"
        )
    return lines
