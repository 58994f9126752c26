"""Dates written with the month's name, as Jira, Zoho and report exports write them: init
infers their format from a sample, and the run reads them the right way round."""

from __future__ import annotations

import pandas as pd
import pytest

from importer.dates import guess_date_format, parse_timestamps, wordy_format


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
