"""Opening and saving a workbook file: XlsxWriter's options, the ``.partial`` beside the
file renamed onto it when whole, and for a workbook whose big sheets are streamed
(``sheet_xml.RowStream``: ``entry``, ``piece()``, ``discard()``), the splice of their
rows into what XlsxWriter wrote (``streamed_zip``)."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

from . import streamed_zip
from .errors import ReportError
from .files import create_new, partial_path

OPTIONS = {
    "constant_memory": True,  # rows stream to disk: memory flat in the number of rows
    "strings_to_formulas": False,
    "strings_to_numbers": False,
    "strings_to_urls": False,
}


def write_text(sheet: Any, row: int, column: int, text: str, fmt: Any = None) -> None:
    """``text`` into a cell, as text whatever it holds. XlsxWriter writes a text that starts
    with ``<r>`` and ends with ``</r>`` into the file as XML (its own mark of a rich string):
    a header or a file name so shaped could put any cell, a formula too, into the report.
    Such a text is written as three plain pieces of a rich string instead, which Excel
    shows as the one text."""
    if text.startswith("<r>") and text.endswith("</r>"):
        pieces = [text[:1], text[1:2], text[2:]]
        sheet.write_rich_string(row, column, *pieces, *([fmt] if fmt is not None else []))
    else:
        sheet.write_string(row, column, text, fmt)


def open_book(path: Path, streamed: bool = False, *, small: bool = False) -> Any:
    """A workbook that XlsxWriter writes into ``<path>.partial``, created afresh (never
    through a link); ``save_book`` renames it onto ``path`` when whole. A workbook whose big
    sheets are ``streamed`` is written by XlsxWriter into memory without their rows, and
    spliced together with them into the ``.partial`` by ``save_book``. A ``small`` one (a
    few rows: the summary) is put together in memory, with no temporary file for each of
    its parts."""
    import xlsxwriter

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(create_new(partial_path(path)), "wb")  # noqa: SIM115 - see save_book
    except OSError as err:
        raise ReportError(f"cannot write {path}: {err.strerror}; choose another --report") from None
    if not streamed:
        return xlsxwriter.Workbook(handle, OPTIONS | {"in_memory": True} if small else OPTIONS)
    book = xlsxwriter.Workbook(io.BytesIO(), OPTIONS)
    book.cg_import_partial = handle
    return book


def save_book(book: Any, path: Path, streams: tuple[Any, ...] = ()) -> None:
    from xlsxwriter.exceptions import XlsxWriterException

    # the .partial's handle, given to the workbook (or kept beside it) by open_book
    handle = getattr(book, "cg_import_partial", book.filename)
    try:
        try:
            book.close()
            pieces = {stream.entry: stream.piece() for stream in streams}
            if handle is not book.filename:
                book.filename.seek(0)
                parts = {entry: piece for entry, piece in pieces.items() if piece is not None}
                streamed_zip.splice(book.filename, parts, handle)
        finally:
            for stream in streams:
                stream.discard()
            handle.close()
        os.replace(partial_path(path), path)
    except (OSError, XlsxWriterException, streamed_zip.TooLarge) as err:
        with contextlib.suppress(OSError):
            partial_path(path).unlink()  # half a package: of no use to anyone
        reason = getattr(err, "strerror", None) or str(err)
        raise ReportError(f"cannot write {path}: {reason}; choose another --report") from None


def discard_book(book: Any, path: Path, streams: tuple[Any, ...] = ()) -> None:
    """Drop a workbook unsaved. XlsxWriter has no call for it: in constant-memory mode each
    sheet's rows wait in a temporary file of its own, closed and removed here."""
    for stream in streams:
        stream.discard()
    for sheet in book.worksheets():
        handle = getattr(sheet, "row_data_fh", None)
        name = getattr(sheet, "row_data_filename", None)
        with contextlib.suppress(OSError):
            if handle is not None:
                handle.close()
            if name:
                os.unlink(name)
    with contextlib.suppress(OSError):
        getattr(book, "cg_import_partial", book.filename).close()
    with contextlib.suppress(OSError):
        partial_path(path).unlink()
