"""A text shaped like XlsxWriter's mark of a rich string (``<r>…</r>``) is written as text:
XlsxWriter would put it into the file as XML, and an input header so shaped could add any
cell, a formula too, to the report's workbooks."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl

from ..helpers import HEADER, activity_rows, write_csv

#: closes the cell it is written into and opens one holding a formula
INJECTED = '<r><t>x</t></r></is></c><c r="Z1" t="str"><f>1+1</f><v>2</v></c><c><is><r><t>y</t></r>'


def _formulas(book: Path) -> list[str]:
    with zipfile.ZipFile(book) as archive:
        return [
            name
            for name in archive.namelist()
            if name.endswith(".xml") and b"<f>" in archive.read(name)
        ]


def test_a_header_shaped_like_a_rich_string_is_text_in_every_workbook(cli, tmp_path):
    header = [*HEADER, INJECTED]
    rows = [header, *([*row, "note"] for row in activity_rows(3))]
    rows[2][3] = ""  # an invalid row: the Retry sheet holds it
    source = write_csv(tmp_path / "in.csv", rows)
    for report in (tmp_path / "r.xlsx", tmp_path / "r.csv"):
        result = cli("validate", source, "--report", report)
        assert result.code == 1, result.output
    for book in (tmp_path / "r.xlsx", tmp_path / "r.summary.xlsx"):
        assert book.exists(), book
        assert _formulas(book) == [], book  # charts aside, no formula anywhere
    rows_sheet = openpyxl.load_workbook(tmp_path / "r.xlsx")["Rows"]
    assert INJECTED in [cell.value for cell in rows_sheet[1]]
    assert rows_sheet["Z1"].value is None
    retry = openpyxl.load_workbook(tmp_path / "r.xlsx")["Retry"]
    assert INJECTED in [cell.value for cell in retry[1]]
