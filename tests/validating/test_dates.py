"""Timestamps: to UTC from any offset or zone, month names read; bad ones are row problems."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.dates import guess_date_format, parse_timestamps, wordy_format

from ..helpers import HEADER, activity_rows, api_args, read_report, write_csv


@settings(max_examples=60, deadline=None)
@given(
    stamp=st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2060, 1, 1)),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: m - m % 15),
    style=st.sampled_from(["+HH:MM", "+HHMM", "Z"]),
)
def test_offsets_are_converted_to_utc(stamp, offset_minutes, style):
    import pandas as pd

    from importer.dates import parse_timestamps

    stamp = stamp.replace(microsecond=0)
    if style == "Z":
        offset_minutes = 0
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    suffix = (
        "Z"
        if style == "Z"
        else (
            f"{sign}{hours:02d}:{minutes:02d}"
            if style == "+HH:MM"
            else f"{sign}{hours:02d}{minutes:02d}"
        )
    )
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S") + suffix
    parsed = parse_timestamps(pd.Series([text], dtype="str"), zone="Asia/Tokyo")
    expected = stamp - dt.timedelta(minutes=offset_minutes)
    assert parsed.problem.isna().all()
    assert parsed.sent.iloc[0] == expected.strftime("%Y-%m-%d %H:%M:%S")


@settings(max_examples=40, deadline=None)
@given(day=st.integers(1, 12), month=st.integers(1, 12), sep=st.sampled_from("/.-"))
def test_day_or_month_first_is_refused_without_date_format(day, month, sep):
    import pandas as pd

    from importer.dates import parse_timestamps

    text = f"{day:02d}{sep}{month:02d}{sep}2019"
    parsed = parse_timestamps(pd.Series([text], dtype="str"))
    assert parsed.sent.isna().all()
    assert "day-first or month-first" in parsed.problem.iloc[0]
    with_format = parse_timestamps(pd.Series([text], dtype="str"), date_format=f"%d{sep}%m{sep}%Y")
    assert with_format.sent.iloc[0] == f"2019-{month:02d}-{day:02d} 00:00:00"


@pytest.mark.usefixtures("api_env")
def test_excel_date_cells_are_sent_as_utc_text(cli, sandbox, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Data"
    sheet.append(HEADER)
    import datetime as dt

    sheet.append(
        [
            "X-1",
            "Acme",
            "a@acme.example",
            "Call",
            "Excel",
            dt.datetime(2024, 7, 1, 9, 30),
            "summer, Berlin +2",
        ]
    )
    sheet.append(
        [
            "X-2",
            "Acme",
            "a@acme.example",
            "Call",
            "Excel",
            dt.datetime(2024, 1, 15, 9, 30),
            "winter, Berlin +1",
        ]
    )
    sheet.append(["X-3", "Acme", None, "Call", "Excel", dt.date(2024, 1, 16), 42.5])
    path = tmp_path / "dates.xlsx"
    book.save(path)
    result = cli(
        "run",
        path,
        "--timezone",
        "Europe/Berlin",
        "--report",
        tmp_path / "r.xlsx",
        *api_args(sandbox),
        "--rate",
        "0",
    )
    assert result.code == 0, result.err
    stored = sandbox.sandbox.activities
    assert stored["X-1"]["happened_at"] == "2024-07-01 07:30:00"
    assert stored["X-2"]["happened_at"] == "2024-01-15 08:30:00"
    assert stored["X-3"]["happened_at"] == "2024-01-15 23:00:00"
    assert "contact" not in stored["X-3"]  # a blank cell is a missing value
    assert stored["X-3"]["additional_information_object"] == {"Subject": "42.5"}
    report = openpyxl.load_workbook(tmp_path / "r.xlsx", read_only=True)
    lines = list(report.active.iter_rows(values_only=True))
    assert lines[0][:3] == ("source_row", "status", "reference")
    assert [line[1] for line in lines[1:]] == ["imported"] * 3


@pytest.mark.usefixtures("api_env")
@pytest.mark.parametrize(
    "value",
    [
        "2024-03-01 10:00:00+25:00",
        "2024-12-31 23:59:60",
        "2024-03-01T10:60:00Z",
        "2024-03-01 24:00:00",
        "2024-03-01 10:00:00+05:75",
    ],
)
def test_out_of_range_times_and_offsets_are_invalid_not_rolled_over(cli, tmp_path, value):
    rows = [HEADER, *activity_rows(1)]
    rows[1][5] = value
    source = write_csv(tmp_path / "in.csv", rows)
    assert cli("validate", source, "--report", tmp_path / "r.csv", "--quiet").code == 1
    line = read_report(tmp_path / "r.csv")[0]
    assert line["status"] == "invalid" and "is no real date and time" in line["errors"]


# --- dates written with the month's name, as Jira, Zoho and report exports write them: init
# infers their format from a sample, and the run reads them the right way round ----------


@pytest.mark.parametrize(
    ("value", "form", "utc"),
    [
        ("22/Sep/25 9:26 AM", "%d/%b/%y %I:%M %p", "2025-09-22 09:26:00"),  # Jira
        ("03/Oct/25 11:02 PM", "%d/%b/%y %I:%M %p", "2025-10-03 23:02:00"),
        ("15 Apr, 2021 23:01:19", "%d %b, %Y %H:%M:%S", "2021-04-15 23:01:19"),  # Zoho CRM
        ("Sep 22, 2025", "%b %d, %Y", "2025-09-22 00:00:00"),
        ("September 22, 2025 4:05 PM", "%B %d, %Y %I:%M %p", "2025-09-22 16:05:00"),
        ("2025-Sep-22", "%Y-%b-%d", "2025-09-22 00:00:00"),
        ("22-Sep-2025 14:05", "%d-%b-%Y %H:%M", "2025-09-22 14:05:00"),
        ("3 September 2024 10:00", "%d %B %Y %H:%M", "2024-09-03 10:00:00"),
        ("22 Sep 2025 10:00:00 +0200", "%d %b %Y %H:%M:%S %z", "2025-09-22 08:00:00"),
    ],
)
def test_a_month_name_in_any_order_gives_its_format(value: str, form: str, utc: str) -> None:
    assert wordy_format(value) == form
    parsed = parse_timestamps(pd.Series([value]), date_format=(form,))
    assert parsed.problem.isna().all(), parsed.problem.tolist()
    assert parsed.utc.dt.strftime("%Y-%m-%d %H:%M:%S").tolist() == [utc]


@pytest.mark.parametrize("value", ["Mon 22 Sep", "22/Foo/25", "Sep 2025", "22 Sep"])
def test_texts_that_are_no_whole_date_get_no_format(value: str) -> None:
    assert wordy_format(value) is None


def test_a_jira_sample_is_read_whole() -> None:
    sample = pd.Series(["22/Sep/25 9:26 AM", "03/Oct/25 11:02 PM", None, "1/Nov/24 12:00 PM"])
    guess = guess_date_format(sample)
    assert guess.formats == ("%d/%b/%y %I:%M %p",)
    assert guess.question is None and guess.unreadable == ()
