"""Where a retry file's rows first came from: the original file's row number and name.

A retry file ends with two columns the program adds, ``original_row`` and
``original_file``: the row as the analyst saw it in the file first imported, and that
file's name. Fed back in, those columns are read like any other (the report shows them,
under their headers, beside the row's own ``source_row``) but never sent: a row sent again
is sent exactly as the first time, with the same derived reference. A retry file of a
retry file copies them as they are, so it still points at the very first file; a row
added by hand (no ``original_row``) is traced to the file it was added to.

A file is taken to carry the trace when it has both headers, once each. An export that
has a column of its own headed ``original_row`` or ``original_file`` gets the trace under
``cg-import original_row`` and ``cg-import original_file`` instead, so that its own
column is still sent, under its own name.
"""

from __future__ import annotations

import numpy as np

ORIGINAL_ROW = "original_row"
ORIGINAL_FILE = "original_file"
#: the headers a retry file ends with, in this order
TRACE_HEADERS = (ORIGINAL_ROW, ORIGINAL_FILE)
#: the same, where the export has a column of its own under one of those names
OWN_TRACE_HEADERS = (f"cg-import {ORIGINAL_ROW}", f"cg-import {ORIGINAL_FILE}")


def trace_columns(headers: list[str]) -> tuple[int, int] | None:
    """The positions of the trace's two columns if the input carries them (its own name
    for them first, then the plain one)."""
    for names in (OWN_TRACE_HEADERS, TRACE_HEADERS):
        found = []
        for name in names:
            places = [position for position, header in enumerate(headers) if header == name]
            if len(places) != 1:
                break
            found.append(places[0])
        else:
            return found[0], found[1]
    return None


def retry_headers(headers: list[str]) -> list[str]:
    """A retry file's headers: the input's, and the trace unless the input carries it
    (under its own names where the export has a column called like it)."""
    if trace_columns(headers):
        return headers
    taken = set(headers) & set(TRACE_HEADERS)
    return [*headers, *(OWN_TRACE_HEADERS if taken else TRACE_HEADERS)]


def traced(
    cells: list[np.ndarray], headers: list[str], rows: np.ndarray, file_name: str
) -> list[np.ndarray]:
    """Rows to resend (their cells as columns, in ``headers`` order) with their trace.

    ``rows``: their numbers in this input, named ``file_name``. An input without the trace
    gets it appended; one with it keeps it, a row with a blank ``original_row`` traced to
    this input.
    """
    here = np.array(list(map(str, rows.tolist())), dtype=object)
    name = np.full(len(here), file_name, dtype=object)
    found = trace_columns(headers)
    if found is None:
        return [*cells, here, name]
    row_at, file_at = found
    blank = cells[row_at] == ""
    if not blank.any():
        return cells
    cells = list(cells)
    cells[row_at] = np.where(blank, here, cells[row_at])
    cells[file_at] = np.where(blank, name, cells[file_at])
    return cells
