"""What a person at a terminal sees of a run: the progress bar and the summary table."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from ..outcome import STATUS_ORDER
from ..pipeline import RunSummary


class ProgressBar:
    """tqdm on stderr, drawn only for a person at a terminal."""

    def __init__(self) -> None:
        self._bar: Any = None

    def start(self, total: int | None, what: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total or None,
            unit=" rows",
            desc=what,
            file=sys.stderr,
            dynamic_ncols=True,
            smoothing=0.1,
        )

    def advance(self, rows: int) -> None:
        if self._bar is not None:
            self._bar.update(rows)

    def note(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(f"cg-import: warning: {text}", file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def progress_bar(args: argparse.Namespace) -> ProgressBar | None:
    return ProgressBar() if not args.quiet and sys.stderr.isatty() else None


def print_summary(summary: RunSummary, out: TextIO) -> None:
    sent_to = "sent to" if summary.interrupted or summary.stopped else "imported into"
    title = "checked" if summary.command == "validate" else f"{sent_to} {summary.api_host or ''}"
    print(f"\n{summary.input} {title}", file=out)
    statuses: list[str] = [s for s in STATUS_ORDER if summary.counts.get(s)]
    statuses += sorted(set(summary.counts) - set(STATUS_ORDER))
    for status in statuses:
        print(f"  {status:<10} {summary.counts[status]:>9,}", file=out)
    print(f"  {'rows':<10} {summary.rows:>9,}", file=out)
    if summary.blank_rows:
        print(f"  blank rows skipped (not activities): {summary.blank_rows:,}", file=out)
    if summary.shared_references:
        print(
            f"  rows replacing an earlier row of their reference (other values; the later "
            f"kept, one activity): {summary.shared_references:,}",
            file=out,
        )
    if summary.command == "run" and summary.send_seconds and summary.sent_here:
        print(f"  speed      {summary.rows_per_second:>9,.1f} rows/s", file=out)
    if summary.problems:
        print("Most frequent errors (values shown as …):", file=out)
        for kind in summary.problems[:5]:
            message = f"{kind['field']}: {kind['message']}"
            if len(message) > 90:
                message = message[:89] + "…"
            shown = kind["first_rows"][:3]
            rows = ", ".join(map(str, shown)) + (", …" if kind["count"] > len(shown) else "")
            where = "row" if kind["count"] == 1 else "rows"
            print(f"  {kind['count']:>9,}  {message}  ({where} {rows})", file=out)
    print(f"Report:     {summary.report}", file=out)
    if summary.retry_file and summary.interrupted:
        print(f"Retry file: {summary.retry_file}  (so far; --resume sends the rest)", file=out)
    elif summary.retry_file:
        print(f"Retry file: {summary.retry_file}  (fix these rows, then run this file)", file=out)
    elif summary.command == "validate" and not summary.all_good:
        print(_next_step(summary), file=out)


def _next_step(summary: RunSummary) -> str:
    """What to do about the invalid rows of a ``validate``: the dates' format, when that is
    what fails most (a mapping fixes every row at once), else the rows themselves."""
    first = summary.problems[0]["message"] if summary.problems else ""
    if "date_format" in first:
        return (
            "Most rows fail on the form of their dates: set date_format in a mapping file "
            "(the errors column says which), then validate again."
        )
    return "Fix the rows marked invalid (see the errors column), then validate again."
