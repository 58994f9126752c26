"""Output piped into a reader that leaves early (``cg-import validate … | head -3``).

The run has done its work and written its report by the time the summary is printed; a
reader that is gone must not turn that into a traceback, nor change the exit code the run
earned (a scheduler reads it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..helpers import HEADER, activity_rows, read_report, subprocess_env, write_csv


def test_a_reader_gone_before_the_summary_changes_nothing_of_the_run(tmp_path: Path) -> None:
    rows = activity_rows(30)
    rows[4][1] = ""  # one invalid row: validate's exit code is 1
    source = write_csv(tmp_path / "in.csv", [HEADER, *rows])
    report = tmp_path / "report.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "importer", "validate", str(source), "--report", str(report)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader left before a line was written
    _, raw = proc.communicate(timeout=60)
    err = raw.decode()
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert "Exception ignored" not in err, err
    assert len(read_report(report)) == 30
