"""The summary's heading says what happened to the file: 'imported into' only when the run
went through; an interrupted or stopped run's file was 'sent to' the API, in part."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from importer.cli.screen import print_summary
from importer.summary import RunSummary


@pytest.mark.parametrize(
    ("how", "heading"),
    [(None, "imported into"), ("interrupted", "sent to"), ("stopped", "sent to")],
)
def test_the_heading_says_whether_the_file_went_through(how: str | None, heading: str):
    summary = RunSummary("run", Path("in.csv"), Path("r.csv"), api_host="api.example")
    if how == "interrupted":
        summary.interrupted = True
    elif how == "stopped":
        summary.stopped = "the API answered 503 for 5 minutes"
    out = io.StringIO()
    print_summary(summary, out)
    assert out.getvalue().splitlines()[1] == f"in.csv {heading} api.example"
