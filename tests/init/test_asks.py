"""On a terminal, init asks for the type and source that no column gives (questionary),
and writes the answers as constants."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
import tomllib

import pytest

from ..helpers import write_csv


def _read_until(fd: int, wanted: str, deadline: float) -> str:
    seen = ""
    while wanted not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {wanted!r} on the terminal; it showed: {seen[-500:]!r}"
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            try:
                seen += os.read(fd, 4096).decode(errors="replace")
            except OSError:  # the child closed the terminal
                break
    return seen


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_init_on_a_terminal_asks_for_type_and_source(tmp_path):
    rows = [["ref", "caller", "opened"], ["AC-1", "Abel", "2024-03-04 10:00:00"]]
    source = write_csv(tmp_path / "export.csv", rows)
    out = tmp_path / "m.toml"
    argv = [sys.executable, "-m", "importer", "init", str(source), "--output", str(out)]
    pid, fd = pty.fork()
    if pid == 0:  # the child: init on the pseudo-terminal
        os.chdir(tmp_path)
        os.execv(sys.executable, argv)
    deadline = time.monotonic() + 60
    status = -1
    try:
        _read_until(fd, "activity type", deadline)
        os.write(fd, b"Incident\r")
        _read_until(fd, "system these rows come from", deadline)
        os.write(fd, b"Acme Desk\r")
        _read_until(fd, "Next:", deadline)
    finally:
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    mapping = tomllib.loads(out.read_text(encoding="utf-8"))
    assert mapping["constants"] == {"type": "Incident", "source": "Acme Desk"}
