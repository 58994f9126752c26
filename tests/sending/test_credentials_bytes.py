"""Credentials whose bytes are no UTF-8 (a secret pasted from a file in another encoding)
are refused in one line that names the variable, never shown, and nothing is sent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers import HEADER, activity_rows, api_args, subprocess_env, write_csv


@pytest.mark.parametrize("name", ["CG_CLIENT_SECRET", "CG_CLIENT_ID"])
def test_credentials_that_are_no_utf8_are_one_line(sandbox, tmp_path: Path, name: str) -> None:
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(3)])
    env = {key.encode(): value.encode() for key, value in subprocess_env().items()}
    env |= {b"CG_CLIENT_ID": b"demo-client", b"CG_CLIENT_SECRET": b"demo-secret-x"}
    env[name.encode()] = b"abc\xffdef-secret"
    done = subprocess.run(
        [sys.executable, "-m", "importer", "run", str(source), "--report",
         str(tmp_path / "r.csv"), *api_args(sandbox)],
        env=env, capture_output=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 2, err
    assert (
        err
        == f"cg-import: error: {name} is not valid UTF-8 text; set it again, as the API gave it\n"
    )
    assert sandbox.sandbox.stats.token_requests == 0
