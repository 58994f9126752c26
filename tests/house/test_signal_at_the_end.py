"""A Ctrl-C or SIGTERM that comes once the work is done, while the interpreter ends, leaves
the exit code the work earned: a scheduler must not read 143 (or -2) for a run whose report
is whole, nor 0 for one it stopped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers import HEADER, ROOT, activity_rows, read_report, subprocess_env, write_csv

#: the program as ``python -m importer`` runs it, with a signal sent to itself at its very
#: end (an exit hook registered first runs last, once everything else has ended)
_SIGNALLED_AT_EXIT = """
import atexit, os, signal, sys
atexit.register(os.kill, os.getpid(), getattr(signal, sys.argv.pop(1)))
import runpy
runpy.run_module("importer", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_signal_after_the_work_keeps_the_exit_code(tmp_path: Path, name: str) -> None:
    rows = activity_rows(20)
    rows[2][1] = ""  # one invalid row: exit 1
    source = write_csv(tmp_path / "in.csv", [HEADER, *rows])
    report = tmp_path / "r.csv"
    done = subprocess.run(
        [sys.executable, "-c", _SIGNALLED_AT_EXIT, name, "validate", str(source),
         "--report", str(report), "--quiet"],
        cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr
    assert len(read_report(report)) == 20
