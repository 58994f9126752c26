"""What Excel makes of text: formula marks, the characters a cell cannot hold, its limits.

Spreadsheet content is data, never a formula. In CSV, Excel starts a field wherever a cell
starts and, when it splits the line on the other list separator (``;`` in most of Europe,
``,`` elsewhere) or at a line break inside a cell, after each of those too. Wherever such a
field would begin with ``= + - @``, tab or carriage return, a ``'`` is put in front
(``formula_safe``); the reader takes exactly those marks away again (``unmark``), so a
retry file fed back sends the original values byte for byte.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

EXCEL_MAX_ROWS = 1_048_576
#: the longest text an Excel cell holds
EXCEL_MAX_CHARS = 32_767
#: where Excel may start a field (a cell's start, either list separator, a line break, a
#: quote) followed by what would start a formula; ``'`` runs are included so that marking
#: is reversible
_UNSAFE = re.compile(r"(^|[,;\r\n\"])(?='*[=+\-@\t\r])")
_MARKED = re.compile(r"(^|[,;\r\n\"])'(?='*[=+\-@\t\r])")
#: what may follow a field start in a cell that needs marks (``'`` for runs of them), and
#: the field starts, with NUL for a cell's own start in a column joined with NUL
_MARKS = ("=", "+", "-", "@", "\t", "\r", "'")
_STARTS = ("\x00", ",", ";", "\r", "\n", '"')

#: ``str.strip`` over an object array of texts, element by element in C
strip = np.frompyfunc(str.strip, 1, 1)


def formula_safe(text: str) -> str:
    """``text`` with a ``'`` wherever Excel could start a formula field in it."""
    return _UNSAFE.sub(r"\1'", text)


def unmark(text: str) -> str:
    """Undo ``formula_safe`` exactly: ``unmark(formula_safe(t)) == t`` for every text."""
    return _MARKED.sub(r"\1", text)


def may_need_marks(joined: str) -> bool:
    """Whether any cell of a NUL-joined column may need a ``'`` mark (substring searches:
    several times faster than one regular expression over the column)."""
    starts = [start for start in _STARTS if start in joined]
    return any(
        mark in joined and any(start + mark in joined for start in starts) for mark in _MARKS
    )


def excel_length(text: str) -> int:
    """``text``'s length as Excel counts it (UTF-16 units: an emoji or another character
    beyond the Basic Multilingual Plane counts twice; a lone surrogate, once)."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


def longest_in_excel(cells: list[str] | Any) -> int:
    """The longest of ``cells`` as Excel counts (``len`` at C speed where no cell could
    reach the limit even counted twice)."""
    longest = max(map(len, cells), default=0)
    return longest if longest <= EXCEL_MAX_CHARS // 2 else max(map(excel_length, cells))


#: what an .xlsx cell cannot hold (``illegal_characters``, as characters)
ILLEGAL = "".join(map(chr, [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]))


def fit_as_they_are(cells: list[str] | Any, longest: int) -> bool:
    """Whether every one of ``cells`` (the ``longest`` of them as Excel counts) fits an
    .xlsx cell exactly: decided at C speed, one substring search per illegal character
    (many times faster than a regular expression's character class)."""
    if longest > EXCEL_MAX_CHARS:
        return False
    joined = "".join(cells)
    return not any(character in joined for character in ILLEGAL)


def excel_problem(text: str) -> str | None:
    """Why an .xlsx cell cannot hold ``text`` exactly (None if it can)."""
    length = excel_length(text)
    if length > EXCEL_MAX_CHARS:
        return f"is {length:,} characters long; an Excel cell holds at most {EXCEL_MAX_CHARS:,}"
    found = control_character(text)
    if found:
        return f"holds a control character (U+{ord(found):04X}) that Excel cannot store"
    return None


def control_character(text: str) -> str | None:
    """The first character in ``text`` that an .xlsx cell cannot hold, if any."""
    found = illegal_characters().search(text)
    return found.group() if found else None


def illegal_characters() -> re.Pattern[str]:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE


def shown_in_excel(text: str) -> str:
    """A text an .xlsx cell can hold: control characters as their visible symbols (␁), cut
    at Excel's limit. Only rows already marked invalid for it carry such cells."""
    text = illegal_characters().sub(lambda m: chr(0x2400 + ord(m.group())), text)
    if excel_length(text) > EXCEL_MAX_CHARS:
        kept = text[: EXCEL_MAX_CHARS // 2 - 40]  # fits however Excel counts it
        text = kept + f" … [cut: {excel_length(text):,} characters]"
    return text
