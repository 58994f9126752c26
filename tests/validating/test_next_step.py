"""The line after ``validate``'s summary says what to do next: where the rows fail on the
form of their dates, the fix is one setting in a mapping, not each row."""

from __future__ import annotations

from pathlib import Path

from ..helpers import HEADER, activity_rows, write_csv


def test_ambiguous_dates_lead_to_date_format(cli, tmp_path: Path) -> None:
    rows = activity_rows(12)
    for number, row in enumerate(rows):
        row[5] = f"0{number % 9 + 1}/04/2024 10:00"  # day-first or month-first: who knows
    source = write_csv(tmp_path / "calls.csv", [HEADER, *rows])
    result = cli("validate", source, "--report", tmp_path / "r.csv")
    assert result.code == 1, result.output
    assert "set date_format in a mapping file" in result.out.splitlines()[-1]


def test_other_invalid_rows_lead_to_the_errors_column(cli, tmp_path: Path) -> None:
    rows = activity_rows(5)
    rows[2][1] = ""
    source = write_csv(tmp_path / "calls.csv", [HEADER, *rows])
    result = cli("validate", source, "--report", tmp_path / "r.csv")
    assert result.code == 1
    assert result.out.splitlines()[-1] == (
        "Fix the rows marked invalid (see the errors column), then validate again."
    )
