"""The project's own slow checks (mypy from cold, the import contracts, the documentation
site) started once, as the whole suite starts, at the lowest priority: they run on what the
two cores leave idle while tests wait on servers and processes, and their tests read what
they found (waiting for it if need be). Run alone, or in part of the suite, a check's test
runs it itself (``result``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: where the checks started aside write what they found: set for the workers to read
FOLDER = "CG_IMPORT_TESTS_CHECKS"
#: the lowest priority, then the check, its exit code and output written at once
_RUNNER = """
import json, os, subprocess, sys
os.nice(19)
done = subprocess.run(sys.argv[2:], capture_output=True, text=True)
with open(sys.argv[1] + ".part", "w", encoding="utf-8") as out:
    json.dump([done.returncode, done.stdout + done.stderr], out)
os.replace(sys.argv[1] + ".part", sys.argv[1])
"""
_started: list[subprocess.Popen[bytes]] = []


def commands(site: Path | None) -> dict[str, list[str]]:
    """Each check's command, run in the project's folder (``site``: where mkdocs builds,
    which it does only where one is given)."""
    beside = Path(sys.executable).with_name("lint-imports")
    lint_imports = str(beside) if beside.exists() else shutil.which("lint-imports") or ""
    found = {"mypy": [sys.executable, "-m", "mypy"], "lint-imports": [lint_imports, "--no-cache"]}
    if site is not None:
        # not --quiet: mkdocs 1.6 then stops counting the warnings that --strict fails on
        found["mkdocs"] = [
            *(sys.executable, "-m", "mkdocs", "build", "--strict"),
            *("--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)),
        ]
    return found


def _env() -> dict[str, str]:
    return {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


def start(config: pytest.Config) -> None:
    """In the process that starts the suite (not a worker), when it runs all of it."""
    whole = [Path(arg).resolve() for arg in config.args] == [ROOT / "tests"]
    if hasattr(config, "workerinput") or not whole or config.option.keyword:
        return
    folder = Path(tempfile.mkdtemp(prefix="cg-import-checks-"))
    os.environ[FOLDER] = str(folder)  # the workers inherit it
    for name, command in commands(folder / "site").items():
        if command[0]:
            runner = [sys.executable, "-c", _RUNNER, str(folder / f"{name}.json"), *command]
            _started.append(subprocess.Popen(runner, cwd=ROOT, env=_env(), start_new_session=True))


def stop() -> None:
    """The checks still running when the suite ends (their tests were not selected), in the
    process that started them."""
    if not _started:
        return
    for process in _started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    folder = os.environ.pop(FOLDER, None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def result(
    name: str, *, site: Path | None = None, timeout: float = 300
) -> tuple[int, str, Path | None]:
    """The check's exit code and output, and for mkdocs the site folder (``site``, unless
    built aside): from the run started aside, else run now."""
    command = commands(site)[name]
    assert command[0], f"{name} is installed but its command is not found"
    folder = os.environ.get(FOLDER)
    if folder is None:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, env=_env(), timeout=timeout
        )
        return done.returncode, done.stdout + done.stderr, site
    found = Path(folder) / f"{name}.json"
    deadline = time.monotonic() + timeout
    while not found.exists():
        assert time.monotonic() < deadline, f"{name}, started aside, is not done in {timeout} s"
        time.sleep(0.1)
    code, output = json.loads(found.read_text(encoding="utf-8"))
    return code, output, Path(folder) / "site"
