"""The reading wing: CSV and Excel files read as chunks of text cells (see ``table``).

Layered, each module importing only those below it:

    table            the face: open_table, Table, top_rows
    header           which of the top rows holds the headers
    csv_rows         CSV: delimiter, first rows, data rows parsed into chunks
    csv_encoding     CSV: the encoding, decided in one pass over the bytes
    calamine_rows    xlsx: a sheet held in memory (here or by the loading child) into chunks
    loading_child    xlsx: a forked child loading a sheet under a memory limit
    openpyxl_rows    xlsx: any sheet streamed in flat memory into chunks
    sheet_scan       xlsx: one pass over a sheet's XML before calamine may hold it
    excel_batch      xlsx: sheet rows gathered into chunks, the same from both readers
    xlsx_package     xlsx: the zip and the parts naming its sheets, checked
    rows             a chunk's problem and overflow columns, blank rows
    cells            a cell's value as text, Excel's error values
    options          ReadOptions (the settings) and the fixed limits of reading
"""

from .cells import EXCEL_ERRORS, calamine_text, cell_text, column_letter
from .csv_rows import DELIMITERS, SWALLOWED_ROWS
from .header import HeaderFinder
from .options import (
    ASIDE_MEMORY,
    ASIDE_MEMORY_PER_BYTE,
    ASIDE_MIN_BYTES,
    CALAMINE_MAX_BYTES,
    CALAMINE_MAX_CELLS,
    EXCEL_COLUMNS,
    EXCEL_ROWS,
    HEADER_SEARCH_ROWS,
    ReadOptions,
)
from .rows import OVERFLOW, PROBLEM, headerless_problem, is_blank, strip
from .table import CSV_SUFFIXES, DEFAULT_CHUNK_ROWS, EXCEL_SUFFIXES, Table, open_table, top_rows

__all__ = [
    "ASIDE_MEMORY",
    "ASIDE_MEMORY_PER_BYTE",
    "ASIDE_MIN_BYTES",
    "CALAMINE_MAX_BYTES",
    "CALAMINE_MAX_CELLS",
    "CSV_SUFFIXES",
    "DEFAULT_CHUNK_ROWS",
    "DELIMITERS",
    "EXCEL_COLUMNS",
    "EXCEL_ERRORS",
    "EXCEL_ROWS",
    "EXCEL_SUFFIXES",
    "HEADER_SEARCH_ROWS",
    "OVERFLOW",
    "PROBLEM",
    "SWALLOWED_ROWS",
    "HeaderFinder",
    "ReadOptions",
    "Table",
    "calamine_text",
    "cell_text",
    "column_letter",
    "headerless_problem",
    "is_blank",
    "open_table",
    "strip",
    "top_rows",
]
