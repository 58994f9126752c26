"""How the sample fares with the mapping written, and what ``init`` tells the analyst."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from schemas.activity import FIELDS

from ..errors import MappingError
from ..mapping import load_mapping, plan_columns
from ..validate import Validator
from .proposal import SAMPLE_ROWS, Proposal
from .toml_file import PLACEHOLDER, quoted_arg


@dataclass(frozen=True)
class SampleCheck:
    """What ``validate`` would say of the sampled rows with the mapping written."""

    counts: dict[str, int]
    problems: tuple[str, ...]  # the first ones, as 'row N: field: message'
    refused: str | None  # why the mapping cannot be used yet (a placeholder, …)


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
    result = Validator(plan, zone, mapping.date_format, payloads=False).check(chunk)
    counts = Counter(result.outcomes["status"])
    problems = tuple(
        f"row {issue.source_row}: {issue.field}: {issue.message}"
        for issue in list(result.row_issues())[:5]
    )
    return SampleCheck(dict(counts), problems, None)


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
        lines.append(f"  sample of {sum(check.counts.values())} rows validated: {counts}")
        lines += [f"    {problem}" for problem in check.problems]
    lines.append(f"Next: cg-import validate {quoted_arg(str(proposal.input))} --mapping {written}")
    return lines
