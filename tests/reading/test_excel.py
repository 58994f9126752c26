"""Reading a workbook: row numbers, which sheet, saved formula values, cells beyond the headers."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from importer.read import open_table

from ..helpers import (
    HEADER,
    SAMPLES,
    activity_rows,
    api_args,
    read_by,
    save_book,
    validate_in_process,
    validated,
)


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
    lines = validate_in_process(path, tmp_path, sheet="Activities")
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
    lines = validate_in_process(path, tmp_path)
    assert lines[0]["Subject"] == "ab"


def test_formula_without_saved_value_makes_the_row_invalid(cli, tmp_path, excel_reader):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in activity_rows(3):
        sheet.append(row)
    sheet["B3"] = '=CONCAT("Acme", " Inc")'  # scripts write formulas without results
    sheet.append(["=A2", "=B2", "=C2", "=D2", "=E2", "=F2", "=G2"])  # only formulas: row 5
    path = save_book(book, tmp_path / "script.xlsx")
    read_by(path, excel_reader)
    result, lines = validated(cli, path, tmp_path)
    assert result.code == 1
    assert [line["source_row"] for line in lines] == ["2", "3", "4", "5"]
    assert [line["status"] for line in lines] == ["valid", "invalid", "valid", "invalid"]
    assert lines[1]["errors"].startswith(
        "row: column 'Account' (B3) holds a formula without a saved value: "
        "open and save the file in Excel"
    )
    assert "column 'Reference' (A5) holds a formula" in lines[3]["errors"]


def test_xlsx_values_beyond_or_between_headers_make_the_row_invalid(cli, tmp_path, excel_reader):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([*HEADER[:2], None, *HEADER[2:]])
    for row in activity_rows(4):
        sheet.append([*row[:2], None, *row[2:]])
    sheet["C3"] = "between"
    sheet["J4"] = 42.0  # three columns right of the last header
    sheet["L5"] = "   "  # blank: harmless
    path = save_book(book, tmp_path / "wide.xlsx")
    read_by(path, excel_reader)
    result, lines = validated(cli, path, tmp_path)
    assert result.code == 1
    assert [line["status"] for line in lines] == ["valid", "invalid", "invalid", "valid"]
    assert (
        "column 3 (C) has no header but this row has a value there ('between')"
        in (lines[1]["errors"])
    )
    assert (
        "column 10 (J) has no header but this row has a value there ('42')" in (lines[2]["errors"])
    )
    assert lines[2]["Reference"] == "R-000002"  # the known columns are still shown


def _two_sheets(tmp_path: Path, *, hide_first: bool, active: int) -> Path:
    book = openpyxl.Workbook()
    lookup = book.active
    lookup.title = "Lookup"
    lookup.append(["Code", "Meaning"])
    data = book.create_sheet("Activities")
    data.append(HEADER)
    for row in activity_rows(2):
        data.append(row)
    book.create_sheet("Notes").append(["just notes"])
    if hide_first:
        lookup.sheet_state = "hidden"
    book.active = active
    return save_book(book, tmp_path / "book.xlsx")


def test_the_active_sheet_is_read_without_sheet(cli, tmp_path, excel_reader):
    path = _two_sheets(tmp_path, hide_first=False, active=1)
    read_by(path, excel_reader)
    result, lines = validated(cli, path, tmp_path)
    assert result.code == 0, result.output
    assert len(lines) == 2


def test_a_hidden_active_first_sheet_gives_way_to_the_first_visible(
    cli, tmp_path, excel_reader, excel_options
):
    path = _two_sheets(tmp_path, hide_first=True, active=1)
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    # some writers leave a hidden sheet active; Excel then shows the first visible one
    parts["xl/workbook.xml"] = re.sub(
        rb'activeTab="\d+"', b'activeTab="0"', parts["xl/workbook.xml"]
    )
    with zipfile.ZipFile(path, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
    assert open_table(path, options=excel_options).sheet == "Activities"
    read_by(path, excel_reader)
    result = cli("validate", path, "--sheet", "Lookup", "--report", tmp_path / "r.csv")
    assert result.code == 2 and "required column(s)" in result.err  # by name: any sheet


@pytest.mark.usefixtures("api_env")
def test_leading_zeros_and_excel_numbers_are_sent_as_text(cli, sandbox, tmp_path):
    result = cli(
        "run",
        SAMPLES / "activities.xlsx",
        "--report",
        tmp_path / "r.csv",
        *api_args(sandbox),
        "--rate",
        "0",
    )
    assert result.code == 1
    stored = sandbox.sandbox.activities
    assert stored["000123"]["reference"] == "000123"
    assert stored["5000"]["reference"] == "5000"  # an Excel number cell, not "5000.0"
    # additional information from the columns that are not API fields
    info = stored["000123"]["additional_information_object"]
    assert info == {"Subject": "Dashboard loads slowly", "Agent": "Maria Lopez", "Priority": "High"}
