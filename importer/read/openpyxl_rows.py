"""openpyxl rows: any sheet streamed in flat memory, noting formulas without a saved value.

The reader for sheets beyond calamine's budget and for those the scan finds written
otherwise than Excel writes; its chunks are the same as calamine's.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from .cells import cell_text
from .excel_batch import ExcelBatch, SheetLayout, SheetRow
from .options import EXCEL_COLUMNS, EXCEL_ROWS
from .xlsx_package import (
    SheetEntry,
    beyond_columns,
    beyond_rows,
    refuse_oversized_sheet,
    unreadable,
)


@contextlib.contextmanager
def openpyxl_top(path: Path, entry: SheetEntry) -> Iterator[tuple[Iterator[SheetRow], int | None]]:
    """The sheet's rows from the top (for the header) and its last row (None if it does not
    say), the workbook open meanwhile."""
    workbook = _load_workbook(path)
    try:
        worksheet = _openpyxl_sheet(workbook, path, entry.name)
        refuse_oversized_sheet(path, entry.name, worksheet.max_row, worksheet.max_column)
        estimated = worksheet.max_row if isinstance(worksheet.max_row, int) else None
        with contextlib.closing(_openpyxl_rows(workbook, worksheet, path)) as rows:
            yield rows, estimated
    finally:
        workbook.close()


def _openpyxl_sheet(workbook: Any, path: Path, name: str | None) -> Any:
    try:
        return workbook[name]
    except KeyError as err:
        raise unreadable(path, err) from None


def _load_workbook(path: Path) -> Any:
    from openpyxl.reader.excel import SHARED_STRINGS, ExcelReader

    class Reader(ExcelReader):
        def read_strings(self) -> None:
            # openpyxl drops every "x005F_" of a shared string, so a typed "_x000D_" (stored
            # "_x005F_x000D_") would come out as a carriage return: keep the text as stored
            # and let cell_text decode the escapes once, as it does for inline strings
            found = self.package.find(SHARED_STRINGS)
            if found is not None:
                with self.archive.open(found.PartName[1:]) as source:
                    self.shared_strings = _stored_shared_strings(source)

    try:
        reader = Reader(path, read_only=True, data_only=True)
        reader.read()
        return reader.wb
    except Exception as err:  # a damaged part can fail openpyxl in any way: no traceback
        raise unreadable(path, err) from None


def _stored_shared_strings(source: Any) -> list[str]:
    """The shared strings as stored (``_xHHHH_`` escapes kept), phonetic runs left out."""
    from openpyxl.cell.text import Text
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from openpyxl.xml.functions import iterparse

    item = f"{{{SHEET_MAIN_NS}}}si"
    strings = []
    for _, node in iterparse(source):
        if node.tag == item:
            strings.append(Text.from_tree(node).content)
            node.clear()
    return strings


@functools.cache
def _sheet_parser() -> Any:
    """openpyxl's sheet parser, also noting formula cells without a saved value.

    With ``data_only`` openpyxl gives such a cell as None, like a blank one; a scripted
    workbook (openpyxl, XlsxWriter without values) holds them until Excel saves it. Only
    cells without a value are looked at again, so ordinary sheets pay almost nothing.
    """
    from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

    class SheetParser(WorkSheetParser):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.unsaved: list[int] = []  # columns of the current row

        def parse_cell(self, element: Any) -> dict[str, Any]:
            cell: dict[str, Any] = super().parse_cell(element)
            if (
                cell["value"] is None
                # Excel saves a formula giving "" as t="str" with an empty value
                and cell["data_type"] not in ("str", "inlineStr")
                and element.find(FORMULA_TAG) is not None
            ):
                self.unsaved.append(cell["column"])
            return cell

    return SheetParser


def _sheet_cells(
    workbook: Any, worksheet: Any, path: Path
) -> Iterator[tuple[int, list[dict[str, Any]], list[int]]]:
    """(row number, cells, columns of unsaved formulas) of each row the sheet stores."""
    parser = _sheet_parser()(
        None,
        worksheet._shared_strings,
        data_only=True,
        epoch=workbook.epoch,
        date_formats=workbook._date_formats,
        timedelta_formats=workbook._timedelta_formats,
    )
    title = worksheet.title
    try:
        with workbook._archive.open(worksheet._worksheet_path) as parser.source:
            for number, cells in parser.parse():
                if number > EXCEL_ROWS:
                    raise beyond_rows(path, title, number)
                if cells and max(cell["column"] for cell in cells) > EXCEL_COLUMNS:
                    raise beyond_columns(path, title, number)
                unsaved, parser.unsaved = parser.unsaved, []
                yield number, cells, unsaved
                parser.row_dimensions.clear()  # openpyxl keeps every row's height: not needed
    except (ValueError, KeyError, IndexError, SyntaxError) as err:  # ParseError: SyntaxError
        raise InputError(
            f"{path.name}: sheet '{title}' cannot be read ({err.__class__.__name__}: "
            f"{str(err)[:80]}); open it in Excel and save it again as .xlsx"
        ) from None


def _openpyxl_rows(workbook: Any, worksheet: Any, path: Path) -> Generator[SheetRow]:
    """The rows the sheet stores as texts from column A (error values blank), for the header."""
    for number, cells, unsaved in _sheet_cells(workbook, worksheet, path):
        texts = [""] * max((cell["column"] for cell in cells), default=0)
        for cell in cells:
            if cell["data_type"] != "e":
                texts[cell["column"] - 1] = cell_text(cell["value"])
        yield number, texts, unsaved


def openpyxl_chunks(table: SheetLayout, rows: int) -> Iterator[pd.DataFrame]:
    workbook = _load_workbook(table.path)
    try:
        worksheet = _openpyxl_sheet(workbook, table.path, table.sheet)
        batch = ExcelBatch(table.headers, table.error_columns)
        expected = table.header_row + 1
        for number, cells, unsaved in _sheet_cells(workbook, worksheet, table.path):
            if number <= table.header_row:
                continue
            while expected < number:  # rows the sheet does not store are blank rows
                batch.add_blank(expected)
                expected += 1
                if len(batch) >= rows:
                    yield batch.frame()
            batch.add(number, cells, unsaved)
            expected = number + 1
            if len(batch) >= rows:
                yield batch.frame()
        if len(batch):
            yield batch.frame()
    finally:
        workbook.close()
