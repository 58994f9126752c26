"""A CSV broken by its quotes: named by its row before anything is sent, or that row's problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from importer.errors import InputError
from importer.read import open_table

from ..helpers import (
    FAST,
    HEADER,
    activity_rows,
    api_args,
    csv_text,
    one_line,
    read_report,
    run_subprocess,
    small_book,
    subprocess_env,
    validated,
    write_csv,
)


def _broken_at_row_20_001(tmp_path: Path) -> Path:
    rows = [HEADER, *activity_rows(25_000)]
    rows[20_000][6] = '"this quote is never closed'  # the file's line and row 20,001
    return write_csv_raw(tmp_path / "broken.csv", rows)


def write_csv_raw(path: Path, rows: list[list[str]]) -> Path:
    path.write_text(csv_text(rows), encoding="utf-8")
    return path


def test_check_parses_names_the_row_where_a_quote_is_never_closed(tmp_path):
    table = open_table(_broken_at_row_20_001(tmp_path))
    with pytest.raises(InputError) as refused:
        table.check_parses()
    assert str(refused.value) == (
        "broken.csv: row 20,001: a quote opened here is never closed; fix the quotes (a cell "
        "that holds a quote must be quoted, its quotes doubled); nothing was sent"
    )


def test_reading_chunks_names_the_row_too(cli, tmp_path):
    result = cli("validate", _broken_at_row_20_001(tmp_path), "--report", tmp_path / "r.csv")
    assert result.code == 2
    assert "row 20,001: a quote opened here is never closed" in one_line(result.err)


def test_check_parses_accepts_a_good_file_and_a_workbook(tmp_path, excel_reader, excel_options):
    open_table(write_csv(tmp_path / "ok.csv", [HEADER, *activity_rows(10)])).check_parses()
    table = open_table(small_book(tmp_path), options=excel_options)
    table.check_parses()
    assert table.reader == excel_reader


def test_sep_line_keeps_row_numbers_of_a_broken_quote(tmp_path):
    rows = [HEADER, *activity_rows(6)]
    rows[4][6] = '"never closed'
    source = tmp_path / "broken.csv"
    source.write_bytes(("sep=;\n" + csv_text(rows, sep=";")).encode())
    with pytest.raises(InputError, match=r"row 5: a quote opened here is never closed"):
        open_table(source).check_parses()


@pytest.mark.usefixtures("api_env")
def test_a_quote_broken_at_row_20001_stops_the_run_before_anything_is_sent(cli, sandbox, tmp_path):
    rows = [HEADER, *activity_rows(25_000)]
    source = write_csv(tmp_path / "in.csv", rows)
    text = source.read_text(encoding="utf-8").splitlines(keepends=True)
    text[20_000] = text[20_000].replace("Subject", '"Subject', 1)  # row 20,001: never closed
    source.write_text("".join(text), encoding="utf-8")
    result = cli("run", source, "--report", tmp_path / "r.csv", *api_args(sandbox), *FAST)
    assert result.code == 2
    assert "row 20,001" in result.err and "never closed" in result.err
    assert sandbox.sandbox.stats.puts == 0


@pytest.mark.timeout(90)
def test_a_file_that_breaks_is_one_line_without_a_traceback_at_exit(
    tmp_path: Path, make_sandbox: Any
) -> None:
    """The whole file's parse runs beside the token request: its error is the run's one
    line, and never again as 'Task exception was never retrieved' when the process ends."""
    box = make_sandbox()
    lines = [",".join(row) for row in [HEADER, *activity_rows(20)]]
    lines[5] = lines[5].replace(",Subject", ',"Subject', 1)  # a quote that never closes
    source = tmp_path / "a.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run_subprocess(
        "run", source, "--report", tmp_path / "r.csv", *api_args(box),
        env=subprocess_env(), cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert done.code == 2, done.err
    assert done.err.count("\n") == 1, done.err
    assert "never closed" in done.err


def _stray_quote(tmp_path: Path, count: int = 30) -> Path:
    """Row 5's Subject opens a quote it never closes on its line: the rows after it are read
    into that one cell until row 25's quote (mid-cell, as people type them) closes it."""
    rows = [HEADER, *activity_rows(count)]
    rows[4][6] = '"Urgent: printer broken'  # row 5
    rows[24][6] = 'Re: "the" printer'  # row 25
    return write_csv_raw(tmp_path / "stray.csv", rows)


def test_a_cell_that_swallowed_rows_makes_its_row_invalid_and_says_so(cli, tmp_path):
    result, lines = validated(cli, _stray_quote(tmp_path), tmp_path)
    assert result.code == 1, result.output
    bad = [line for line in lines if line["status"] != "valid"]
    assert [line["source_row"] for line in bad] == ["5"]
    assert "quote" in bad[0]["errors"] and "Subject" in bad[0]["errors"], bad[0]["errors"]
    assert "swallowed" in result.out and "(row 5)" in result.out  # the screen names it
    summary = json.loads((tmp_path / "out" / "report.csv.summary.json").read_text(encoding="utf-8"))
    assert summary["errors"][0]["first_rows"] == [5]


@pytest.mark.usefixtures("api_env")
@pytest.mark.parametrize("where", ["child", "here"])
def test_a_swallowing_cell_is_found_by_the_checking_child_too(
    cli, make_sandbox, monkeypatch, tmp_path, where
):
    from importer import checked_ahead as checking

    monkeypatch.setattr(checking, "SECOND_PROCESS_BYTES", 0 if where == "child" else 1 << 40)
    box = make_sandbox()
    report = tmp_path / "r.csv"
    source = _stray_quote(tmp_path)
    result = cli("run", source, "--report", report, *api_args(box), "--rate", "0", "--quiet")
    assert result.code == 1, result.output
    lines = read_report(report)
    assert [line["source_row"] for line in lines if line["status"] == "invalid"] == ["5"]
    assert "R-000003" not in box.sandbox.activities  # the swallowed row 5 (R-000003) not sent
    assert "R-000002" in box.sandbox.activities


LEGITIMATE_TEXTS = {
    "a ticket description": (
        "Hi team,\nThe printer on floor 3, room 2, is jammed again.\n"
        "Could you, please, have a look?\nThanks,\nAnn"
    ),
    "a long pasted e-mail": "\n".join(
        # every ninth line holds as many commas as a row of the file (6): too few to matter
        f"> On {day}, {n} March, Bob wrote: yes, two trays, three, four, five"
        if n % 9 == 0
        else f"> line {n} of the thread, with a comma, or two"
        for n, day in enumerate(["Mon", "Tue", "Wed", "Thu", "Fri"] * 8)
    ),
    "a list of steps": "1. reboot\n2. reinstall\n3. new cable\n4. other port\n5. other PC",
}


@pytest.mark.parametrize("text", sorted(LEGITIMATE_TEXTS))
def test_a_multi_line_text_cell_is_no_swallowed_rows(cli, tmp_path, text):
    rows = [HEADER, *activity_rows(12)]
    rows[3][6] = LEGITIMATE_TEXTS[text]
    result, lines = validated(cli, write_csv(tmp_path / "ok.csv", rows), tmp_path)
    assert result.code == 0, result.output
    assert lines[2]["Subject"] == LEGITIMATE_TEXTS[text]
