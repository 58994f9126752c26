"""The two Excel readers give the same chunks: python-calamine (fast, the whole sheet in
memory, for sheets within ``ReadOptions.calamine_max_bytes``; for a large one in ``validate``,
held by a child process: ``loading_child.Aside``) and openpyxl (streaming, beyond it).

The differential tests read one workbook both ways and compare everything downstream sees:
headers, header row, row numbers, texts and row problems. The others pin what the calamine
path has to find out by itself: which reader a sheet gets, error cells and formulas without
a saved value (calamine gives both as blank), far-apart cells, escapes, sheets and dates.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.chart import BarChart

from importer.errors import InputError
from importer.read import PROBLEM, ReadOptions, Table, calamine_rows, open_table, top_rows

from ..helpers import HEADER, READER_OPTIONS, activity_rows, read_report

#: a budget every test workbook fits: calamine reads it unless the scan says otherwise
ANY_SIZE = ReadOptions(calamine_max_bytes=1 << 40)

#: each way a workbook is read: (the options forcing the reader, load_aside)
READERS = {
    reader: (options, reader == "calamine aside") for reader, options in READER_OPTIONS.items()
}


def read_both(
    path: Path, rows: int = 7, **options: Any
) -> dict[str, tuple[Table, list[pd.DataFrame]]]:
    """The table and its chunks as each reader gives them (each reader forced)."""
    found = {}
    for reader, (forced, aside) in READERS.items():
        table = open_table(path, load_aside=aside, options=forced, **options)
        assert table.reader == reader.split()[0]
        found[reader] = (table, list(table.chunks(rows)))
    return found


def assert_same(path: Path, **options: Any) -> pd.DataFrame:
    """Every reader gives the same table and chunks; the rows, as one frame."""
    found = read_both(path, **options)
    slow, slow_chunks = found.pop("openpyxl")
    for fast, fast_chunks in found.values():
        assert fast.headers == slow.headers
        assert (fast.header_row, fast.sheet, fast.kind) == (slow.header_row, slow.sheet, slow.kind)
        if slow.estimated_rows is not None:
            assert fast.estimated_rows == slow.estimated_rows
        assert [len(chunk) for chunk in fast_chunks] == [len(chunk) for chunk in slow_chunks]
        for mine, theirs in zip(fast_chunks, slow_chunks, strict=True):
            pd.testing.assert_frame_equal(
                mine, theirs, check_index_type=True, check_column_type=True
            )
            for chunk in (mine, theirs):  # plain Python texts, as the CSV reader gives them
                assert {type(value) for value in chunk.to_numpy().ravel()} <= {str}
    return pd.concat(slow_chunks) if slow_chunks else pd.DataFrame()


def patch_cells(path: Path, cells: dict[str, str], part: str = "xl/worksheets/sheet1.xml") -> None:
    """Put raw XML for the given cells (``{"G2": '<c r="G2" t="e"><v>#REF!</v></c>'}``),
    as Excel would have saved them, in place of what the writer made."""
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    xml = parts[part].decode()
    for ref, cell in cells.items():
        pattern = rf'<c r="{ref}"(?:[^>]*/>|[^>]*>.*?</c>)'
        xml, found = re.subn(pattern, cell, xml, count=1, flags=re.S)
        assert found == 1, ref
    parts[part] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)


def problems(frame: pd.DataFrame) -> dict[int, str]:
    if PROBLEM not in frame:
        return {}
    return {int(n): text for n, text in frame[PROBLEM].items() if isinstance(text, str) and text}


# --- every kind of cell, read both ways -------------------------------------------------

#: (value written, text read): the value as openpyxl writes it
CELL_KINDS: list[tuple[Any, str]] = [
    ("plain text", "plain text"),
    ("000123", "000123"),
    ("  padded  ", "  padded  "),
    ("é€ 😀 株式会社", "é€ 😀 株式会社"),
    ("line\nbreak", "line\nbreak"),
    ("TRUE", "TRUE"),
    ("=1+2 as text", "=1+2 as text"),
    (1234.0, "1234"),
    (5000, "5000"),
    (-3.0, "-3"),
    (0.1 + 0.2, "0.3"),  # openpyxl writes 15 significant digits, as Excel does
    (42.5, "42.5"),
    (1e16, "1e+16"),
    (123456789012345.0, "123456789012345"),
    (True, "TRUE"),
    (False, "FALSE"),
    (dt.datetime(2024, 5, 6, 7, 8, 9), "2024-05-06 07:08:09"),
    (dt.datetime(2024, 5, 6, 23, 59, 59, 999600), "2024-05-07 00:00:00"),
    (dt.date(2024, 1, 16), "2024-01-16 00:00:00"),
    (dt.datetime(1900, 3, 1), "1900-03-01 00:00:00"),
    (dt.time(10, 0, 0), "10:00:00"),
    (dt.timedelta(hours=30, minutes=5, seconds=3), "1 day, 6:05:03"),
    (None, ""),
]


def kinds_workbook(path: Path) -> Path:
    """One row per kind of cell, in the Subject column of valid activity rows."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Kinds"
    sheet.append(HEADER)
    for row, (value, _) in zip(activity_rows(len(CELL_KINDS)), CELL_KINDS, strict=True):
        row[6] = value
        sheet.append(row)
    sheet["G8"].data_type = "s"  # "=1+2 as text" stays text
    book.save(path)
    return path


def test_every_kind_of_cell_reads_the_same_both_ways(tmp_path):
    path = kinds_workbook(tmp_path / "kinds.xlsx")
    frame = assert_same(path)
    assert frame[6].tolist() == [text for _, text in CELL_KINDS]
    assert frame.index.tolist() == list(range(2, 2 + len(CELL_KINDS)))
    assert problems(frame) == {}


def test_formulas_errors_and_cached_values_read_the_same_both_ways(tmp_path):
    path = kinds_workbook(tmp_path / "formulas.xlsx")
    patch_cells(
        path,
        {
            "G2": '<c r="G2" t="str"><f>CONCAT("a","b")</f><v>ab</v></c>',  # cached value
            "G3": '<c r="G3"><f>1+1</f><v>2</v></c>',
            "G4": '<c r="G4" t="b"><f>TRUE()</f><v>1</v></c>',
            "G5": '<c r="G5" t="str"><f>""</f><v></v></c>',  # a formula giving ""
            "G6": '<c r="G6" t="e"><f>1/0</f><v>#DIV/0!</v></c>',
            "B7": '<c r="B7" t="e"><v>#N/A</v></c>',
            "G8": '<c r="G8"><f>1+1</f></c>',  # no saved value
            "B9": '<c r="B9"><f>A1</f><v/></c>',
            "G10": '<c r="G10" t="inlineStr"><is><t>#REF!</t></is></c>',  # text, no error
            "G11": '<c r="G11" t="e"/>',  # an error cell without its value: blank
        },
    )
    frame = assert_same(path)
    assert frame.loc[2:6, 6].tolist() == ["ab", "2", "TRUE", "", "#DIV/0!"]
    assert frame.loc[7, 1] == "#N/A" and frame.loc[10, 6] == "#REF!"
    found = problems(frame)
    assert set(found) == {6, 7, 8, 9}
    assert found[6].startswith("column 'Subject' (G6): cell holds the Excel error #DIV/0!")
    assert "column 'Account' (B7): cell holds the Excel error #N/A" in found[7]
    assert "column 'Subject' (G8) holds a formula without a saved value" in found[8]
    assert "column 'Account' (B9) holds a formula without a saved value" in found[9]


def test_data_from_b3_keeps_the_sheet_row_numbers_and_column_a(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    for offset, row in enumerate([HEADER, *activity_rows(4)]):
        for column, value in enumerate(row):
            sheet.cell(3 + offset, 2 + column, value)
    sheet.cell(6, 1, "a value under no header")
    path = tmp_path / "b3.xlsx"
    book.save(path)
    frame = assert_same(path)
    table = open_table(path)
    assert table.header_row == 3 and table.headers == ["", *HEADER]
    assert frame.index.tolist() == [4, 5, 6, 7]
    assert frame.loc[4, 1] == "R-000000" and frame.loc[7, 6] == "2024-03-04 03:03:21"
    assert problems(frame) == {
        6: "column 1 (A) has no header but this row has a value there "
        "('a value under no header'); give the column a header or clear the cell"
    }


def test_blank_rows_gaps_and_values_beyond_the_header_read_the_same(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([*HEADER[:3], None, *HEADER[3:]])  # a blank header: D
    for row in activity_rows(6):
        sheet.append([*row[:3], None, *row[3:]])
    sheet["D3"] = "between"
    sheet["K4"] = 42.0
    sheet["M5"] = "   "
    sheet["A12"] = "far below"  # rows 8-11 are stored by no one
    sheet["B14"].number_format = "0.00"  # a formatted, empty cell: a blank row 14 is stored
    sheet.row_dimensions[16].height = 30  # a row with no cell at all: stored too
    path = tmp_path / "gaps.xlsx"
    book.save(path)
    patch_cells(path, {"K4": '<c r="K4" t="e"><v>#REF!</v></c>'})
    frame = assert_same(path, rows=3)
    assert frame.index.tolist() == list(range(2, 17))
    found = problems(frame)
    assert set(found) == {3, 4}
    assert "column 4 (D) has no header but this row has a value there ('between')" in found[3]
    assert "column 11 (K) has no header but this row has a value there ('#REF!')" in found[4]


texts = st.lists(
    st.sampled_from(["a", "Z", "0", " ", "é", "😀", "\n", "\r", "'", "=", "#", "_x000D_"]),
    max_size=8,
).map("".join)
# openpyxl writes a text of only blanks without xml:space="preserve" and calamine then gives
# it as "" (values are trimmed: such a cell is blank either way); Excel marks it: left out
texts = texts.filter(lambda text: not text or text.strip())
cells = st.one_of(
    texts,
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.booleans(),
    # Excel's own range; a time of day a split millisecond before midnight and a serial
    # beyond 9999-12-31 read differently (see read/cells.py): left out
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(9999, 12, 30)),
    st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(9999, 12, 30)),
    st.times().map(lambda moment: moment.replace(microsecond=0)),
    st.none(),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    grid=st.lists(st.lists(cells, min_size=1, max_size=5), min_size=1, max_size=6),
    shared_strings=st.booleans(),
)
def test_any_grid_of_cells_reads_the_same_both_ways(tmp_path_factory, grid, shared_strings):
    path = tmp_path_factory.mktemp("grid") / "grid.xlsx"
    write_grid(path, ["Account", "Type", "Source", "Happened At", "Note"], grid, shared_strings)
    assert_same(path, rows=2)


def write_grid(path: Path, header: list[str], grid: list[list[Any]], shared_strings: bool) -> None:
    """The header and rows of values (None: no cell) as a workbook: with XlsxWriter's shared
    strings as Excel saves, or openpyxl's inline strings."""
    if shared_strings:  # as Excel saves: shared strings, escapes written as _x005F_x…
        book = xlsxwriter.Workbook(
            str(path),
            {"strings_to_numbers": False, "strings_to_urls": False, "strings_to_formulas": False},
        )
        sheet = book.add_worksheet("Data")
        stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        clock = book.add_format({"num_format": "hh:mm:ss"})
        sheet.write_row(0, 0, header)
        for number, row in enumerate(grid, start=1):
            for column, value in enumerate(row):
                if isinstance(value, dt.datetime | dt.date):
                    sheet.write_datetime(number, column, value, stamp)
                elif isinstance(value, dt.time):
                    sheet.write_datetime(number, column, value, clock)
                elif isinstance(value, str):
                    sheet.write_string(number, column, value)
                elif value is not None:
                    sheet.write(number, column, value)
        book.close()
    else:
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(header)
        for row in grid:
            sheet.append([float(v) if type(v) is int else v for v in row])
        book.save(path)


#: what a column holds: the calamine reader converts a column of one kind in one pass
COLUMN_KINDS = {
    "texts": texts,
    "numbers": st.one_of(
        st.floats(allow_nan=False, allow_infinity=False, width=64),
        st.integers(min_value=-(2**53), max_value=2**53),
    ),
    "whole numbers": st.integers(min_value=-(10**17), max_value=10**17).map(float),
    "datetimes": st.datetimes(
        min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(9999, 12, 30)
    ),
    "dates": st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(9999, 12, 30)),
    "booleans": st.booleans(),
    "blank": st.none(),
    "any": cells,
}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kinds=st.lists(st.sampled_from(sorted(COLUMN_KINDS)), min_size=1, max_size=7),
    height=st.integers(min_value=1, max_value=12),
    shared_strings=st.booleans(),
    data=st.data(),
)
def test_columns_of_one_kind_read_the_same_both_ways(
    tmp_path_factory, kinds, height, shared_strings, data
):
    columns = []
    for kind in kinds:  # all of one kind, or with blanks, a text or a date among them
        cell = COLUMN_KINDS[kind]
        stray = data.draw(st.sampled_from([None, st.none(), texts, COLUMN_KINDS["dates"]]))
        if stray is not None:
            cell = st.one_of(cell, stray)
        columns.append(data.draw(st.lists(cell, min_size=height, max_size=height)))
    grid = [list(row) for row in zip(*columns, strict=True)]
    path = tmp_path_factory.mktemp("columns") / "columns.xlsx"
    # a column or two right of the header: their values are problems
    header = ["Account", "Type", "Source", "Happened At", "Note"][: max(1, len(kinds) - 1)]
    write_grid(path, header, grid, shared_strings)
    assert_same(path, rows=5)


def test_long_sheets_read_the_same_both_ways_in_any_chunks(tmp_path):
    # more rows than the calamine reader takes from calamine at once, with error values,
    # formulas without a saved value and values right of the header on either side of its
    # seams, and blank rows stored below the last value
    height = 700
    header = ["Account", "Type", "Amount", "Happened At", "Blank", "Note"]
    grid: list[list[Any]] = []
    for i in range(height):
        when: Any = dt.datetime(2024, 1, 1) + dt.timedelta(minutes=97 * i)
        if i % 50 == 7:
            when = when.date()
        elif i % 50 == 9:
            when = None
        amount = [i * 1.5, float(i), -i, None][i % 4]
        note = [f"note {i}", True, 3.25, dt.date(2024, 2, i % 28 + 1)][i % 4] if i % 3 else None
        grid.append([f"Acme {i % 11}", "Call", amount, when, None, note])
    for i in (254, 255, 256, 600):
        grid[i].append(f"beyond {i}")
    path = tmp_path / "long.xlsx"
    write_grid(path, header, grid, shared_strings=True)
    book = openpyxl.load_workbook(path)
    book.active["B760"].number_format = "0.00"  # a formatted, empty cell: rows to 760
    book.save(path)
    patch_cells(
        path,
        {
            "B256": '<c r="B256" t="e"><v>#N/A</v></c>',
            "D257": '<c r="D257" t="e"><v>#REF!</v></c>',
            "C258": '<c r="C258"><f>1+1</f></c>',
            "A513": '<c r="A513" t="e"><v>#DIV/0!</v></c>',
            "C700": '<c r="C700"><f>A1</f></c>',
        },
    )
    for rows in (300, 256, 1000):
        frame = assert_same(path, rows=rows)
        assert frame.index.tolist() == list(range(2, 761))
    assert set(problems(frame)) == {256, 257, 258, 513, 602, 700}


# --- which reader: the memory budget, far-apart cells, odd XML ---------------------------


def sheet_bytes(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        return sum(
            archive.getinfo(name).file_size
            for name in names
            if name.startswith("xl/worksheets/sheet1") or name == "xl/sharedStrings.xml"
        )


def test_a_sheet_over_the_budget_is_streamed_by_openpyxl(tmp_path):
    book = xlsxwriter.Workbook(str(tmp_path / "in.xlsx"))  # shared strings: they count too
    sheet = book.add_worksheet()
    for number, row in enumerate([HEADER, *activity_rows(50)]):
        sheet.write_row(number, 0, row)
    book.close()
    path = tmp_path / "in.xlsx"
    size = sheet_bytes(path)
    assert open_table(path, options=ReadOptions(calamine_max_bytes=size)).reader == "calamine"
    table = open_table(path, options=ReadOptions(calamine_max_bytes=size - 1))
    assert table.reader == "openpyxl" and sum(len(c) for c in table.chunks()) == 50


def test_the_default_budget_reads_an_ordinary_export_with_calamine(tmp_path):
    book = openpyxl.Workbook()
    for row in [HEADER, *activity_rows(100)]:
        book.active.append(row)
    book.save(tmp_path / "in.xlsx")
    assert open_table(tmp_path / "in.xlsx").reader == "calamine"


def never_calamine(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("calamine must not load this sheet")

    monkeypatch.setattr(calamine_rows, "calamine_load", refuse)


def test_far_apart_cells_never_reach_calamine(tmp_path, monkeypatch, cli):
    # calamine would lay out every cell between A1 and XFD1000: 16 million cells; two
    # cells at A1 and XFD1048576 would be 17 billion (512 TiB)
    book = openpyxl.Workbook()
    for row in [HEADER, *activity_rows(3)]:
        book.active.append(row)
    book.active["XFD1000"] = "far away"
    path = tmp_path / "far.xlsx"
    book.save(path)
    never_calamine(monkeypatch)
    table = open_table(path, options=ANY_SIZE)
    assert table.reader == "openpyxl"
    result = cli("validate", path, "--report", tmp_path / "r.csv")
    assert result.code == 1, result.err
    lines = read_report(tmp_path / "r.csv")
    assert [line["status"] for line in lines] == ["valid"] * 3 + ["invalid"]
    assert "column 16384 (XFD) has no header" in lines[-1]["errors"]


def small_book(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, cells: int | None
) -> tuple[Path, ReadOptions]:
    """Three activities in a workbook whose sheet fits calamine's budget, which calamine must
    not load all the same (``never_calamine``); ``cells``: the grid calamine may lay out. The
    options to open it with."""
    book = openpyxl.Workbook()
    for row in [HEADER, *activity_rows(3)]:
        book.active.append(row)
    path = tmp_path / "hostile.xlsx"
    book.save(path)
    never_calamine(monkeypatch)
    if cells is None:
        return path, ANY_SIZE
    return path, ReadOptions(calamine_max_bytes=1 << 40, calamine_max_cells=cells)


@pytest.mark.parametrize(
    "cell",
    [
        '<c t="inlineStr"><is><t>no reference</t></is></c>',  # position by order
        '<c s="0" r="G3" t="inlineStr"><is><t>reference second</t></is></c>',
        '<c r="g3" t="inlineStr"><is><t>lower case</t></is></c>',
    ],
    ids=["no reference", "reference not first", "lower-case reference"],
)
def test_cells_not_addressed_as_excel_writes_them_go_to_openpyxl(tmp_path, monkeypatch, cell):
    path, options = small_book(tmp_path, monkeypatch, cells=None)
    patch_cells(path, {"G3": cell})
    table = open_table(path, options=options)
    assert table.reader == "openpyxl"
    assert sum(len(chunk) for chunk in table.chunks()) == 3


_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_FAR = '<c r="XFD3" t="inlineStr"><is><t>far away</t></is></c>'


@pytest.mark.parametrize(
    "cells",
    [
        # calamine takes the last r of a cell, however it is spaced
        {"G3": '<c r="G3" t="inlineStr" r="XFD3"><is><t>x</t></is></c>'},
        {"G3": '<c r="G3"\n r = "XFD3" t="inlineStr"><is><t>x</t></is></c>'},
        {"G3": '<c r="G3" s="0"r="XFD3" t="inlineStr"><is><t>x</t></is></c>'},
        # calamine takes a cell by its local name, whatever its prefix
        {"G3": f'<y:c xmlns:y="{_MAIN_NS}" r="XFD3" t="inlineStr"><y:is><y:t>x</y:t></y:is></y:c>'},
        {"G3": '<\u00e9:c r="XFD3" t="inlineStr"><is><t>x</t></is></\u00e9:c>'},
        {"G3": '<:c r="XFD3" t="inlineStr"><is><t>x</t></is></:c>'},
    ],
    ids=[
        "second r",
        "second r spaced",
        "second r unspaced",
        "cell with another prefix",
        "non-ASCII prefix",
        "empty prefix",
    ],
)
def test_a_far_cell_calamine_would_see_is_seen_by_the_scan(tmp_path, monkeypatch, cells):
    # the scan must find every cell calamine lays out, as calamine reads it: one it missed
    # could make calamine lay out terabytes (here a budget of 1,000 cells stands for it)
    path, options = small_book(tmp_path, monkeypatch, cells=1_000)
    patch_cells(path, cells)
    try:
        table = open_table(path, options=options)
    except InputError:
        return  # openpyxl refused the XML: as safe
    assert table.reader == "openpyxl"


def sheet_xml_replaced(path: Path, old: str, new: str) -> None:
    part = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    xml = parts[part].decode()
    assert old in xml
    parts[part] = xml.replace(old, new, 1).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("<sheetData>", f"<!--<sheetData></sheetData>--><sheetData>{_FAR}"),
        ("<sheetData>", f'<sheetData x="/>">{_FAR}'),
        ("<sheetData>", f"<sheetData/><sheetData>{_FAR}"),
        ("</sheetData>", f"</sheetData>{_FAR}"),
        ("<sheetData>", f"<\u00e9:sheetData>{_FAR}</\u00e9:sheetData><sheetData>"),
    ],
    ids=[
        "commented sheetData first",
        "'/>' in an attribute",
        "an empty sheetData first",
        "after",
        "a non-ASCII prefix first",
    ],
)
def test_cells_around_an_odd_sheet_data_are_seen_by_the_scan(tmp_path, monkeypatch, old, new):
    path, options = small_book(tmp_path, monkeypatch, cells=1_000)
    sheet_xml_replaced(path, old, new)
    try:
        table = open_table(path, options=options)
    except InputError:
        return
    assert table.reader == "openpyxl"


@pytest.mark.parametrize("error", ["#SPILL!", "#CALC!", "#FOO!"])
def test_an_error_value_calamine_does_not_know_is_read_by_openpyxl(tmp_path, monkeypatch, error):
    path = kinds_workbook(tmp_path / "new-error.xlsx")
    patch_cells(path, {"G3": f'<c r="G3" t="e"><v>{error}</v></c>'})
    never_calamine(monkeypatch)  # it would refuse the whole sheet
    table = open_table(path, options=ANY_SIZE)
    assert table.reader == "openpyxl"
    frame = pd.concat(table.chunks())
    assert frame.loc[3, 6] == error and f"holds the Excel error {error}" in frame.loc[3, PROBLEM]


def test_a_workbook_calamine_refuses_is_read_by_openpyxl(tmp_path):
    path = kinds_workbook(tmp_path / "refused.xlsx")
    patch_cells(path, {"G3": '<c r="G3" t="s"><v>7</v></c>'})  # no shared strings at all
    table = open_table(
        path, options=ANY_SIZE
    )  # calamine said no: openpyxl reads it, and names the problem
    assert table.reader == "openpyxl"
    with pytest.raises(InputError, match=r"sheet 'Kinds' cannot be read \(IndexError"):
        list(table.chunks())


# --- escapes, sheets, dates, header rows ----------------------------------------------------


@pytest.mark.parametrize("writer", ["xlsxwriter shared", "xlsxwriter inline"])
def test_escapes_are_decoded_exactly_once(tmp_path, writer, excel_options):
    typed = ["a_x000D_b", "cr\ronly", "_x0041_ stays", "x_x005F_", "bell\x07x", "tab\tx"]
    path = tmp_path / "escapes.xlsx"
    book = xlsxwriter.Workbook(str(path), {"constant_memory": writer.endswith("inline")})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["Account", "Type", "Source", "Happened At", "Note"])
    for number, text in enumerate(typed, start=1):
        sheet.write_row(number, 0, ["Acme", "Call", "Excel", "2024-01-01 10:00:00"])
        sheet.write_string(number, 4, text)
    book.close()
    frame = pd.concat(open_table(path, options=excel_options).chunks())
    assert frame[4].tolist() == typed


def chart_and_hidden_workbook(path: Path, *, active: int) -> Path:
    book = openpyxl.Workbook()
    lookup = book.active
    lookup.title = "Lookup"
    lookup.append(["Code"])
    lookup.sheet_state = "veryHidden"
    book.create_chartsheet("Chart", 1).add_chart(BarChart())
    data = book.create_sheet("Activities")
    for row in [HEADER, *activity_rows(2)]:
        data.append(row)
    book.create_sheet("Hidden").sheet_state = "hidden"
    book.save(path)
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts["xl/workbook.xml"] = re.sub(
        rb'activeTab="\d+"', b'activeTab="%d"' % active, parts["xl/workbook.xml"]
    )
    with zipfile.ZipFile(path, "w") as target:
        for name, data_ in parts.items():
            target.writestr(name, data_)
    return path


@pytest.mark.parametrize("active", [0, 1, 3, 9], ids=["very hidden", "chart", "hidden", "none"])
def test_chart_and_hidden_sheets_give_way_to_the_first_visible_worksheet(tmp_path, active):
    path = chart_and_hidden_workbook(tmp_path / "book.xlsx", active=active)
    both = read_both(path)
    assert {table.sheet for table, _ in both.values()} == {"Activities"}


def test_sheet_names_only_worksheets_and_reads_hidden_ones_by_name(tmp_path, excel_options):
    path = chart_and_hidden_workbook(tmp_path / "book.xlsx", active=2)
    with pytest.raises(InputError) as refused:
        open_table(path, options=excel_options, sheet="Chart")
    assert str(refused.value) == (
        "book.xlsx has no sheet 'Chart'; its sheets are: 'Lookup', 'Activities', 'Hidden'"
    )
    assert open_table(path, options=excel_options, sheet="Lookup").headers == ["Code"]


def test_1904_dates_read_the_same_both_ways(tmp_path):
    path = tmp_path / "mac.xlsx"
    book = xlsxwriter.Workbook(str(path), {"date_1904": True})
    sheet = book.add_worksheet()
    stamp = book.add_format({"num_format": "dd/mm/yyyy hh:mm"})
    sheet.write_row(0, 0, ["Account", "Type", "Source", "Happened At"])
    for number, when in enumerate([dt.datetime(2024, 7, 1, 9, 30), dt.datetime(1904, 1, 2)], 1):
        sheet.write_row(number, 0, ["Acme", "Call", "Excel"])
        sheet.write_datetime(number, 3, when, stamp)
    book.close()
    frame = assert_same(path)
    assert frame[3].tolist() == ["2024-07-01 09:30:00", "1904-01-02 00:00:00"]


def test_title_blocks_and_header_rows_are_found_the_same_both_ways(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["A1"] = "Q1 activities"
    sheet["A2"] = "exported 2024-04-01"
    for offset, row in enumerate([HEADER, *activity_rows(3)]):
        for column, value in enumerate(row):
            sheet.cell(5 + offset, 1 + column, value)
    path = tmp_path / "titled.xlsx"
    book.save(path)

    def finder(rows: list[list[str]]) -> int | None:
        return next((i for i, row in enumerate(rows) if "Account" in row), None)

    for options in ({"find_header": finder}, {"header_row": 5}):
        frame = assert_same(path, **options)
        assert frame.index.tolist() == [6, 7, 8]
    tops = {}
    for reader, (forced, aside) in READERS.items():
        tops[reader] = top_rows(path, options=forced)
        with pytest.raises(InputError, match=r"header_row 40 is beyond"):
            open_table(path, header_row=40, load_aside=aside, options=forced)
    assert tops["calamine"] == tops["openpyxl"]
    assert tops["openpyxl"][:5] == [["Q1 activities"], ["exported 2024-04-01"], [], [], HEADER]


@pytest.mark.parametrize(
    "part", ["xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet1.xml"]
)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_workbook_part_declaring_entities_is_refused(tmp_path, part, encoding, excel_options):
    book = openpyxl.Workbook()
    for row in [HEADER, *activity_rows(1)]:
        book.active.append(row)
    path = tmp_path / "dtd.xlsx"
    book.save(path)
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
    xml = parts[part].decode()
    if xml.startswith("<?xml"):
        declaration, rest = xml.split("?>", 1)
        xml = declaration + "?>" + bomb + rest
    else:
        xml = bomb + xml
    parts[part] = xml.encode(encoding)
    with zipfile.ZipFile(path, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
    with pytest.raises(InputError, match=rf"its part {re.escape(part)} declares a DTD"):
        open_table(path, options=excel_options)


def test_shared_strings_declaring_entities_are_refused(tmp_path, excel_options):
    path = tmp_path / "dtd.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet().write_row(0, 0, ["Account", "Type"])
    book.close()
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts["xl/sharedStrings.xml"] = parts["xl/sharedStrings.xml"].replace(
        b"?>", b'?><!-- a comment first --><!DOCTYPE sst [<!ENTITY a "a">]>', 1
    )
    with zipfile.ZipFile(path, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
    with pytest.raises(InputError, match=r"its part xl/sharedStrings.xml declares a DTD"):
        open_table(path, options=excel_options)


def test_a_header_formula_without_a_saved_value_is_refused(tmp_path, excel_options):
    path = kinds_workbook(tmp_path / "header.xlsx")
    patch_cells(path, {"B1": '<c r="B1"><f>"Acc"&amp;"ount"</f></c>'})
    with pytest.raises(InputError) as refused:
        open_table(path, options=excel_options)
    assert str(refused.value) == (
        "header.xlsx: the header cell B1 holds a formula without a saved value; open and "
        "save the file in Excel"
    )


@pytest.mark.parametrize("name", ["Q1 & Q2", "Données 'clients'", "<Ünïcode> 株式"])
def test_sheet_names_with_markup_and_accents_read_the_same_both_ways(tmp_path, name):
    book = openpyxl.Workbook()
    book.active.title = "First"
    sheet = book.create_sheet(name)
    for row in [HEADER, *activity_rows(2)]:
        sheet.append(row)
    path = tmp_path / "names.xlsx"
    book.save(path)
    assert_same(path, sheet=name)


def test_the_samples_read_the_same_both_ways():
    from ..helpers import SAMPLES

    for name in ("activities.xlsx", "activities_titled.xlsx"):
        assert_same(SAMPLES / name)
