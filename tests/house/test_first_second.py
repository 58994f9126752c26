"""Stopping the program in its first second (while pandas loads) ends it as at any other
moment: one line, exit 130, no traceback; for Ctrl-C and for SIGTERM (a service stopped)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers import SAMPLES, start_run, wait_until


def _loading_pandas(pid: int) -> bool:
    """numpy's core is mapped: the program is importing its stages (pandas, pandera)."""
    try:
        return "_multiarray_umath" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_while_the_program_loads_is_one_line_and_exit_130(tmp_path, sig):
    argv = ["validate", str(SAMPLES / "activities.csv"), "--quiet"]
    proc = start_run(argv, tmp_path, fresh=True)  # a real start: pandas not loaded yet
    try:
        wait_until(lambda: _loading_pandas(proc.pid), proc, timeout=30)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert "Traceback" not in err, err
    assert proc.returncode == 130, (proc.returncode, err)
    assert err.strip() == "cg-import: interrupted before anything was read"


#: Ctrl-C lands while Python's own import machinery runs a callback of its own (as
#: importlib's module-lock callbacks do): a KeyboardInterrupt raised there is printed as
#: "Exception ignored" and lost, and the program went on as if never told to stop
_CTRL_C_IN_AN_IMPORT_HOOK = """
import os, signal, sys

class Interrupts:
    def __del__(self):  # where a KeyboardInterrupt is "ignored", as in importlib's callbacks
        os.kill(os.getpid(), signal.SIGINT)

class Finder:
    def find_spec(self, name, path=None, target=None):
        if name == "importer.cli.commands":
            Interrupts()
        return None

sys.meta_path.insert(0, Finder())
from importer.cli import console
sys.argv = ["cg-import", *sys.argv[1:]]
console()
"""


def test_a_ctrl_c_inside_the_import_machinery_is_not_lost(tmp_path):
    argv = ["validate", str(SAMPLES / "activities.csv")]
    done = subprocess.run(
        [sys.executable, "-c", _CTRL_C_IN_AN_IMPORT_HOOK, *argv],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "Exception ignored" not in done.stderr, done.stderr
    assert done.returncode == 130, (done.returncode, done.stderr)
    assert done.stderr.strip() == "cg-import: interrupted before anything was read"
