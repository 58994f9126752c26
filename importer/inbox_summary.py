"""What an inbox run did, per file and in all: the records its JSON log lines, its
notification and its exit code are made from."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class FileResult:
    """What happened to one dropped file."""

    file: str
    outcome: str  # done | failed | duplicates | processing (left for the next run)
    moved_to: Path
    report: Path | None = None
    counts: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0
    note: str | None = None
    retry_file: Path | None = None
    #: the most frequent kinds of error, as the run's summary lists them (problems.top)
    problems: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "event": "file",
            "time": _now(),
            "file": self.file,
            "outcome": self.outcome,
            "moved_to": str(self.moved_to),
            "counts": self.counts,
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "report": str(self.report) if self.report else None,
            "note": self.note,
        }


@dataclass
class InboxSummary:
    """What one inbox run did, for the log, the notification and the exit code."""

    folder: Path
    files: list[FileResult] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    locked: bool = False  # another run held the folder: nothing was done
    interrupted: bool = False
    stopped: str | None = None  # the API stopped answering: the file waits in processing/
    error: str | None = None  # what ended the run early (credentials refused, a bug…)
    log_problem: str | None = None  # the log could not be written after a file was handled
    config: Path | None = None  # the config file the run read
    #: files of the drop folder modified less than ``settle`` seconds ago: left for later
    waiting: list[str] = field(default_factory=list)
    #: what became of the notification to each target (notify.Delivery.as_json)
    notifications: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """The scheduler's contract: 2 nothing could be done, 130 interrupted, 1 a file
        failed or waits, 0 all imported (or nothing to do, or another run holds the folder)."""
        if self.error is not None:
            return 2
        if self.interrupted:
            return 130
        waits = any(f.outcome == "processing" for f in self.files)
        return 1 if self.failed or self.stopped or waits else 0

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.outcome == "failed"]

    def as_json(self) -> dict[str, Any]:
        outcomes = [f.outcome for f in self.files]
        return {
            "event": "run",
            "time": _now(),
            "folder": str(self.folder),
            "files": len(self.files),
            **{name: outcomes.count(name) for name in ("done", "failed", "duplicates")},
            "left_in_processing": outcomes.count("processing"),
            "waiting": len(self.waiting),  # still being written: the next run takes them
            "waiting_files": self.waiting,
            "requests": sum(f.requests for f in self.files),
            "seconds": round(time.monotonic() - self.started, 2),
            "interrupted": self.interrupted,
            "stopped": self.stopped,
            "locked": self.locked,
            "error": self.error,
            "exit": self.exit_code,
            "config": str(self.config) if self.config else None,
            "notifications": self.notifications,
        }


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
