"""The fixtures every test folder shares: a real sandbox API on 127.0.0.1, hand-written APIs,
the demo credentials, each Excel reader, and the real CLI run in this process.

Everything else the tests share (paths, running the CLI as a separate process, files to feed
it, reading what it wrote) is in ``helpers.py``; the hand-written APIs in ``servers.py``."""

from __future__ import annotations

import compileall
import contextlib
import importlib
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

# pandera imports hypothesis at a schema's first validation; under pytest's assertion
# rewriting that import parses hypothesis's source, which CPython 3.11.7 may fail to do deep
# in a test's stack ("SystemError: AST constructor recursion depth mismatch"): once, here
import pandera.backends.pandas.builtin_checks  # noqa: F401
import pytest
from aiohttp import web

from importer.cli import main
from importer.read import ReadOptions
from importer.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    RunningSandbox,
    SandboxConfig,
    serve_in_thread,
)

from . import checks_aside
from .helpers import READER_OPTIONS, ROOT, CliResult
from .servers import Served, serve


def pytest_configure(config: pytest.Config) -> None:
    """Once, before the workers start: the package, and the tests as pytest rewrites their
    asserts, compiled to bytecode. Where bytecode is not written (PYTHONDONTWRITEBYTECODE,
    as on CI), each of the four workers would compile them again (the tests: ~1.6 s of CPU
    each), and each process the tests start the package (~0.2 s)."""
    checks_aside.start(config)  # mypy and the like, on what the tests leave idle
    if sys.dont_write_bytecode and not hasattr(config, "workerinput"):
        for package in ("importer", "schemas"):
            compileall.compile_dir(ROOT / package, quiet=1, workers=1)
        # the tests' own helpers (not rewritten); then the test modules, imported here once
        # through pytest's rewriting hook while bytecode may be written: it writes its own
        compileall.compile_dir(ROOT / "tests", quiet=1, workers=1, rx=re.compile(r"test_"))
        sys.dont_write_bytecode = False
        try:
            for path in sorted((ROOT / "tests").rglob("test_*.py")):
                # a module that fails to import is left to the worker that collects it:
                # there it is that file's collection error, not the whole run's
                with contextlib.suppress(Exception):
                    importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        finally:
            sys.dont_write_bytecode = True


def pytest_unconfigure(config: pytest.Config) -> None:
    checks_aside.stop()


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


@pytest.fixture
def serve_app() -> Iterator[Callable[[web.Application], Served]]:
    """Serve aiohttp apps (``servers.py``) for the duration of a test."""
    with ExitStack() as stack:
        yield lambda app: stack.enter_context(serve(app))
