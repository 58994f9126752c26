"""The field rules are one table (``schemas.activity.RULES``); the pandera schema that words
row problems is built from it, and loaded only when a row may fail a rule."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pandera.engines import pandas_engine

from schemas.activity import RULES, SENT_FORMAT, FieldRule, activity_schema

from ..helpers import HEADER, ROOT, activity_rows, write_csv


def test_the_schema_says_what_the_rules_say() -> None:
    schema = activity_schema()
    read_back = []
    for name, column in schema.columns.items():  # the rules, read off the schema itself
        limits = [c.statistics["max_value"] for c in column.checks if c.name == "max_length"]
        timestamp = SENT_FORMAT if isinstance(column.dtype, pandas_engine.DateTime) else None
        read_back.append(FieldRule(name, not column.nullable, (limits or [None])[0], timestamp))
    assert tuple(read_back) == RULES
    assert schema.strict and schema.ordered


_VALIDATE = textwrap.dedent(
    """
    import sys
    from importer.cli import main
    code = main(["validate", sys.argv[1], "--report", sys.argv[2], "--quiet"])
    print(code, any(name.split(".")[0] == "pandera" for name in sys.modules))
    """
)


def _validate(source: Path, tmp_path: Path) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", _VALIDATE, str(source), str(tmp_path / "r.csv")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    code, loaded = done.stdout.split()
    return code, loaded


def test_pandera_is_loaded_only_for_a_row_that_may_fail(tmp_path: Path) -> None:
    valid = write_csv(tmp_path / "valid.csv", [HEADER, *activity_rows(20)])
    assert _validate(valid, tmp_path) == ("0", "False")
    rows = activity_rows(20)
    rows[3][1] = "x" * 300  # account: longer than the API takes
    invalid = write_csv(tmp_path / "invalid.csv", [HEADER, *rows])
    assert _validate(invalid, tmp_path) == ("1", "True")
    report = (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    assert "account: must be at most 255 characters" in report
