"""Hostile rows, through the real CLI: a stale row that would overwrite a newer one, two
columns with one header, values built to collide, formula text hidden behind a list
separator, cells an .xlsx cannot hold, and timestamps that only look real."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import openpyxl
import pandas as pd
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from importer.excel_text import formula_safe, unmark
from importer.validate import derive_references

from .helpers import (
    HEADER,
    activity_rows,
    api_args,
    read_by,
    read_report,
    read_retry,
    read_rows,
    write_csv,
)
from .servers import api_app, imported, serve

pytestmark = pytest.mark.usefixtures("api_env")

FAST = ["--rate", "0", "--retry-wait", "0", "--quiet"]
CSV_RETRY = [*FAST, "--retry-format", "csv"]  # tests of the CSV retry file's marks
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# --- 2. a failed row never overwrites a newer row of its reference ---------------------------


def flaky_for(subject: str) -> tuple[web.Application, dict[str, Any]]:
    """An API that answers 503 to rows whose Subject is ``subject`` while ``state['fail']``."""
    state: dict[str, Any] = {"fail": True, "stored": {}, "puts": 0}

    async def put(request: web.Request) -> web.Response:
        body = await request.json()
        state["puts"] += 1
        info = body.get("additional_information_object") or {}
        if state["fail"] and info.get("Subject") == subject:
            return web.json_response({"message": "Service Unavailable"}, status=503)
        state["stored"][body["reference"]] = info.get("Subject")
        return imported(body, 7000 + state["puts"])

    return api_app(put), state


def test_failed_row_is_superseded_by_a_later_import_of_its_reference(cli, tmp_path):
    rows = [HEADER, *activity_rows(3)]
    rows[1][0] = rows[2][0] = "T-1"  # one ticket: opened, then closed
    rows[1][6], rows[2][6] = "opened", "closed"
    source = write_csv(tmp_path / "in.csv", rows)
    report = tmp_path / "r.csv"
    app, state = flaky_for("opened")
    with serve(app) as api:
        first = cli("run", source, "--report", report, *api.args(), "--max-attempts", "2", *FAST)
        assert first.code == 1, first.err
        lines = read_report(report)
        assert [line["status"] for line in lines] == ["skipped", "imported", "imported"]
        assert "superseded by row 3" in lines[0]["errors"]
        # the retry file holds nothing that would put back the old state
        assert not (tmp_path / "r.retry.csv").exists()
        assert not (tmp_path / "r.retry.xlsx").exists()
        assert state["stored"]["T-1"] == "closed"

        state["fail"] = False
        puts = state["puts"]
        again = cli("run", source, "--report", report, *api.args(), "--resume", *FAST)
        assert again.code == 1, again.err
        assert state["puts"] == puts  # --resume sends nothing: "opened" stays unsent
        assert state["stored"]["T-1"] == "closed"
        assert read_report(report)[0]["status"] == "skipped"


def test_a_later_failed_row_is_not_superseded_by_an_earlier_import(cli, tmp_path):
    rows = [HEADER, *activity_rows(2)]
    rows[1][0] = rows[2][0] = "T-1"
    rows[1][6], rows[2][6] = "opened", "closed"
    source = write_csv(tmp_path / "in.csv", rows)
    app, state = flaky_for("closed")
    with serve(app) as api:
        report = tmp_path / "r.csv"
        assert cli("run", source, "--report", report, *api.args(), *FAST).code == 1
        assert [line["status"] for line in read_report(report)] == ["imported", "failed"]
        assert [r[6] for r in read_retry(report)[1:]] == ["closed"]
        state["fail"] = False
        assert cli("run", source, "--report", report, *api.args(), "--resume", *FAST).code == 0
        assert state["stored"]["T-1"] == "closed"


# --- 5. two columns with one header ------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_two_columns_with_one_header_are_refused_naming_them(cli, tmp_path, suffix, excel_reader):
    header = [*HEADER, "Subject"]
    rows = [header, *[[*row, f"second {i}"] for i, row in enumerate(activity_rows(3))]]
    source = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        write_csv(source, rows)
    else:
        book = openpyxl.Workbook()
        for row in rows:
            book.active.append(row)
        book.save(source)
        read_by(source, excel_reader)
    before = source.read_bytes()
    result = cli("validate", source, "--report", tmp_path / "r.csv")
    assert result.code == 2
    assert "'Subject'" in result.err and "G, H" in result.err and "Subject #2" in result.err
    assert source.read_bytes() == before


def test_a_mapping_picks_which_of_two_same_headers_is_sent(cli, sandbox, tmp_path):
    header = [*HEADER, "Subject"]
    rows = [header, *[[*row, f"second {i}"] for i, row in enumerate(activity_rows(2))]]
    source = write_csv(tmp_path / "in.csv", rows)
    mapping = tmp_path / "m.toml"
    mapping.write_text('[additional_information]\nsubject = "Subject #2"\n', encoding="utf-8")
    result = cli("run", source, "--mapping", mapping, "--report", tmp_path / "r.csv",
                 *api_args(sandbox), *FAST)  # fmt: skip
    assert result.code == 0, result.err
    info = sandbox.sandbox.activities["R-000001"]["additional_information_object"]
    assert info == {"subject": "second 1"}


# --- 6. derived references cannot be made to collide ---------------------------------------------


def test_values_built_to_collide_get_different_references(cli, sandbox, tmp_path):
    # under a "key=value" joining, both rows read "a=b=c": one would be skipped as a duplicate
    header = ["Account", "Type", "Source", "Happened At", "a=b", "a"]
    base = ["Acme", "Call", "Phone", "2024-01-02 10:00:00"]
    rows = [header, [*base, "c", ""], [*base, "", "b=c"]]
    source = write_csv(tmp_path / "in.csv", rows)
    result = cli("run", source, "--report", tmp_path / "r.csv", *api_args(sandbox), *FAST)
    assert result.code == 0, result.err
    lines = read_report(tmp_path / "r.csv")
    assert [line["status"] for line in lines] == ["imported", "imported"]
    assert lines[0]["reference"] != lines[1]["reference"]
    assert sandbox.sandbox.stats.created == 2


texts = st.none() | st.text(max_size=6)
rows_strategy = st.fixed_dictionaries(
    {
        "account": st.text(min_size=1, max_size=6),
        "contact": texts,
        "extra_a": texts,
        "extra_b": texts,
    }
)


@given(st.lists(rows_strategy, min_size=2, max_size=6))
def test_derived_references_differ_whenever_the_payloads_differ(rows):
    fields = pd.DataFrame(
        {
            "account": [r["account"] for r in rows],
            "contact": [r["contact"] for r in rows],
            "type": "Call",
            "source": "Phone",
            "happened_at": pd.Series(["2024-01-02 10:00:00"] * len(rows), dtype="datetime64[s]"),
        }
    )
    extras = pd.DataFrame({"a=": [r["extra_a"] for r in rows], "a": [r["extra_b"] for r in rows]})
    references = derive_references(fields, extras)

    def payload(row: dict[str, Any]) -> str:
        info = {k: v for k, v in (("a=", row["extra_a"]), ("a", row["extra_b"])) if v is not None}
        return json.dumps([row["account"], row["contact"], info], sort_keys=True)

    by_payload = {payload(r): ref for r, ref in zip(rows, references, strict=True)}
    assert len(set(by_payload.values())) == len(by_payload)


# --- 9 and 18. formula-safe reports and retry files that round-trip exactly -------------------

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


def test_xlsx_report_refuses_cells_it_cannot_hold_exactly(cli, tmp_path):
    rows = [HEADER, *activity_rows(3)]
    rows[1][6] = "bell\x07inside"
    rows[2][6] = "x" * 40_000
    source = write_csv(tmp_path / "in.csv", rows)
    result = cli("validate", source, "--report", tmp_path / "r.xlsx")
    assert result.code == 1
    book = openpyxl.load_workbook(tmp_path / "r.xlsx", read_only=True)
    lines = list(book.worksheets[0].iter_rows(values_only=True))
    header = lines[0]
    status, errors = header.index("status"), header.index("errors")
    assert [line[status] for line in lines[1:]] == ["invalid", "invalid", "valid"]
    assert "control character (U+0007)" in lines[1][errors] and "Subject" in lines[1][errors]
    assert "40,000 characters" in lines[2][errors]
    # the same file with a CSV report: every value fits, nothing is changed
    assert cli("validate", source, "--report", tmp_path / "r.csv").code == 0
    assert read_report(tmp_path / "r.csv")[0]["Subject"] == "bell\x07inside"


# --- 19. timestamps that only look real ---------------------------------------------------------


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


def test_cr_only_and_sep_line_csv_read_like_any_other(cli, tmp_path):
    rows = [HEADER, *activity_rows(3)]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r").writerows(rows)
    (tmp_path / "mac.csv").write_text(buffer.getvalue(), encoding="utf-8")
    (tmp_path / "sep.csv").write_text("sep=;\r\n" + buffer.getvalue().replace("\r", "\r\n"))
    for name in ("mac.csv", "sep.csv"):
        assert cli("validate", tmp_path / name, "--report", tmp_path / "r.csv").code == 0
        lines = read_report(tmp_path / "r.csv")
        assert [line["source_row"] for line in lines] == ["2", "3", "4"]
        assert lines[0]["Account"] == rows[1][1]


# --- 10. a file that breaks far down is found before the first request -------------------------


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
