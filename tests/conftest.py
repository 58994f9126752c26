"""Shared fixtures: a real sandbox API on 127.0.0.1 and ways to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

# pandera imports hypothesis at a schema's first validation; under pytest's assertion
# rewriting that import parses hypothesis's source, which CPython 3.11.7 may fail to do deep
# in a test's stack ("SystemError: AST constructor recursion depth mismatch"): once, here
import pandera.backends.pandas.builtin_checks  # noqa: F401
import pytest

from importer.cli import main
from importer.read import ReadOptions
from importer.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    RunningSandbox,
    SandboxConfig,
    serve_in_thread,
)

from .helpers import READER_OPTIONS

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
PROFILES = ROOT / "schemas" / "profiles"
DATA = Path(__file__).resolve().parent / "data"
SHARED_DATA = ROOT.parent / "shared" / "data"


@dataclass
class CliResult:
    """Exit code and everything the program printed."""

    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


@pytest.fixture(autouse=True)
def own_config_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """An empty config home of the test's own: the developer's ~/.config/cg-import is never
    read (subprocesses inherit it through the environment)."""
    home = tmp_path_factory.mktemp("config-home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., RunningSandbox]]:
    """Start sandboxes (in a background thread each) with the given fault switches."""
    with ExitStack() as stack:

        def start(**config: object) -> RunningSandbox:
            return stack.enter_context(serve_in_thread(SandboxConfig(**config)))  # type: ignore[arg-type]

        yield start


@pytest.fixture
def sandbox(make_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    """A fault-free sandbox."""
    return make_sandbox()


@pytest.fixture(params=list(READER_OPTIONS))
def excel_options(request: pytest.FixtureRequest) -> ReadOptions:
    """Run the test once with each Excel reader (``helpers.READER_OPTIONS``): the options to
    pass to ``open_table``, and which the ``cli`` fixture runs the command with. A workbook
    calamine must not read (far-apart cells, odd XML) still goes to openpyxl."""
    return READER_OPTIONS[request.param]


@pytest.fixture
def excel_reader(excel_options: ReadOptions) -> str:
    """The reader ``excel_options`` makes ``open_table`` choose, as ``Table.reader`` gives it."""
    return "openpyxl" if excel_options.calamine_max_bytes < 0 else "calamine"


@pytest.fixture
def api_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox's demo credentials in the environment, as an analyst would set them."""
    monkeypatch.setenv("CG_CLIENT_ID", DEMO_CLIENT_ID)
    monkeypatch.setenv("CG_CLIENT_SECRET", DEMO_CLIENT_SECRET)


def api_args(box: RunningSandbox) -> list[str]:
    """The flags that point ``run`` at a sandbox."""
    return ["--api-url", box.api_url, "--token-url", box.token_url]


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> Callable[..., CliResult]:
    """Run ``cg-import`` in this process through its real ``main(argv)``; in a test that
    runs once per Excel reader (``excel_options``), with that reader's options."""
    chosen = None
    if "excel_options" in request.fixturenames:
        chosen = request.getfixturevalue("excel_options")

    def run(*argv: str | Path, read: ReadOptions | None = chosen) -> CliResult:
        code = main([str(a) for a in argv], read=read)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_subprocess(
    *argv: str | Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> CliResult:
    """Run ``python -m importer`` as a separate process, as a scheduler would."""
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "importer", *[str(a) for a in argv]],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def subprocess_env() -> dict[str, str]:
    return {
        **os.environ,
        "CG_CLIENT_ID": DEMO_CLIENT_ID,
        "CG_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "PYTHONUNBUFFERED": "1",
    }


def start_run(argv: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    """``python -m importer run …`` as a separate process, as a scheduler starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "importer", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
    )


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen[str], timeout: float) -> None:
    """Poll ``condition`` until true; fail if the process ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (exit {proc.returncode}) too early:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail("the run made no progress in time")
        time.sleep(0.01)
