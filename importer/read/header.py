"""Header choice: which of the top rows holds the column headers.

Row ``header_row`` if the mapping gives one, else the row its finder picks (a title block
may sit above the header), else the first row (for Excel: the first that holds anything).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .cells import column_letter
from .excel_batch import SheetRow
from .options import HEADER_SEARCH_ROWS

#: picks the header among the top rows (0-based index), None for the first non-blank one
HeaderFinder = Callable[[list[list[str]]], "int | None"]


@dataclass(frozen=True)
class HeaderChoice:
    """How to find the header row: a given number, a finder, or the first row."""

    number: int | None
    finder: HeaderFinder | None

    def pick(self, path: Path, rows: list[list[str]], first: int) -> int:
        """The header's index in ``rows`` (``first`` when nothing says otherwise)."""
        if self.number is not None:
            if self.number > len(rows):
                raise InputError(
                    f"{path.name}: header_row {self.number} is beyond the rows looked at "
                    f"(the first {len(rows)}); check the mapping's header_row"
                )
            return self.number - 1
        if self.finder is not None:
            found = self.finder(rows)
            if found is not None:
                return found
        return first


def excel_header(
    rows: Iterator[SheetRow], path: Path, title: str, choice: HeaderChoice
) -> tuple[list[str], int]:
    """The header row as texts (trailing blank headers dropped) and its number: the row
    ``choice`` picks among the top rows, else the first row holding anything.

    ``rows`` gives an Excel error value (``#REF!``) as blank: it is no header."""
    top: list[list[str]] = []
    unsaved_in: dict[int, list[int]] = {}
    first: int | None = None
    wanted = max(HEADER_SEARCH_ROWS, choice.number or 0)
    for number, cells, unsaved in rows:
        if number > wanted:
            break
        while len(top) < number - 1:  # rows the sheet does not store are blank rows
            top.append([])
        texts = list(cells)
        while texts and not texts[-1].strip():
            texts.pop()
        top.append(texts)
        unsaved_in[number] = unsaved
        if first is None and (texts or unsaved):
            first = number - 1
        if first is not None and choice.number is None and choice.finder is None:
            break
    if first is None and choice.number is None:
        raise InputError(
            f"{path.name}: sheet '{title}' is empty; it needs a header row and rows below it"
        )
    at = choice.pick(path, top, first or 0)
    number = at + 1
    if unsaved_in.get(number):
        raise InputError(
            f"{path.name}: the header cell {column_letter(unsaved_in[number][0] - 1)}{number} "
            "holds a formula without a saved value; open and save the file in Excel"
        )
    header = top[at] if at < len(top) else []
    if not any(h.strip() for h in header):
        raise InputError(
            f"{path.name}: sheet '{title}' row {number} is blank; it must hold the "
            "column headers (check header_row)"
        )
    return header, number
