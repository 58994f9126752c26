"""init on real exports (tests/data/real/, sources in SOURCES.md), unedited: it recognises
the system and the record kind, picks the columns a person would (answer_key.py), and the
mapping it writes validates the rows (one test a file: init runs once)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from importer.mapping import load_mapping

from ..helpers import read_report
from .answer_key import DATA_ALLOW, EXPECTED, KNOWN_MISSES, REAL, choices


def proposed(cli: Any, tmp_path: Path, name: str) -> tuple[Any, Path, dict[str, Any]]:
    mapping = tmp_path / f"{Path(name).stem}.toml"
    result = cli("init", REAL / name, "--output", mapping)
    return result, mapping, tomllib.loads(mapping.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_init_maps_a_real_export_as_a_person_would_and_its_rows_validate(cli, tmp_path, name):
    expected = EXPECTED[name]
    result, path, mapping = proposed(cli, tmp_path, name)
    assert result.code in (0, 1), result.err
    if result.code == 1:  # only where no column can name the customer
        assert not expected["account"], result.out + result.err
        assert "account" in result.err
    load_mapping(path)  # the file loads
    wrong = [
        what
        for what, right in choices(result, mapping, expected).items()
        if not right and (name, what) not in KNOWN_MISSES
    ]
    assert not wrong, f"{name}: wrong {wrong}\n{result.out}\n{path.read_text(encoding='utf-8')}"
    if expected["account"]:
        _validates_the_rows(cli, tmp_path, name, path)


def _validates_the_rows(cli: Any, tmp_path: Path, name: str, path: Path) -> None:
    """The mapping init wrote validates as many rows as the data allow."""
    report = tmp_path / "report.csv"
    done = cli("validate", REAL / name, "--mapping", path, "--report", report, "--quiet")
    assert done.code in (0, 1), done.err
    lines = read_report(report)
    valid = sum(line["status"] == "valid" for line in lines) / len(lines)
    least, why = DATA_ALLOW.get(name, (0.9, ""))
    assert valid >= least, f"{name}: {valid:.0%} valid ({why or 'the data allow 90%'})"
