"""Date errors that teach: what is impossible in a date, and the fix written the way the
file writes its times (which the run then reads)."""

from __future__ import annotations

import pandas as pd
import pytest

from importer.dates import parse_timestamps

from ..helpers import HEADER, activity_rows, read_report, write_csv


@pytest.mark.parametrize(
    ("value", "form", "said"),
    [
        ("31/02/2024 10:15", "%d/%m/%Y %H:%M", "February has no 31st"),
        ("2024-02-30 10:00", None, "February has no 30th"),
        ("2023-02-29", None, "February 2023 has no 29th: 2023 is no leap year"),
        ("2024-13-01 10:00", None, "there is no month 13"),
        ("2024-01-01 25:00", None, "hour 25 does not exist (0 to 23)"),
        ("2024-01-01 10:61", None, "minute 61 does not exist (0 to 59)"),
        ("04/31/2024 9:00 AM", "%m/%d/%Y %I:%M %p", "April has no 31st"),
    ],
)
def test_an_impossible_date_is_called_impossible_and_why(value, form, said):
    problem = parse_timestamps(pd.Series([value]), date_format=form).problem.iloc[0]
    assert problem == f"'{value}' is no real date and time: {said}; fix the cell"
    assert "does not match" not in problem  # no contradiction with the format it names


def test_a_time_the_clocks_skip_is_fixed_in_the_files_own_format(cli, tmp_path):
    rows = activity_rows(2)
    rows[0][5] = "26/03/2023 02:29"  # Europe/Berlin jumps from 02:00 to 03:00
    rows[1][5] = "26/03/2023 02:29 +01:00"  # as the message says to write it
    source = write_csv(tmp_path / "in.csv", [HEADER, *rows])
    mapping = tmp_path / "m.toml"
    mapping.write_text('date_format = "%d/%m/%Y %H:%M"\ntimezone = "Europe/Berlin"\n')
    result = cli("validate", source, "--mapping", mapping, "--report", tmp_path / "r.csv")
    first, second = read_report(tmp_path / "r.csv")
    assert first["status"] == "invalid"
    assert "give the time with its offset, e.g. '26/03/2023 02:29 +01:00'" in first["errors"]
    assert second["status"] == "valid", second["errors"]
    assert result.code == 1


def test_a_time_that_happens_twice_names_both_offsets():
    problem = parse_timestamps(
        pd.Series(["29/10/2023 02:30"]), "Europe/Berlin", "%d/%m/%Y %H:%M"
    ).problem.iloc[0]
    assert "'29/10/2023 02:30 +02:00' (the first) or '29/10/2023 02:30 +01:00'" in problem
