"""Formula-looking cells: sent unchanged, defused in reports and retry files, fed back exactly."""

from __future__ import annotations

from typing import Any

import openpyxl
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from importer.excel_text import formula_safe, unmark

from ..helpers import FAST, HEADER, activity_rows, api_args, read_report, read_rows, write_csv
from ..servers import api_app, serve

pytestmark = pytest.mark.usefixtures("api_env")


CSV_RETRY = [*FAST, "--retry-format", "csv"]  # tests of the CSV retry file's marks


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def test_formula_cells_are_sent_unchanged_but_neutralised_in_reports(cli, sandbox, tmp_path):
    formula = '=HYPERLINK("http://example.com","click")'
    rows = [HEADER, *activity_rows(2)]
    rows[1][6] = formula
    rows[2][6] = "-5 + @cmd"
    source = write_csv(tmp_path / "in.csv", rows)
    for name in ("r.csv", "r.xlsx"):
        result = cli("run", source, "--report", tmp_path / name, *api_args(sandbox))
        assert result.code == 0
    info = sandbox.sandbox.activities["R-000000"]["additional_information_object"]
    assert info["Subject"] == formula
    lines = read_report(tmp_path / "r.csv")
    assert lines[0]["Subject"] == "'" + formula
    assert lines[1]["Subject"] == "'-5 + @cmd"
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    cell = book.active["N2"]
    assert book.active["N1"].value == "Subject"
    assert cell.value == formula and cell.data_type == "s"  # text, never a formula


def test_retry_file_can_be_fixed_and_fed_back(cli, sandbox, tmp_path):
    rows = [HEADER, *activity_rows(3)]
    rows[2][1] = ""  # missing account
    rows[3][6] = "=1+1"
    rows[3][1] = "x" * 300  # too long
    source = write_csv(tmp_path / "in.csv", rows)
    first = ("--report", tmp_path / "first.csv", "--retry-format", "csv")
    assert cli("run", source, *first, *api_args(sandbox)).code == 1
    retry = read_rows(tmp_path / "first.retry.csv")
    assert len(retry) == 3
    retry[1][1] = "Fixed Account"
    retry[2][1] = "Another Account"
    fixed = write_csv(tmp_path / "fixed.csv", retry)
    result = cli("run", fixed, "--report", tmp_path / "second.csv", *api_args(sandbox))
    assert result.code == 0, result.out + result.err
    assert not (tmp_path / "second.retry.xlsx").exists()
    assert sandbox.sandbox.activities["R-000002"]["additional_information_object"] == {
        "Subject": "=1+1"  # the report's protective ' is not sent
    }
    assert not (tmp_path / "second.retry.csv").exists()


HOSTILE_CELLS = [
    "=1+1",
    "+49 30 1234",
    "-5",
    "@SUM(A1)",
    "\tTabbed",
    "'=already quoted",
    "plain;=cmd|' /C calc'!A0",
    "plain,-2+3",
    'say "=hi"',
    "first line\n=second line",
    "a;'+b",
    "''@x",
]


def hostile_source(tmp_path, name="in.csv"):
    rows = [HEADER, *activity_rows(len(HOSTILE_CELLS))]
    for row, cell in zip(rows[1:], HOSTILE_CELLS, strict=True):
        row[6] = cell
        row[2] = "ghost@unknown.example"  # rejected by the API: every row lands in the retry file
    return write_csv(tmp_path / name, rows)


def recording_api() -> tuple[web.Application, list[dict[str, Any]]]:
    bodies: list[dict[str, Any]] = []

    async def put(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.json_response(
            {"message": "The given data was invalid.", "errors": {"contact": ["Unknown."]}},
            status=422,
        )

    return api_app(put), bodies


def fields_excel_could_start(path) -> list[str]:
    """Every field Excel could see when it splits the file's lines on ',' or on ';'."""
    text = path.read_text(encoding="utf-8-sig")
    found = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        for sep in (",", ";"):
            found.extend(field.lstrip('"') for field in line.split(sep))
    return found


def test_retry_file_fed_back_sends_the_original_values_byte_for_byte(cli, tmp_path):
    source = hostile_source(tmp_path)
    app, bodies = recording_api()
    with serve(app) as api:
        first = cli("run", source, "--report", tmp_path / "first.csv", *api.args(), *CSV_RETRY)
        assert first.code == 1, first.err
        sent_first = list(bodies)
        retry = tmp_path / "first.retry.csv"
        assert len(read_rows(retry)) == len(HOSTILE_CELLS) + 1
        bodies.clear()
        # and once more from the second retry file: marks never pile up
        second = cli("run", retry, "--report", tmp_path / "second.csv", *api.args(), *CSV_RETRY)
        assert second.code == 1, second.err
        sent_second = list(bodies)
        bodies.clear()
        third = tmp_path / "second.retry.csv"
        assert cli("run", third, "--report", tmp_path / "third.csv", *api.args(), *FAST).code == 1
        sent_third = list(bodies)
    key = lambda body: body["reference"]  # noqa: E731
    assert (
        sorted(sent_first, key=key) == sorted(sent_second, key=key) == sorted(sent_third, key=key)
    )
    subjects = {b["additional_information_object"]["Subject"] for b in sent_first}
    # trimmed, never a ' added; a ' the input itself has where our marks go reads as one
    assert subjects == {unmark(cell).strip() for cell in HOSTILE_CELLS}
    assert "=1+1" in subjects and "Tabbed" in subjects


def test_reports_and_retry_files_never_start_a_formula_field_in_any_locale(cli, tmp_path):
    source = hostile_source(tmp_path)
    app, _ = recording_api()
    with serve(app) as api:
        assert cli("run", source, "--report", tmp_path / "r.csv", *api.args(), *CSV_RETRY).code == 1
    for written in (tmp_path / "r.csv", tmp_path / "r.retry.csv"):
        starts = [f for f in fields_excel_could_start(written) if f.startswith(FORMULA_STARTS)]
        assert starts == [], written.name
    # the report still reads back as the values, marks and all, in their columns
    lines = read_report(tmp_path / "r.csv")
    assert [unmark(line["Subject"]) for line in lines] == [unmark(c) for c in HOSTILE_CELLS]


@given(st.text(alphabet=st.sampled_from("ab'=+-@\t\r\n,;\" "), max_size=12))
def test_formula_marks_are_exactly_reversible_and_leave_no_formula_field(text):
    marked = formula_safe(text)
    assert unmark(marked) == text
    for line in marked.replace("\r", "\n").split("\n"):
        for sep in (",", ";"):
            assert not any(f.lstrip('"').startswith(FORMULA_STARTS[:4]) for f in line.split(sep))
