"""The journal read back into the report, row by row: every input row with its outcome.

A run writes its report while it goes (``Reconciler``), so the input is not read again at
the end; a run that stops, or whose outcomes change after their lines were written, reads
the input once more (``reconcile``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from .config import Settings
from .history import UnchangedRows
from .journal import Journal
from .mapping import ColumnPlan
from .outcome import OUTCOME_COLUMNS, TO_RETRY, Outcome, Status
from .problems import TOP_ERRORS
from .read import Table, is_blank
from .report import ReportWriter, cell_columns
from .summary import RunSummary
from .validate import Validator

NOT_ATTEMPTED = "not attempted: the run was interrupted; finish it with --resume"


class Reconciler:
    """The report written while the run goes on, so the input is not read again at the end.

    Each slice of rows is held until every row of it sent has its final outcome, then its
    lines are written, slices in input order (a few slices are held at a time: the reader
    keeps only a queue's length ahead of the workers), from the outcomes it was given (those
    the journal got), or from the journal where a row's is not among them (a resumed run's
    rows finished before, a stopped run's rows never sent). A run that stops, or whose outcomes
    change after their lines were written (a failed row superseded by a later import of its
    reference), is written again by ``reconcile`` instead: ``abandon`` drops this one.
    ``checks`` builds the checks that find a never-sent row's reference.
    """

    def __init__(
        self,
        settings: Settings,
        table: Table,
        plan: ColumnPlan,
        journal: Journal,
        summary: RunSummary,
        checks: Callable[[], Validator],
    ) -> None:
        self.settings, self.table, self.plan = settings, table, plan
        self.journal, self.summary, self.checks = journal, summary, checks
        self._writer: ReportWriter | None = None  # opened with the first lines
        self._slices: deque[_Slice] = deque()
        self._blank = 0

    def add(
        self,
        chunk: pd.DataFrame,
        sent: Iterable[int],
        final: Iterable[Outcome] = (),
        unchanged: UnchangedRows | None = None,
    ) -> None:
        """A slice read and checked; ``sent``: its rows handed to the workers; ``final`` and
        ``unchanged``: the outcomes of rows not sent, as the journal got them."""
        rows = chunk[~is_blank(chunk)]
        self._blank += len(chunk) - len(rows)
        self._slices.append(_Slice(rows, set(sent), list(final), unchanged))

    def done(self, result: Outcome) -> None:
        """A row sent has its final outcome (in the journal)."""
        for piece in self._slices:
            if result.source_row in piece.waiting:
                piece.waiting.discard(result.source_row)
                piece.known.append(result)
                return

    def advance(self) -> None:
        """Write every leading slice whose rows all have their outcomes."""
        while self._slices and not self._slices[0].waiting:
            self._write(self._slices.popleft())

    @property
    def complete(self) -> bool:
        """Every slice read was written (whether the input was read to its end: the caller's)."""
        return not self._slices

    def finish(self) -> None:
        """Close the report: the summary gets the blank rows, retry file and problems."""
        summary = self.summary
        summary.blank_rows = self._blank
        writer, self._writer = self._open(), None
        summary.shared_references = writer.shared.count
        writer.close(summary.as_json())
        summary.retry_file = writer.retry_file
        summary.problems = writer.problems.top(TOP_ERRORS)

    def abandon(self) -> None:
        """Drop what was written (idempotent); the report files are left as they were."""
        self._slices.clear()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.abandon()

    def _open(self) -> ReportWriter:
        if self._writer is None:
            self._writer = ReportWriter(
                self.settings.report,
                self.table.headers,
                retry=True,
                delimiter=self.table.delimiter or ",",
                retry_format=self.settings.retry_format,
                cell_columns=cell_columns(self.plan),
                sheet=self.table.sheet,
                source_name=self.settings.input.name,
            )
        return self._writer

    def _write(self, piece: _Slice) -> None:
        """The report lines of a slice's rows (non-blank input rows) from their outcomes."""
        writer = self._open()
        rows = piece.rows
        if rows.empty:
            return
        summary = self.summary
        outcomes = piece.outcomes()
        if outcomes is None:
            known = self.journal.outcomes(int(rows.index[0]), int(rows.index[-1]))
            outcomes = known.reindex(rows.index)
        missing = outcomes["status"].isna()
        if missing.any():
            # never sent (a stopped run): still show the reference they will be sent with
            found = self.checks().check(rows[missing.to_numpy()]).outcomes["reference"]
            outcomes.loc[missing, "reference"] = found.reindex(outcomes.index[missing])
            outcomes.loc[missing, "status"] = Status.SKIPPED
            outcomes.loc[missing, "errors"] = (
                NOT_ATTEMPTED
                if summary.stopped is None
                else f"not attempted: the run stopped ({summary.stopped}); finish it with --resume"
            )
        # superseded rows and exact duplicates need nothing: they are not to be resent
        outcomes["retry"] = outcomes["status"].isin(TO_RETRY) | missing
        summary.count(outcomes["status"])
        writer.write(outcomes, rows)


@dataclass
class _Slice:
    """A slice's rows held for the report, with the outcomes given for them so far."""

    rows: pd.DataFrame  # its non-blank rows
    waiting: set[int]  # rows sent that have no final outcome yet
    known: list[Outcome]  # outcomes of rows not sent, then of rows answered
    unchanged: UnchangedRows | None  # rows the history holds as they are (not sent)

    def outcomes(self) -> pd.DataFrame | None:
        """The outcomes of every row as the journal holds them (indexed by source row, as
        ``Journal.outcomes``), or None if a row's is not among those given."""
        extra = len(self.unchanged) if self.unchanged is not None else 0
        if len(self.known) + extra != len(self.rows):
            return None
        frames = []
        if self.known:
            known = pd.DataFrame.from_records(self.known, columns=OUTCOME_COLUMNS)
            frames.append(known.astype({"status": str}))
        if self.unchanged is not None and extra:
            frames.append(
                pd.DataFrame(
                    {
                        "source_row": self.unchanged.rows,
                        "status": str(Status.UNCHANGED),
                        "reference": self.unchanged.references,
                        "activity_id": self.unchanged.activity_ids,
                        "errors": self.unchanged.notes,
                    },
                    columns=OUTCOME_COLUMNS,
                )
            )
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        for number in ("http_status", "attempts"):  # as read back: numbers, or nothing
            frame[number] = frame[number].astype("Int64")
        outcomes = frame.set_index("source_row").reindex(self.rows.index)
        return None if outcomes["status"].isna().any() else outcomes


def reconcile(
    settings: Settings,
    table: Table,
    plan: ColumnPlan,
    journal: Journal,
    summary: RunSummary,
    checks: Callable[[], Validator],
) -> None:
    """A second pass over the input: every row with its outcome, in input order (for a run
    whose report could not be written as it went: stopped, or rows superseded)."""
    summary.counts.clear()
    again = Reconciler(settings, table, plan, journal, summary, checks)
    try:
        for chunk in table.chunks(settings.chunk_rows):
            again.add(chunk, ())
            again.advance()  # no outcome given: each from the journal
    finally:
        again.finish()
