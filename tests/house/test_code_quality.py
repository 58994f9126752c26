"""The project's own checks, so CI's single test command also holds the style line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from .. import checks_aside
from ..helpers import ROOT


def _tool(name: str) -> list[str]:
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return [sys.executable, "-m", name]


def test_ruff_lint_and_format():
    lint = subprocess.run([*_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run(
        [*_tool("ruff"), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_on_the_package():
    _tool("mypy")
    code, output, _ = checks_aside.result("mypy")  # from cold: started aside
    assert code == 0, output


def test_the_layers_of_the_house_hold():
    """The import-linter contracts in pyproject.toml: nothing imports upwards, no cycles."""
    if importlib.util.find_spec("importlinter") is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    code, output, _ = checks_aside.result("lint-imports", timeout=120)
    assert code == 0, output


#: the sizes a newcomer can read: a module is one concept, a function one step
MODULE_LINES, FUNCTION_LINES = 600, 60


def test_no_module_and_no_function_grows_past_what_one_reads_at_once():
    import ast

    too_long = []
    for path in sorted((ROOT / "importer").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT)
        if source.count("\n") > MODULE_LINES:
            too_long.append(f"{where}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > FUNCTION_LINES:
                    too_long.append(f"{where}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, "split these into named pieces:\n" + "\n".join(too_long)
