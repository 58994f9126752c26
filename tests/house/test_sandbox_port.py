"""``cg-import sandbox --port N``: a port it cannot have is refused before anything is
promised (no banner, no "import into it" line), in one line, with exit code 2."""

from __future__ import annotations

import socket

from ..helpers import run_subprocess


def test_a_busy_port_is_refused_before_the_banner():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_subprocess("sandbox", "--port", port, timeout=60)
    assert result.code == 2, result.output
    assert result.out == "", result.out  # no banner, no credentials, no "import into it"
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert str(port) in lines[0] and "--port" in lines[0]
    assert "Traceback" not in result.err


def test_a_port_out_of_range_is_refused_in_one_line():
    result = run_subprocess("sandbox", "--port", "70000", timeout=60)
    assert result.code == 2, result.output
    assert result.out == ""
    assert len(result.err.splitlines()) == 1 and "70000" in result.err
    assert "Traceback" not in result.err
