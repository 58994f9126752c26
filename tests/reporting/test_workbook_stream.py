"""The streamed workbook is today's workbook: the rows of the Rows and Retry sheets, written
as XML text (``importer/sheet_xml.py``) and deflated as they come (``streamed_zip.py``),
give the same package as XlsxWriter writing them cell by cell (the writer before, kept
here as the oracle): every part byte for byte, every cell's value, type, format and
comment read back the same by openpyxl, every value the same by python-calamine.

The one difference on purpose: a text that starts with ``<r>`` and ends with ``</r>``,
which XlsxWriter writes unescaped as rich text (so a cell could carry a formula into
Excel), is written as text."""

from __future__ import annotations

import io
import sys
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from importer import sheet_xml, streamed_zip, workbook
from importer.errors import ReportError
from importer.excel_text import EXCEL_MAX_ROWS, excel_problem, shown_in_excel
from importer.outcome import OUTCOME_COLUMNS, split_errors
from importer.problems import ProblemTally
from importer.workbook import (
    OUTCOME_WIDTHS,
    ReportBook,
    RetryBook,
    _lines,
    _number,
    _too_many_rows,
    _widths,
)

# --- the writer before: XlsxWriter, cell by cell (copied from importer/workbook.py) ------


def _old_fits(cells: list[str]) -> bool:
    from importer.excel_text import EXCEL_MAX_CHARS, illegal_characters, longest_in_excel

    longest = longest_in_excel(cells)  # Excel's count (UTF-16 units), as the writer now
    return longest <= EXCEL_MAX_CHARS and illegal_characters().search("".join(cells)) is None


def _old_retry_write(self: Any, columns: list[np.ndarray], errors: np.ndarray) -> None:
    if not len(errors):
        return
    if self.rows + len(errors) >= EXCEL_MAX_ROWS:
        raise _too_many_rows(self.path)
    if not self._sized:
        for position, width in enumerate(_widths(self.headers, columns)):
            self.sheet.set_column(position, position, width)
        self._sized = True
    cells = [column.tolist() for column in columns]
    exact = [_old_fits(column) for column in cells]
    sheet, bad, top = self.sheet, self.formats.bad, self.formats.top
    for offset, text in enumerate(errors.tolist()):
        number = self.rows + offset + 1
        notes: dict[int, list[str]] = {}
        for field, message in split_errors(text):
            notes.setdefault(self._column_of(field), []).append(f"{field}: {message}")
        for position, column in enumerate(cells):
            value = column[offset]
            if not exact[position]:
                problem = excel_problem(value)
                if problem:
                    notes.setdefault(position, []).append(
                        f"this cell {problem}: it is shown changed; fix it before resending"
                    )
                    value = shown_in_excel(value)
            if value or position in notes:
                sheet.write_string(number, position, value, bad if position in notes else top)
        if notes and self.comments < workbook.MAX_COMMENTS:
            for position, lines in notes.items():
                note = "\n".join(lines)
                sheet.write_comment(
                    number,
                    position,
                    note,
                    {"author": "cg-import", "x_scale": 2.4, "y_scale": 1 + len(lines) * 0.4},
                )
                self.comments += 1
    self.rows += len(errors)


def _old_rows_write(self: Any, outcomes: list[np.ndarray], original: list[np.ndarray]) -> None:
    count = len(outcomes[0])
    if self._written + count >= EXCEL_MAX_ROWS:
        raise _too_many_rows(self.path)
    if not self._sized:
        widths = _widths(self._headers[len(OUTCOME_COLUMNS) :], original)
        for offset, width in enumerate(widths):
            position = len(OUTCOME_COLUMNS) + offset
            self._rows.set_column(position, position, width)
        self._sized = True
    rows, statuses, references, ids, answers, attempts, errors = (
        column.tolist() for column in outcomes
    )
    cells = [column.tolist() for column in original]
    for position, column in enumerate(cells):
        if not _old_fits(column):
            cells[position] = [shown_in_excel(cell) for cell in column]
    first = len(OUTCOME_COLUMNS)
    sheet, formats = self._rows, self._formats
    plain, wrap = formats.top, formats.wrap
    errors_width = OUTCOME_WIDTHS[6]
    for offset in range(count):
        number = self._written + offset + 1
        problem = errors[offset]
        if len(problem) > errors_width - 4 and self._heights < workbook.MAX_ROW_HEIGHTS:
            sheet.set_row(number, 15 * min(_lines(problem, errors_width), 8))
            self._heights += 1
        sheet.write_number(number, 0, int(rows[offset]), plain)
        status = statuses[offset]
        sheet.write_string(number, 1, status, formats.status.get(status, plain))
        if references[offset]:
            sheet.write_string(number, 2, references[offset], plain)
        if ids[offset]:
            sheet.write_string(number, 3, ids[offset], plain)
        for position, text in ((4, answers[offset]), (5, attempts[offset])):
            if text:
                value = _number(text)
                if value is None:
                    sheet.write_string(number, position, text, plain)
                else:
                    sheet.write_number(number, position, value, plain)
        if problem:
            sheet.write_string(number, 6, problem, wrap)
        for position, column in enumerate(cells, start=first):
            if column[offset]:
                sheet.write_string(number, position, column[offset], plain)
    self._written += count


class OldRetrySheet(workbook._RetrySheet):
    write = _old_retry_write


class OldReportBook(ReportBook):
    write = _old_rows_write

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._retry.__class__ = OldRetrySheet


class OldRetryBook(RetryBook):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._retry.__class__ = OldRetrySheet


# --- the rows: everything a cell can hold, or nearly --------------------------------------

HEADERS = ["Reference", "Account", "Subject", "status", "Notes"]
NASTY = [
    "=1+1",
    "+49 30",
    "@SUM(A1)",
    "a & b < c > d",
    "\"quoted\" 'single'",
    " leading space",
    "trailing space ",
    "\ttab first",
    "line\nbreak",
    "ends with newline\n",
    "cr\ronly",
    "nbsp\xa0",
    "\u3000ideographic",
    "_x0041_ stays as typed",
    "_X00e9_ and _x12G4_",
    "ctrl \x01 and \x1f",  # shown changed in input cells; escaped in outcome texts
    "not a character \ufffe\uffff",
    "é€ 😀",
    "00042",
    "",
    "x" * 33_000,  # longer than a cell holds: shown changed
    "😀" * 20_000,  # 20,000 characters, 40,000 UTF-16 units: cut, as XlsxWriter cuts
    "long " * 4_000,
    "<b>bold?</b>",
    "<r>not quite rich</r> text",
]
STATUSES = ["valid", "invalid", "imported", "weird-status", "", "failed", "skipped", "unchanged"]
ERRORS = [
    "",
    "happened_at: '06/10/2024' could be day-first or month-first",
    "account: a & b <is> wrong; row: something of the row; Subject: " + "long words " * 30,
    "reference: ' trailing' ",
    "notes: \x02 control in an error",
    "row: _x0042_ literal",
]


def columns_for(start: int, count: int, rng: np.random.Generator) -> tuple[list, list]:
    def pick(values: list[str]) -> np.ndarray:
        return np.array([values[i] for i in rng.integers(0, len(values), count)], dtype=object)

    outcomes = [
        np.array([str(start + i + 2) for i in range(count)], dtype=object),
        pick(STATUSES),
        pick(NASTY[:20]),
        pick(["", "00042", "1234", "=ID"]),
        pick(["", "200", "429", "abc", "0042", "1234567890123456"]),
        pick(["", "1", "3", " 2"]),
        pick(ERRORS),
    ]
    original = [pick(NASTY) for _ in HEADERS]
    return outcomes, original


SUMMARY = {
    "command": "validate",
    "input_file": "/x/in.csv",
    "input_sha256": "abc",
    "started": "2026-01-01T10:00:00+00:00",
    "finished": "2026-01-01T10:00:05+00:00",
    "report": "/x/report.xlsx",
}


def write_report(book_class: type, path: Path, seed: int, chunks: list[int]) -> Path:
    rng = np.random.default_rng(seed)
    retry_headers = [*HEADERS, "__source_row"]
    book = book_class(path, retry_headers, HEADERS, {"reference": 0, "account": 1})
    counts: Counter[str] = Counter()
    tally = ProblemTally()
    start = 0
    for count in chunks:
        outcomes, original = columns_for(start, count, rng)
        book.write(outcomes, original)
        counts.update(outcomes[1].tolist())
        tally.add(np.arange(start, start + count), outcomes[1], outcomes[6])
        again = outcomes[6] != ""
        numbers = np.array([str(n) for n in range(start, start + count)], dtype=object)
        book.write_retry([*(c[again] for c in original), numbers[again]], outcomes[6][again])
        start += count
    book.close(SUMMARY, counts, tally)
    return path


def write_retry_book(book_class: type, path: Path, seed: int, chunks: list[int]) -> Path:
    rng = np.random.default_rng(seed)
    book = book_class(path, HEADERS, {"reference": 0, "notes": 4}, "Their sheet")
    for count in chunks:
        outcomes, original = columns_for(0, count, rng)
        book.write(original, outcomes[6])
    book.close()
    return path


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Limits and blocks small enough that a test's rows cross them."""
    monkeypatch.setattr(workbook, "MAX_COMMENTS", 40)
    monkeypatch.setattr(workbook, "MAX_ROW_HEIGHTS", 25)
    monkeypatch.setattr(workbook, "BLOCK_ROWS", 17)


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as book:
        assert book.testzip() is None
        return {name: book.read(name) for name in book.namelist()}


def same_parts(old: Path, new: Path) -> None:
    before, after = parts(old), parts(new)
    assert list(before) == list(after)
    for name in before:
        if name == "docProps/core.xml":  # the time of writing
            continue
        assert before[name] == after[name], name


def readable(path: Path) -> list[tuple[str, list[list[Any]]]]:
    """Every sheet as openpyxl reads it: per cell value, type, font, fill, alignment,
    number format and comment; and the sheet's panes, filter, widths and heights."""
    book = openpyxl.load_workbook(path)
    sheets = []
    for sheet in book.worksheets:
        cells = [
            [
                (
                    cell.coordinate,
                    cell.value,
                    cell.data_type,
                    cell.font.b,
                    cell.font.color.rgb if cell.font.color else None,
                    cell.fill.fgColor.rgb,
                    cell.alignment.wrap_text,
                    cell.alignment.vertical,
                    cell.number_format,
                    cell.comment.text if cell.comment else None,
                )
                for cell in row
            ]
            for row in sheet.iter_rows()
        ]
        layout = [
            sheet.freeze_panes,
            sheet.auto_filter.ref,
            sheet.dimensions,
            {k: d.width for k, d in sheet.column_dimensions.items()},
            {k: d.height for k, d in sheet.row_dimensions.items() if d.height},
        ]
        sheets.append((sheet.title, [*cells, layout]))
    return sheets


def calamine_values(path: Path) -> dict[str, list[list[Any]]]:
    book = CalamineWorkbook.from_path(str(path))
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


@pytest.mark.usefixtures("small_limits")
@pytest.mark.parametrize("seed", [1, 2])
def test_the_report_is_the_same_package_cell_by_cell(tmp_path: Path, seed: int) -> None:
    chunks = [1, 60, 33, 5]
    old = write_report(OldReportBook, tmp_path / "old.xlsx", seed, chunks)
    new = write_report(ReportBook, tmp_path / "new.xlsx", seed, chunks)
    same_parts(old, new)
    assert readable(old) == readable(new)
    assert calamine_values(old) == calamine_values(new)
    names = parts(new)
    assert any(name.startswith("xl/charts/") for name in names)
    assert b"<row" in names["xl/worksheets/sheet3.xml"]  # the Retry sheet has rows


@pytest.mark.usefixtures("small_limits")
def test_the_retry_workbook_is_the_same_package(tmp_path: Path) -> None:
    old = write_retry_book(OldRetryBook, tmp_path / "old.retry.xlsx", 3, [50, 7])
    new = write_retry_book(RetryBook, tmp_path / "new.retry.xlsx", 3, [50, 7])
    same_parts(old, new)
    assert readable(old) == readable(new)
    assert calamine_values(old) == calamine_values(new)
    assert openpyxl.load_workbook(new).sheetnames == ["Their sheet"]


def test_a_report_without_rows_is_the_same_package(tmp_path: Path) -> None:
    old = write_report(OldReportBook, tmp_path / "old.xlsx", 4, [])
    new = write_report(ReportBook, tmp_path / "new.xlsx", 4, [])
    same_parts(old, new)


def test_a_cell_that_looks_like_rich_text_stays_text(tmp_path: Path) -> None:
    """XlsxWriter writes such a text as XML: here it could have put a formula in B2."""
    sneaky = '<r><t>a</t></r></is></c><c r="Z2"><f>1+1</f><v>2</v></c><c><is><r><t>b</t></r>'
    book = ReportBook(tmp_path / "r.xlsx", ["Subject"], ["Subject"])
    empty = np.array([""], dtype=object)
    outcome = [np.array(["2"], dtype=object), np.array(["valid"], dtype=object), empty]
    book.write([*outcome, empty, empty, empty, empty], [np.array([sneaky], dtype=object)])
    book.close({}, Counter({"valid": 1}), ProblemTally())
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx")["Rows"]
    assert sheet["H2"].value == sneaky and sheet["H2"].data_type == "s"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    values = calamine_values(tmp_path / "r.xlsx")["Rows"]
    assert values[1][7] == sneaky


def test_every_white_space_character_is_listed() -> None:
    spaces = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
    assert spaces == sheet_xml.WHITE_SPACE


def test_illegal_characters_are_openpyxls() -> None:
    from importer.excel_text import ILLEGAL, illegal_characters

    found = "".join(chr(c) for c in range(0x10000) if illegal_characters().search(chr(c)))
    assert found == ILLEGAL


@pytest.mark.parametrize("lengths", [(0, 5), (7, 0), (1, 1), (100_000, 3), (5, 12_345_678)])
def test_crc32_combine_is_zlibs(lengths: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(lengths))
    first, second = (rng.bytes(n) if n < 10**6 else b"\x07" * n for n in lengths)
    combined = streamed_zip.crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second))
    assert combined == zlib.crc32(first + second)


def test_deflate_pieces_end_to_end_are_one_entry() -> None:
    source = io.BytesIO()
    with zipfile.ZipFile(source, "w") as package:
        package.writestr("a.xml", b"<a>before<!--here-->after</a>")
        package.writestr("b.txt", "untouched é")
    stream = streamed_zip.DeflateStream()
    for n in range(1000):
        stream.write(f"<row r='{n}'>é😀</row>")
    piece = stream.finish()
    out = io.BytesIO()
    streamed_zip.splice(source, {"a.xml": (b"<!--here-->", piece)}, out)
    stream.discard()
    with zipfile.ZipFile(out) as package:
        assert package.testzip() is None
        rows = "".join(f"<row r='{n}'>é😀</row>" for n in range(1000))
        assert package.read("a.xml").decode() == f"<a>before{rows}after</a>"
        assert package.read("b.txt").decode() == "untouched é"


def test_rows_without_their_place_are_refused() -> None:
    source = io.BytesIO()
    with zipfile.ZipFile(source, "w") as package:
        package.writestr("a.xml", b"<a/>")
    stream = streamed_zip.DeflateStream()
    stream.write("<row/>")
    with pytest.raises(ValueError, match="no place"):
        streamed_zip.splice(source, {"a.xml": (b"<!--here-->", stream.finish())}, io.BytesIO())
    stream.discard()


def test_a_discarded_report_leaves_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    book = ReportBook(tmp_path / "r.xlsx", HEADERS, HEADERS)
    book.write(*columns_for(0, 30, rng))
    book.discard()
    assert list(tmp_path.iterdir()) == []


def test_a_sheet_too_large_for_a_zip_without_zip64_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As XlsxWriter refuses it (it writes no ZIP64): a ReportError, no file left."""
    monkeypatch.setattr(streamed_zip, "ENTRY_MAX", 5_000)
    book = ReportBook(tmp_path / "r.xlsx", HEADERS, HEADERS)
    book.write(*columns_for(0, 30, np.random.default_rng(6)))
    with pytest.raises(ReportError, match="cannot write"):
        book.close({}, Counter(), ProblemTally())
    assert list(tmp_path.iterdir()) == []
