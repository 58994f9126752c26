"""An interrupted or failed ``validate`` writes no report: half a report (its Summary
counting only the rows read so far) would read as the whole file's. A report already at
that path is left as it was, and the screen says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.config import Settings
from importer.errors import ReportError
from importer.pipeline import validate_file

from ..helpers import HEADER, activity_rows, read_report, write_csv


class _CtrlC:
    """A progress bar whose analyst presses Ctrl-C once ``after`` rows were checked (or
    through which another failure comes then: ``stop``)."""

    def __init__(self, after: int, stop: type[BaseException] = KeyboardInterrupt) -> None:
        self.after, self.seen, self.stop = after, 0, stop

    def start(self, total: int | None, what: str) -> None:
        pass

    def advance(self, rows: int) -> None:
        self.seen += rows
        if self.seen >= self.after:
            raise self.stop

    def note(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize("stop", [KeyboardInterrupt, ReportError], ids=["ctrl-c", "failed"])
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_an_interrupted_validate_leaves_no_report_that_looks_whole(
    tmp_path: Path, suffix: str, stop: type[BaseException]
):
    rows = activity_rows(3_000)
    rows[5][1] = ""  # an invalid row: the retry sheet and the summary have something
    source = write_csv(tmp_path / "in.csv", [HEADER, *rows])
    report = tmp_path / f"report{suffix}"
    settings = Settings(input=source, report=report, chunk_rows=500)
    with pytest.raises(stop):
        validate_file(settings, _CtrlC(after=1_000, stop=stop))  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_an_interrupted_validate_keeps_the_earlier_report_as_it_was(tmp_path: Path, cli):
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(3_000)])
    report = tmp_path / "report.csv"
    assert cli("validate", source, "--report", report, "--quiet").code == 0
    before = report.read_bytes()
    settings = Settings(input=source, report=report, chunk_rows=500)
    with pytest.raises(KeyboardInterrupt):
        validate_file(settings, _CtrlC(after=1_000))  # type: ignore[arg-type]
    assert report.read_bytes() == before
    assert len(read_report(report)) == 3_000
    assert not list(tmp_path.glob("*.partial"))


def test_the_screen_says_no_report_was_written(tmp_path: Path, cli, monkeypatch):
    from importer.cli import commands

    def pressed(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "validate_file", pressed)
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(3)])
    result = cli("validate", source, "--report", tmp_path / "r.csv")
    assert result.code == 130
    assert result.err.strip() == (
        "cg-import: interrupted; validate wrote no report (run it again to check every row)"
    )
