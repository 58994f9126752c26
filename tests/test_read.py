"""Reading and validating files as an analyst has them: encodings, delimiters, odd rows."""

from __future__ import annotations

import codecs
import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.config import Settings
from importer.pipeline import validate_file

from .helpers import HEADER, activity_rows, read_by, read_report, write_csv


def _validate(source: Path, tmp_path: Path, **options: object) -> list[dict[str, str]]:
    report = tmp_path / f"{source.stem}-report.csv"
    validate_file(Settings(input=source, report=report, **options))  # type: ignore[arg-type]
    return read_report(report)


@pytest.mark.parametrize("chunk_rows", [1, 7, 50, 10_000])
def test_chunk_boundaries_lose_no_row_and_keep_row_numbers(tmp_path, chunk_rows):
    rows = [HEADER, *activity_rows(103)]
    rows[40][1] = ""  # invalid in the middle of a chunk
    rows[50] = [""] * len(HEADER)  # a blank row: not an activity, row numbers still count it
    rows[70][5] = "not a date"
    source = write_csv(tmp_path / "in.csv", rows)
    lines = _validate(source, tmp_path, chunk_rows=chunk_rows)
    numbers = [int(line["source_row"]) for line in lines]
    assert numbers == [n for n in range(2, 105) if n != 51]
    invalid = {int(line["source_row"]) for line in lines if line["status"] == "invalid"}
    assert invalid == {41, 71}
    assert all(line["Reference"] == rows[int(line["source_row"]) - 1][0] for line in lines)


def test_quoted_delimiters_and_newlines_stay_in_their_cell(tmp_path):
    rows = [HEADER, *activity_rows(3)]
    rows[1][6] = "line one\nline two, with comma; and semicolon"
    rows[2][1] = 'Acme "Quoted", Inc'
    source = write_csv(tmp_path / "in.csv", rows)
    lines = _validate(source, tmp_path)
    assert [line["source_row"] for line in lines] == ["2", "3", "4"]
    assert lines[0]["Subject"] == "line one\nline two, with comma; and semicolon"
    assert lines[1]["Account"] == 'Acme "Quoted", Inc'
    assert {line["status"] for line in lines} == {"valid"}


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_delimiter_and_encoding_are_detected(tmp_path, delimiter, encoding):
    rows = [HEADER, *activity_rows(4)]
    rows[1][1] = "Müller Société €"
    source = write_csv(tmp_path / "in.csv", rows, encoding=encoding, delimiter=delimiter)
    if encoding == "utf-8-sig":
        assert source.read_bytes().startswith(codecs.BOM_UTF8)
    lines = _validate(source, tmp_path)
    assert lines[0]["Account"] == "Müller Société €"
    assert lines[0]["Reference"] == "R-000000"  # the BOM is not part of the first header
    assert {line["status"] for line in lines} == {"valid"}


def test_values_are_text_and_trimmed(tmp_path):
    rows = [HEADER, *activity_rows(2)]
    rows[1][0] = "000123"
    rows[1][1] = "  Padded Account  "
    rows[2][0] = "   "  # blank reference → derived
    source = write_csv(tmp_path / "in.csv", rows)
    lines = _validate(source, tmp_path)
    assert lines[0]["reference"] == "000123"
    assert lines[1]["reference"].startswith("auto-")
    assert lines[0]["Account"] == "  Padded Account  "  # the report keeps the original cell


def test_excel_rows_are_numbered_as_the_sheet_shows_them(tmp_path, excel_reader):
    book = openpyxl.Workbook()
    first = book.active
    first.title = "Notes"
    first["A1"] = "not the data"
    sheet = book.create_sheet("Activities")
    sheet.append(HEADER)
    for i, row in enumerate(activity_rows(5)):
        if i == 2:
            sheet.append([])  # a blank row 4
        sheet.append(row)
    sheet["A3"] = 1234.0  # a whole number typed into Excel
    sheet["F5"] = dt.datetime(2024, 5, 6, 7, 8, 9)
    sheet["G6"] = "=1+2"
    sheet["G6"].data_type = "s"  # text that looks like a formula
    path = tmp_path / "book.xlsx"
    book.save(path)
    read_by(path, excel_reader, sheet="Activities")
    lines = _validate(path, tmp_path, sheet="Activities")
    assert [line["source_row"] for line in lines] == ["2", "3", "5", "6", "7"]
    assert lines[1]["Reference"] == "1234" and lines[1]["reference"] == "1234"
    assert lines[2]["Happened At"] == "2024-05-06 07:08:09"
    assert lines[3]["Subject"] == "'=1+2"


def test_excel_cached_formula_values_are_read(tmp_path, excel_reader):
    path = tmp_path / "formula.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(["F-1", "Acme", "", "Call", "Excel", "2024-01-01 10:00:00", '=CONCAT("a","b")'])
    book.save(path)
    # openpyxl stores no cached value; a workbook saved by Excel has one: add it as Excel does
    import re
    import zipfile

    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    xml, found = re.subn(
        r'<c r="G2"[^>]*>.*?</c>', '<c r="G2" t="str"><f>CONCAT("a","b")</f><v>ab</v></c>', xml
    )
    assert found == 1
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
    read_by(path, excel_reader)
    lines = _validate(path, tmp_path)
    assert lines[0]["Subject"] == "ab"


def test_default_mapping_matches_headers_loosely(tmp_path):
    rows = [["REFERENCE", "account", "Type", "source", "happened-at", "Happened.Note", ""]]
    rows.append(["X", "Acme", "Call", "Excel", "2024-01-01", "note", ""])
    # a value under no header is never silently dropped: that row is a problem
    rows.append(["Y", "Acme", "Call", "Excel", "2024-01-01", "note", "no header"])
    source = write_csv(tmp_path / "in.csv", rows)
    lines = _validate(source, tmp_path)
    assert lines[0]["status"] == "valid", lines[0]["errors"]
    assert lines[1]["status"] == "invalid" and "column 7 (G) has no header" in lines[1]["errors"]


def test_every_problem_of_a_row_is_reported(tmp_path):
    rows = [HEADER, ["x" * 129, "", "c@d.example", "t" * 101, "", "06/10/2019", "s"]]
    source = write_csv(tmp_path / "in.csv", rows)
    (line,) = _validate(source, tmp_path)
    assert line["status"] == "invalid"
    assert line["errors"].split(" | ") == [
        "happened_at: '06/10/2019' could be day-first or month-first; set date_format in a "
        'mapping file (date_format = "%d/%m/%Y" or "%m/%d/%Y") or use YYYY-MM-DD',
        "reference: must be at most 128 characters",
        "account: is required",
        "type: must be at most 100 characters",
        "source: is required",
    ]


def test_exact_duplicates_are_skipped_across_chunks(tmp_path):
    rows = [HEADER, *activity_rows(10)]
    for row in rows[1:]:
        row[0] = ""
    rows.append(list(rows[3]))  # same content as row 4, no reference
    source = write_csv(tmp_path / "in.csv", rows)
    lines = _validate(source, tmp_path, chunk_rows=3)
    last = lines[-1]
    assert last["status"] == "skipped" and last["errors"] == "reference: duplicate of row 4"
    assert last["reference"] == lines[2]["reference"]


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


def test_excel_unicode_text_export_utf16_tab_is_read(tmp_path):
    rows = [HEADER, *activity_rows(3)]
    rows[1][1] = "Zoë Ünal 株式会社"
    source = tmp_path / "unicode.txt"
    text = "\r\n".join("\t".join(row) for row in rows) + "\r\n"
    source.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    lines = _validate(source, tmp_path)
    assert [line["status"] for line in lines] == ["valid"] * 3
    assert lines[0]["Account"] == "Zoë Ünal 株式会社"
