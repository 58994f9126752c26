"""The sheet scan: one streaming pass over a sheet's XML, learning what calamine cannot tell.

calamine gives an Excel error and a formula without a saved value both as blank, and lays
out every cell between the first and the last (two far-apart cells would take terabytes).
The scan notes those cells and where the cells lie, so that calamine reads only a sheet it
can hold, and says ``regular = False`` for any sheet written otherwise than Excel writes
(openpyxl, which reads any legal XML, reads it then).
"""

from __future__ import annotations

import functools
import re
import zipfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import unescape

from .options import BLOCK, EXPANSION_FLOOR
from .xlsx_package import SheetEntry, part_head, refuse_doctype

#: markup the scan looks for (``%s``: the elements' namespace prefix, mostly none)
_CELL = {
    "open": b"<%sc ",
    "close": b"</%sc>",
    "row_end": b"</%srow>",
}
#: the sheet data's opening, under any prefix (calamine goes by the local name)
SHEET_DATA = re.compile(rb"<(?:([^\s<>/:]*):)?sheetData(?=[\s/>])[^>]*?(/?)>")
_DIMENSION = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?dimension\b[^>]*?\sref=[\"']([^\"']*)[\"']")
_REFERENCE = re.compile(r"\$?([A-Z]{1,3})\$?([0-9]{1,7})")
_ATTRIBUTE = re.compile(rb"([\w:.-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_LETTERS = bytes(range(65, 91))
_DIGITS = b"0123456789"
#: an error value's cell (t="e") holds this: the blocks without it hold no error value
#: (written t='e', with the reference in double quotes, it would be missed: no writer does)
_ERROR_TYPE = b'"e"'
UNSAVED = 0  # the code of a formula without a saved value; errors are 1 + their index


@functools.cache
def _patterns(prefix: bytes) -> dict[str, Any]:
    """The scan's patterns for a sheet whose elements carry ``prefix`` (``b""``, ``b"x:"``)."""
    found: dict[str, Any] = {key: text % prefix for key, text in _CELL.items()}
    found["formula"] = b"<%sf" % prefix
    found["row"] = b"<%srow" % prefix
    p = re.escape(prefix)
    # every cell, with its reference when its whole start tag is written as Excel writes it
    # (r="B12" first, then attributes without another r: calamine takes a cell's last r): a
    # cell whose reference is missing, odd, elsewhere or repeated gives b"" and the sheet
    # goes to openpyxl, which reads any legal XML
    found["cells"] = re.compile(
        rb"<%sc(?: r=\"([A-Z]{1,3}[0-9]{1,7})\"(?: (?!r=)[^\s=/>\"]+=\"[^\"]*\")* ?/?>|[\s/>])" % p
    )
    # a cell under another prefix: calamine takes any element named c, whatever its prefix
    found["foreign_hint"] = None if prefix else re.compile(rb":c[\s/>]")
    found["foreign"] = re.compile(rb"<(?!%sc[\s/>])(?:[^\s<>/:]*:)?c[\s/>]" % p)
    found["formula_tag"] = re.compile(rb"<%sf[\s/>]" % p)
    found["value"] = re.compile(rb"<%sv(?:\s[^>]*)?(?:/>|>(.*?)</%sv>)" % (p, p), re.S)
    found["row_number"] = re.compile(rb"<%srow\b[^>]*?\sr=[\"']([0-9]+)[\"']" % p)
    return found


def column_number(letters: str | bytes) -> int:
    """``"A"`` → 1, ``"XFD"`` → 16384."""
    number = 0
    for char in letters.decode() if isinstance(letters, bytes) else letters:
        number = number * 26 + ord(char) - 64
    return number


def _dimension(ref: bytes) -> tuple[int, int] | None:
    """(rows, columns) a ``<dimension ref="A1:I50001">`` claims, as openpyxl reads it."""
    last = ref.decode(errors="replace").split(":")[-1]
    found = _REFERENCE.fullmatch(last)
    if not found:
        return None
    return int(found.group(2)), column_number(found.group(1))


@dataclass
class SheetScan:
    """What one pass over a sheet's XML learns before calamine holds it in memory."""

    dimension: tuple[int, int] | None = None  # (rows, columns) the sheet claims
    first_row: int = 0  # rows and columns holding cells (1-based; 0: no cell)
    last_row: int = 0  # the last row element or cell (openpyxl reads blank rows up to it)
    first_column: int = 0
    last_column: int = 0
    regular: bool = True  # every cell addressed as Excel writes it: calamine may read it
    # the cells calamine gives as blank: (row, column, code), in sheet order
    special_rows: array = field(default_factory=lambda: array("l"))
    special_columns: array = field(default_factory=lambda: array("l"))
    special_codes: array = field(default_factory=lambda: array("B"))
    error_texts: list[str] = field(default_factory=list)

    @property
    def cells(self) -> int:
        """How many cells calamine lays out: every one between the first and the last."""
        if not self.first_row:
            return 0
        return (self.last_row - self.first_row + 1) * (self.last_column - self.first_column + 1)


def scan_sheet(archive: zipfile.ZipFile, entry: SheetEntry, path: Path) -> SheetScan:
    """One streaming pass over the sheet's XML, a block at a time (memory: a block and the
    special cells, 9 bytes each): every cell's reference (where the cells lie), and the
    cells around a formula or an error value, looked at one by one; a plain export pays one
    regular expression and a few byte searches per block (~0.2 s for 50,000 rows)."""
    scan = SheetScan()
    with archive.open(entry.part) as source:
        head = b""
        while not (opened := SHEET_DATA.search(head)):
            block = source.read(BLOCK)
            if not block or len(head) > EXPANSION_FLOOR:
                scan.regular = False
                return scan
            head += block
        refuse_doctype(path, head[: opened.start()], entry.part)
        if dimension := _DIMENSION.search(head, 0, opened.start()):
            scan.dimension = _dimension(dimension.group(1))
        # everything after the (first) opening is scanned, up to the part's end: an empty
        # <sheetData/>, one in a comment or a '/>' in an attribute may hide where calamine
        # starts, and nothing after </sheetData> holds a cell (so scanning it costs nothing)
        prefix = opened.group(1) + b":" if opened.group(1) else b""
        patterns = _patterns(prefix)
        row_end = patterns["row_end"]
        rows: list[int] = []
        letters: set[bytes] = set()
        carry = head[opened.end() :]
        while True:
            block = source.read(BLOCK)
            text = carry + block if carry else block
            if not block:
                if text and not _scan_block(scan, text, patterns, rows, letters):
                    scan.regular = False
                    return scan
                break
            cut = text.rfind(row_end)
            cut = 0 if cut < 0 else cut + len(row_end)
            if cut and not _scan_block(scan, text[:cut], patterns, rows, letters):
                scan.regular = False
                return scan
            carry = text[cut:]  # a row cut by the block's end, or a row longer than a block
    if rows:
        scan.first_row, scan.last_row = min(rows), max(max(rows), scan.last_row)
        columns = [column_number(found) for found in letters]
        scan.first_column, scan.last_column = min(columns), max(columns)
    return scan


def _scan_block(
    scan: SheetScan, text: bytes, patterns: dict[str, Any], rows: list[int], letters: set[bytes]
) -> bool:
    """Scan whole rows of XML; False when a cell is not addressed as Excel writes it."""
    hint = patterns["foreign_hint"]
    if (hint is None or hint.search(text)) and patterns["foreign"].search(text):
        return False  # a cell under another prefix: calamine reads it, the scan would not
    last_row = text.rfind(patterns["row"])
    if last_row >= 0 and (number := patterns["row_number"].match(text, last_row)):
        scan.last_row = max(scan.last_row, int(number.group(1)))  # even a row without cells
    references = patterns["cells"].findall(text)
    if not references:
        return True
    if b"" in references:
        return False
    joined = b" ".join(references)
    numbers = list(map(int, set(joined.translate(None, _LETTERS).split())))
    rows.append(min(numbers))
    rows.append(max(numbers))
    letters.update(joined.translate(None, _DIGITS).split())
    starts: set[int] = set()
    opener, closer = patterns["open"], patterns["close"]
    if patterns["formula"] in text:
        at = text.find(patterns["formula"])
        while at >= 0:
            starts.add(text.rfind(opener, 0, at))
            after = text.find(closer, at)
            at = text.find(patterns["formula"], after if after > at else at + 1)
    at = text.find(_ERROR_TYPE)
    while at >= 0:
        starts.add(text.rfind(opener, 0, at))
        at = text.find(_ERROR_TYPE, at + 1)
    for start in sorted(starts):
        if start >= 0 and not _special_cell(scan, text, start, patterns):
            return False
    return True


def _special_cell(scan: SheetScan, text: bytes, start: int, patterns: dict[str, Any]) -> bool:
    """Note the cell at ``start`` if it holds an error value or a formula without a saved
    value (as openpyxl's parser tells them apart); False if it is out of order."""
    tag_end = text.find(b">", start)
    if tag_end < 0:
        return False
    tag = text[start : tag_end + 1]
    attributes = {name: a or b for name, a, b in _ATTRIBUTE.findall(tag)}
    if tag.endswith(b"/>"):
        inner = b""
    else:
        close = text.find(patterns["close"], tag_end)
        inner = text[tag_end + 1 : close if close >= 0 else len(text)]
    kind = attributes.get(b"t", b"n")
    value: bytes | None = None
    if kind != b"inlineStr" and (found := patterns["value"].search(inner)):
        value = found.group(1) or None
    if value is None and kind not in (b"str", b"inlineStr"):
        if not patterns["formula_tag"].search(inner):
            return True
        code = UNSAVED
    elif kind == b"e" and value is not None:
        error = unescape(value.decode("utf-8", errors="replace"))
        if error not in scan.error_texts:
            if len(scan.error_texts) >= 250:
                return False  # not Excel's seven error values: let openpyxl read it
            scan.error_texts.append(error)
        code = 1 + scan.error_texts.index(error)
    else:
        return True
    reference = _REFERENCE.fullmatch(attributes.get(b"r", b"").decode(errors="replace"))
    if not reference:
        return False
    row, column = int(reference.group(2)), column_number(reference.group(1))
    if scan.special_rows and (scan.special_rows[-1], scan.special_columns[-1]) >= (row, column):
        return False  # cells out of order: openpyxl reads them as they come
    scan.special_rows.append(row)
    scan.special_columns.append(column)
    scan.special_codes.append(code)
    return True


def refuse_sheet_doctype(path: Path, archive: zipfile.ZipFile, entry: SheetEntry) -> None:
    """Refuse a sheet whose XML declares a DTD before its data (for openpyxl to read)."""
    refuse_doctype(path, part_head(archive, entry.part, SHEET_DATA), entry.part)
