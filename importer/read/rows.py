"""What a chunk of rows holds besides text cells: its problem and overflow columns, blank rows.

Every reader yields chunks of the same shape: text cells in columns ``0..n-1`` (the input's
column positions), a ``source_row`` index, and ``PROBLEM``/``OVERFLOW`` only when needed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..excel_text import strip
from .cells import column_letter

#: Column of a CSV chunk holding cells beyond the header's width (present only if any)
OVERFLOW = "overflow"
#: Column of a chunk holding what the reader found wrong with a row ("" for nothing); present
#: only if any row has a problem. ``validate`` turns each into a problem of that row.
PROBLEM = "problem"


def is_blank(chunk: pd.DataFrame) -> pd.Series:
    """Rows whose every cell is blank (they are not activities)."""
    blank = np.ones(len(chunk), dtype=bool)
    for position in range(chunk.shape[1]):
        # most rows are decided by their first cells: look only at the undecided ones
        rows = np.flatnonzero(blank)
        if not len(rows):
            break
        cells = chunk.iloc[:, position].to_numpy(dtype=object)[rows]
        filled = strip(cells) != ""
        blank[rows[filled]] = False
    return pd.Series(blank, index=chunk.index)


def headerless_problem(position: int, value: str | None) -> str:
    """The problem of a row holding ``value`` in a column without a header."""
    column = f"column {position + 1} ({column_letter(position)}) has no header but this row"
    if value is None:
        found = "holds a formula without a saved value there"
    else:
        text = " ".join(value.split())
        found = f"has a value there ('{text[:40]}{'…' if len(text) > 40 else ''}')"
    return f"{column} {found}; give the column a header or clear the cell"
