"""Excel counts a text's length in UTF-16 units: an emoji counts twice. A cell under
32,767 characters but over 32,767 units cannot be held by an .xlsx report: the row says so
(as an ASCII cell too long does), instead of a cell cut without a word."""

from __future__ import annotations

import openpyxl
import pytest

from importer.excel_text import excel_length, excel_problem

from ..helpers import HEADER, activity_rows, write_csv


@pytest.mark.parametrize(
    ("text", "units"),
    [("abc", 3), ("é" * 10, 10), ("😀" * 16_384, 32_768), ("\U0001d518" * 20_000, 40_000)],
)
def test_lengths_are_counted_as_excel_counts_them(text: str, units: int):
    assert excel_length(text) == units
    assert (excel_problem(text) is None) == (units <= 32_767)


def test_a_cell_of_emoji_too_long_for_excel_marks_its_row(cli, tmp_path):
    rows = [[*HEADER, "Notes"], *([*row, "short"] for row in activity_rows(3))]
    rows[2][-1] = "😀" * 16_384  # 16,384 characters, 32,768 UTF-16 units
    source = write_csv(tmp_path / "in.csv", rows)
    report = tmp_path / "r.xlsx"
    result = cli("validate", source, "--report", report)
    assert result.code == 1, result.output
    sheet = openpyxl.load_workbook(report)["Rows"]
    header = [c.value for c in sheet[1]]
    lines = [dict(zip(header, (c.value for c in row), strict=True)) for row in sheet[2:4]]
    assert [line["status"] for line in lines] == ["valid", "invalid", "valid"]
    assert "an Excel cell holds at most 32,767" in lines[1]["errors"]
    assert lines[1]["Notes"].endswith("[cut: 32,768 characters]")
