"""The rows of a big worksheet as XML text, column by column: what XlsxWriter writes cell by
cell in ``constant_memory`` mode, the same bytes, about ten times faster.

XlsxWriter spends ~20 µs a cell (a call, a tuple, a dict, five regular expressions, a
write); a million report rows are some 13 million cells. Here each column of a block of
rows is checked once, joined, for what needs escaping (at C speed), each cell is one
f-string, and a block of rows is one string, handed to a thread that deflates it
(``RowStream``, ``streamed_zip``); the sheet's other parts (header row, columns, panes,
autofilter, comments) stay XlsxWriter's, and the rows are spliced in where it left a
marker.

Text is escaped exactly as XlsxWriter escapes an inline string (``_x005F`` before a
literal ``_xHHHH_``, control characters as ``_xHHHH_``, ``xml:space="preserve"`` for
leading or trailing white space, ``& < >``), with one deliberate difference: XlsxWriter
writes a text that starts with ``<r>`` and ends with ``</r>`` unescaped, as rich-text
XML, so such an input cell could put any XML, a formula too, into the sheet. Here every
text is text. ``tests/reporting/test_workbook_stream.py`` compares both writers' files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, repeat
from typing import Any

from xlsxwriter.utility import xl_col_to_name

from .excel_text import EXCEL_MAX_CHARS, excel_length
from .streamed_zip import DeflateStream, Piece

#: what XlsxWriter writes as ``_xHHHH_`` (and ``_xHHHH_`` itself becomes ``_x005F_xHHHH_``)
CONTROL_CHARACTERS = "".join(map(chr, [*range(0x00, 0x09), *range(0x0B, 0x20), 0xFFFE, 0xFFFF]))
_LITERAL_ESCAPE = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile("([\x00-\x08\x0b-\x1f])")
#: every character ``str.isspace`` (and so the ``\s`` of a regular expression) takes for
#: white space (tests/reporting/test_workbook_stream.py checks the list)
WHITE_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: a text of at most this many characters fits a cell however Excel counts it (UTF-16 units)
SHORT = EXCEL_MAX_CHARS // 2


def holds_any(text: str, characters: str) -> bool:
    """Whether ``text`` holds any of ``characters`` (one substring search each, at C
    speed: many times faster than a regular expression's character class)."""
    return any(character in text for character in characters)


def _edge_space(joined: str, values: list[str]) -> bool:
    """Whether a text of ``values`` (``joined`` with NUL) starts or ends with white space
    (no text holds NUL: control characters are escaped by then)."""
    if values[0][:1].isspace() or values[-1][-1:].isspace():
        return True
    for space in WHITE_SPACE:
        if space in joined and ("\x00" + space in joined or space + "\x00" in joined):
            return True
    return False


def _cut(text: str) -> str:
    """``text`` cut to Excel's limit in UTF-16 units, no character split (as XlsxWriter)."""
    if len(text) <= SHORT or excel_length(text) <= EXCEL_MAX_CHARS:
        return text
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > EXCEL_MAX_CHARS:
            return text[:index]
    return text


def _control_escaped(text: str) -> str:
    text = _LITERAL_ESCAPE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda found: f"_x{ord(found.group(1)):04X}_", text)
    return text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")


def _escaped(values: list[str], short: bool) -> tuple[list[str], str]:
    """The texts as an inline string holds them (the same list if nothing needs escaping),
    and joined with NUL; ``short``: none has more than 16,383 characters (so none is cut)."""
    if not short and max(map(len, values)) > SHORT:
        values = [_cut(value) for value in values]
    joined = "\x00".join(values)
    if (
        "_x" in joined
        or joined.count("\x00") != len(values) - 1
        or holds_any(joined, CONTROL_CHARACTERS[1:])
    ):
        values = [_control_escaped(value) for value in values]
        joined = "\x00".join(values)
    if "&" in joined or "<" in joined or ">" in joined:  # the whole column at once
        joined = joined.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        values = joined.split("\x00")
    return values, joined


def string_cells(
    column: int,
    numbers: list[str],
    values: list[str],
    styles: str | list[str],
    short: bool = False,
) -> list[str]:
    """Each row's cell of ``values`` (text) in ``column``, ``""`` where the text is empty;
    ``numbers`` are the rows' numbers as Excel counts them (from 1), ``styles`` the cell
    format's index, one for all or one per row; ``short`` as for ``_escaped``."""
    if not values:
        return []
    letter = xl_col_to_name(column)
    values, joined = _escaped(values, short)
    start, end = "<is><t>", "</t></is></c>"
    if _edge_space(joined, values):
        start = "<is><t"
        values = [f' xml:space="preserve">{v}' if v[:1].isspace() or v[-1:].isspace()
                  else f">{v}" if v else "" for v in values]  # fmt: skip
    if isinstance(styles, str):
        head = f'" s="{styles}" t="inlineStr">{start}'
        return [
            f'<c r="{letter}{n}{head}{v}{end}' if v else ""
            for n, v in zip(numbers, values, strict=True)
        ]
    return [
        f'<c r="{letter}{n}" s="{s}" t="inlineStr">{start}{v}{end}' if v else ""
        for n, v, s in zip(numbers, values, styles, strict=True)
    ]


def _number(value: int) -> str:
    """A whole number as XlsxWriter writes it (``.16G``; the same as ``str`` below 10**15)."""
    return str(value) if -(10**15) < value < 10**15 else f"{value:.16G}"


def number_cells(
    column: int, numbers: list[str], values: list[int | None], style: str
) -> list[str]:
    """Each row's whole number in ``column``, ``""`` where None."""
    letter = xl_col_to_name(column)
    head = f'" s="{style}"><v>'
    return [
        f'<c r="{letter}{n}{head}{_number(v)}</v></c>' if v is not None else ""
        for n, v in zip(numbers, values, strict=True)
    ]


def empty_text_cell(column: int, number: str, style: str) -> str:
    """A cell of the empty text, kept for its format (XlsxWriter's ``write_string("")``)."""
    return f'<c r="{xl_col_to_name(column)}{number}" s="{style}" t="inlineStr"><is><t></t></is></c>'


def row_opening(sheet: Any, number: str, height: float | None = None) -> str:
    """A ``<row>`` tag as XlsxWriter opens it, with the height ``set_row`` would give."""
    if height is None:
        return f'<row r="{number}">'
    pixels = int(height * 4.0 / 3.0 + 0.5)
    if pixels == sheet.original_row_height == sheet.default_row_height:
        return f'<row r="{number}">'
    return f'<row r="{number}" ht="{pixels * 0.75:.16g}" customHeight="1">'


#: where a streamed sheet's rows go, in what XlsxWriter writes of the sheet
MARKER = "<!--cg-import: the rows-->"


class RowStream:
    """The rows of one XlsxWriter worksheet (``constant_memory``) written by this module
    from some row on, deflated as they come (``streamed_zip``): XlsxWriter writes the
    rows it holds and a marker, its bookkeeping (dimensions, the row it is on) follows,
    and ``streamed_zip.splice`` puts the rows in place of the marker.

    XlsxWriter numbers a format when it first writes a cell of it, and it writes a row
    when a later row begins (or the workbook closes): so the last row given to ``write``
    is held and written only then (``release``, which XlsxWriter's own flush of the sheet
    now calls first), and a format first used in it gets the same number as before,
    whatever other sheets used in between."""

    def __init__(self, sheet: Any) -> None:
        if not getattr(sheet, "constant_memory", False):
            raise ValueError("rows are streamed only into a constant_memory worksheet")
        self.sheet = sheet
        #: the sheet's part in the package (XlsxWriter numbers worksheets from 1)
        self.entry = f"xl/worksheets/sheet{sheet.index + 1}.xml"
        self._deflate: DeflateStream | None = None
        self._held: Callable[[], None] | None = None
        flush = sheet._write_single_row

        def write_held_then_flush(current_row_num: int = 0) -> None:
            self.release()
            flush(current_row_num)

        sheet._write_single_row = write_held_then_flush

    def begin(self, first: int) -> None:
        """Before rows from ``first`` (0-based) on: XlsxWriter writes the row it holds."""
        self.sheet._write_single_row(first)
        if self._deflate is None:
            self.sheet.row_data_fh.write(MARKER)
            self._deflate = DeflateStream()

    def write(
        self, first: int, columns: list[list[Any]], rows: Callable[[int, list[list[Any]]], None]
    ) -> None:
        """Rows from ``first`` (0-based) on, given as columns, which ``rows(first, columns)``
        writes (``write_rows``); the last of them is held (see the class)."""
        self.release()
        count = len(columns[0])
        if count > 1:
            rows(first, [column[:-1] for column in columns])
        last = [column[-1:] for column in columns]
        self._held = lambda: rows(first + count - 1, last)

    def release(self) -> None:
        """Write the row held, if any."""
        held, self._held = self._held, None
        if held is not None:
            held()

    def write_rows(self, openings: Sequence[str], columns: Sequence[list[str]]) -> None:
        """Append rows: their ``<row>`` tags and one list of cells per column. A row
        without a cell is left out, as XlsxWriter leaves it out."""
        assert self._deflate is not None, "begin() first"
        closings: Iterable[str] = repeat("</row>")
        if not all(columns[0]):
            empty = [not any(cells) for cells in zip(*columns, strict=True)]
            if any(empty):
                openings = ["" if gap else tag for tag, gap in zip(openings, empty, strict=True)]
                closings = ["" if gap else "</row>" for gap in empty]
        cells = chain.from_iterable(zip(openings, *columns, closings, strict=False))
        self._deflate.write("".join(cells))

    def end(self, last: int) -> None:
        """After rows up to ``last`` (0-based): the sheet's dimensions include them (its
        header row spans every column), and XlsxWriter goes on (or closes) on the row
        below, which is empty."""
        self.sheet._check_dimensions(last, 0)
        self.sheet.previous_row = last + 1

    def piece(self) -> tuple[bytes, Piece] | None:
        """The marker and the deflated rows, once the rows are all written (None if none)."""
        return None if self._deflate is None else (MARKER.encode(), self._deflate.finish())

    def discard(self) -> None:
        if self._deflate is not None:
            self._deflate.discard()


def first_uses(uses: Iterable[tuple[int, int, Any]]) -> dict[int, str]:
    """Give formats their index in the order XlsxWriter would meet them, writing cell by
    cell (it numbers them as first used): ``uses`` are (row, column, format) of each
    format's first cell in a block. Returns each used format's index by ``id``."""
    indexes = {}
    for _, _, cell_format in sorted(uses, key=lambda use: use[:2]):
        indexes[id(cell_format)] = str(cell_format._get_xf_index())
    return indexes
