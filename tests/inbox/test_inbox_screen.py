"""What an inbox run prints a file: where it went, its counts, its report and retry file,
so that an analyst at the terminal need not open the log to know what to do next."""

from __future__ import annotations

import pytest

from ..helpers import activity_rows
from .test_inbox import NOW, drop, reports_of

pytestmark = pytest.mark.usefixtures("api_env")


def test_each_file_says_its_counts_and_where_its_files_are(cli, sandbox, tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    rows = activity_rows(5, prefix="B")
    rows[1][1] = ""  # one invalid row: the file goes to failed/ with a retry file
    drop(inbox, "bad.csv", rows)
    api = ["--api-url", sandbox.api_url, "--token-url", sandbox.token_url]
    result = cli("inbox", inbox, *api, *[flag for flag in NOW if flag != "--quiet"])
    (line,) = [line for line in result.out.splitlines() if line.startswith("bad.csv")]
    assert line.startswith("bad.csv → failed/  (imported 4, invalid 1; report ")
    assert str(reports_of(inbox)) in line and "retry file " in line and ".retry." in line
