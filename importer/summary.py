"""What a run did: its counts, times and warnings, for the summary table, summary.json and
the exit code (the pipeline fills it, the reconciler counts the report's rows into it)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .outcome import GOT_IN, Status


@dataclass
class RunSummary:
    """What a run did, for the summary table, summary.json and the exit code."""

    command: str
    input: Path
    report: Path
    counts: Counter[str] = field(default_factory=Counter)
    blank_rows: int = 0
    #: rows whose values replaced an earlier row's of the same reference (one activity)
    shared_references: int = 0
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    finished: dt.datetime | None = None
    input_sha256: str = ""
    api_host: str | None = None
    retry_file: Path | None = None
    interrupted: bool = False  # Ctrl-C or SIGTERM
    stopped: str | None = None  # why the run stopped sending by itself (no answers, …)
    requests: int = 0
    imported_here: int = 0  # rows this run imported (a resume's earlier ones not counted)
    sent_here: int = 0  # rows this run sent to a final answer (imported, rejected, failed)
    send_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # e.g. mapped columns the file lacks
    #: the most frequent kinds of error: message, field, count, first rows, example
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def all_good(self) -> bool:
        if self.command == "validate":
            return self.counts[Status.VALID] == self.rows
        return sum(self.counts[s] for s in GOT_IN) == self.rows

    @property
    def rows_per_second(self) -> float:
        """The speed of this run's sending: the rows it sent (after ``--resume``, not those
        of the earlier run that the counts hold too) over the time it sent."""
        return self.sent_here / self.send_seconds if self.send_seconds > 0 else 0.0

    def count(self, statuses: pd.Series) -> None:
        """Count the report lines of these ``statuses`` in."""
        self.counts.update({str(k): int(v) for k, v in statuses.value_counts().items()})

    def as_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "input_file": str(self.input),
            "input_sha256": self.input_sha256,
            "api_host": self.api_host,
            "rows": self.rows,
            "counts": dict(sorted(self.counts.items())),
            "blank_rows_skipped": self.blank_rows,
            "rows_replacing_an_earlier_row": self.shared_references,
            "requests": self.requests,
            "rows_per_second": round(self.rows_per_second, 2),
            "started": self.started.isoformat(timespec="seconds"),
            "finished": self.finished.isoformat(timespec="seconds") if self.finished else None,
            "interrupted": self.interrupted,
            "stopped": self.stopped,
            "report": str(self.report),
            "retry_file": str(self.retry_file) if self.retry_file else None,
            "warnings": self.warnings,
            "errors": self.problems,
        }
