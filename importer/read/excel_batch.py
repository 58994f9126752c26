"""Sheet rows gathered into chunks, the same from both Excel readers.

Texts go in the header's columns; what is wrong with a row (an Excel error value in a
column that is sent, a formula without a saved value, a value under no header) goes in its
``PROBLEM``, one line per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .cells import cell_text, column_letter, one_object_per_text, texts_of
from .rows import PROBLEM, headerless_problem, strip

SheetRow = tuple[int, list[str], list[int]]
#: a block's special cells: {position in the block: (columns of unsaved formulas, (column,
#: error value))}
Specials = dict[int, tuple[list[int], list[tuple[int, str]]]]


@dataclass(frozen=True)
class SheetLayout:
    """Which sheet holds the rows, the header above them, and where error values count."""

    path: Path
    sheet: str | None
    headers: list[str]
    header_row: int
    #: columns where an Excel error value (``#REF!``) makes the row invalid; None: all
    error_columns: frozenset[int] | None


class ExcelBatch:
    """Sheet rows gathered into a chunk: texts in the header's columns, problems beside."""

    def __init__(self, headers: list[str], error_columns: frozenset[int] | None = None) -> None:
        self.headers = headers
        self.width = len(headers)
        # 1-based columns where an error value makes the row invalid
        self.error_columns = frozenset(
            position + 1
            for position, header in enumerate(headers)
            if header and (error_columns is None or position in error_columns)
        )
        self.headerless = [p for p, header in enumerate(headers) if not header]
        self._clear()

    def _clear(self) -> None:
        self.texts: list[list[str]] = []
        self.numbers: list[int] = []
        self.problems: dict[int, str] = {}  # position in the batch → problem

    def __len__(self) -> int:
        return len(self.numbers)

    def add_blank(self, number: int) -> None:
        self.texts.append([""] * self.width)
        self.numbers.append(number)

    def add(self, number: int, cells: list[dict[str, Any]], unsaved: list[int]) -> None:
        """A row as openpyxl's parser gives it (only the cells the sheet stores)."""
        width = self.width
        texts = [""] * width
        beyond: tuple[int, str] | None = None  # first value right of the last header
        errors: list[tuple[int, str]] = []  # (column, error value) in used columns
        for cell in cells:
            value = cell["value"]
            if value is None:
                continue
            column = cell["column"]
            if column <= width:
                texts[column - 1] = cell_text(value)
                if cell["data_type"] == "e" and column in self.error_columns:
                    errors.append((column, str(value)))
            elif beyond is None and (text := cell_text(value)).strip():
                beyond = (column - 1, text)
        if (
            unsaved
            or beyond
            or errors
            or (self.headerless and any(texts[p].strip() for p in self.headerless))
        ):
            self.problems[len(self.numbers)] = self._problem(number, texts, beyond, unsaved, errors)
        self.texts.append(texts)
        self.numbers.append(number)

    def _problem(
        self,
        number: int,
        texts: list[str],
        beyond: tuple[int, str] | None,
        unsaved: list[int],
        errors: list[tuple[int, str]],
    ) -> str:
        problems = [
            f"column '{self.headers[column - 1]}' ({column_letter(column - 1)}{number}): cell "
            f"holds the Excel error {value}; fix the formula in Excel or clear the cell"
            for column, value in errors
        ]
        for column in unsaved:
            position = column - 1
            if position < self.width and self.headers[position]:
                problems.append(
                    f"column '{self.headers[position]}' ({column_letter(position)}{number}) "
                    "holds a formula without a saved value: open and save the file in Excel"
                )
            else:
                problems.append(headerless_problem(position, None))
        problems.extend(
            headerless_problem(p, texts[p]) for p in self.headerless if texts[p].strip()
        )
        if beyond:
            problems.append(headerless_problem(*beyond))
        return "; ".join(dict.fromkeys(problems))

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.texts, columns=range(self.width), dtype=object)
        frame.index = pd.Index(self.numbers, name="source_row")
        if self.problems:
            problem = np.full(len(frame), "", dtype=object)
            for position, text in self.problems.items():
                problem[position] = text
            frame[PROBLEM] = problem
        self._clear()
        return frame


class CalamineBatch(ExcelBatch):
    """Rows as calamine gives them, a column at a time, turned into texts a column at a time
    (most cells are text already: only the others are converted)."""

    def __init__(
        self,
        headers: list[str],
        error_columns: frozenset[int] | None,
        first_column: int,
        *,
        shared: bool = False,
    ) -> None:
        super().__init__(headers, error_columns)
        self.first_column = first_column
        self.shared = shared

    def block(
        self, first: int, count: int, values: list[list[Any]], specials: Specials
    ) -> pd.DataFrame:
        """Rows ``first`` to ``first + count - 1``: ``values`` the columns calamine gives."""
        width = self.width
        # one block of texts, a row per column: the frame's own layout, so it is not copied
        grid = np.empty((width, count), dtype=object)
        covered = [False] * width
        beyond: dict[int, tuple[int, str]] = {}
        for position, column in enumerate(values, start=self.first_column):
            texts = texts_of(column)
            if position < width:
                grid[position] = one_object_per_text(texts) if self.shared else texts
                covered[position] = True
                continue
            texts = np.asarray(texts, dtype=object)  # right of the headers
            for hit in map(int, np.flatnonzero(strip(texts) != "")):
                if hit not in beyond:
                    beyond[hit] = (position, texts[hit])
        for position in range(width):
            if not covered[position]:
                grid[position] = ""
        flagged = np.zeros(count, dtype=bool)
        for position in self.headerless:
            flagged |= strip(grid[position]) != ""
        flagged[list(specials)] = True
        flagged[list(beyond)] = True
        problems: dict[int, str] = {}
        for row in map(int, np.flatnonzero(flagged)):
            unsaved, errors = specials.get(row, ([], []))
            errors = [(column, value) for column, value in errors if column in self.error_columns]
            cells = grid[:, row].tolist()
            found = self._problem(first + row, cells, beyond.get(row), unsaved, errors)
            if found:  # "": only an error value in a column that is not sent
                problems[row] = found
        chunk = pd.DataFrame(grid.T, columns=range(width), dtype=object, copy=False)
        chunk.index = pd.Index(np.arange(first, first + count, dtype=np.int64), name="source_row")
        if problems:
            problem = np.full(count, "", dtype=object)
            for row, text in problems.items():
                problem[row] = text
            chunk[PROBLEM] = problem
        return chunk
