"""A file left in processing/ by a run that died half-way holds rows already imported: the
next run that cannot finish it (other settings, a mapping that does not fit) must leave it
there, saying why, not file it in failed/, where nothing would ever finish it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..helpers import HEADER, activity_rows, api_args, read_report, write_csv
from .test_inbox import killed_mid_file, only_report

pytestmark = pytest.mark.usefixtures("api_env")


def _mapping(path: Path, reference: str) -> Path:
    path.write_text(f'[columns]\nreference = "{reference}"\n', encoding="utf-8")
    return path


def test_a_half_imported_file_waits_for_the_settings_that_finish_it(cli, make_sandbox, tmp_path):
    box = make_sandbox(latency=0.02)
    inbox = tmp_path / "in"
    inbox.mkdir()
    header = ["Id", *HEADER[1:]]
    write_csv(inbox / "big.csv", [header, *activity_rows(400)])
    right = _mapping(tmp_path / "right.toml", "Id")
    wrong = _mapping(tmp_path / "wrong.toml", "Ticket")
    where = [*api_args(box), "--settle", "0", "--rate", "0", "--concurrency", "4"]
    killed_mid_file(["inbox", inbox, *where, "--mapping", right], box, inbox)
    assert [p.name for p in (inbox / "processing").iterdir()] == ["big.csv"]

    refused = cli("inbox", inbox, *where, "--mapping", wrong, "--quiet")
    assert refused.code != 0
    assert [p.name for p in (inbox / "processing").iterdir()] == ["big.csv"]
    assert not (inbox / "failed").exists() or not list((inbox / "failed").iterdir())

    finished = cli("inbox", inbox, *where, "--mapping", right, "--quiet")
    assert finished.code == 0, finished.output
    assert [p.name for p in (inbox / "done").iterdir()] == ["big.csv"]
    assert box.sandbox.stats.duplicates == 0 and len(box.sandbox.activities) == 400
    assert len(read_report(only_report(inbox, "big"))) == 400


def test_a_left_over_file_nothing_was_sent_of_goes_to_failed(cli, sandbox, tmp_path):
    inbox = tmp_path / "in"
    (inbox / "processing").mkdir(parents=True)
    (inbox / "processing" / "bad.csv").write_bytes(b"PK\x03\x04garbage")  # no journal
    api = ["--api-url", sandbox.api_url, "--token-url", sandbox.token_url]
    result = cli("inbox", inbox, *api, "--settle", "0", "--quiet")
    assert result.code == 1
    assert [p.name for p in (inbox / "failed").iterdir()] == ["bad.csv"]
    assert not list((inbox / "processing").iterdir())
