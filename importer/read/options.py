"""What reading may take: the settings a caller may change (``ReadOptions``) and fixed limits.

The module constants are the settings' defaults; a caller (or a test) that wants others
passes ``open_table(..., options=ReadOptions(...))`` rather than changing the constants.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The largest sheet read with python-calamine: its XML part plus the shared strings,
#: uncompressed. calamine reads ~10x faster than openpyxl but holds the whole sheet (every
#: cell as a 32-byte value, each text cell with its own copy of the text); a larger sheet is
#: streamed by openpyxl in flat memory (~150 MB). Measured (``python benchmarks/excel.py
#: --budget``): peak RSS of the whole ``validate`` = ~100 MB + k x the sheet's bytes, k for
#: 100-240 MB sheets: 1.5 activity rows written by openpyxl (inline strings); 1.8-2.0 the
#: same as Excel saves them (shared strings); 2.1 twelve one-letter texts a row; 2.4 twelve
#: one-digit numbers a row, the shortest cells and the worst case (210 MB sheet: 596 MB).
#: So a sheet within 200 MiB peaks at ~600 MB; any larger one (Excel holds up to
#: 1,048,576 x 16,384 cells) is streamed at ~150 MB.
CALAMINE_MAX_BYTES = 200 << 20
#: calamine lays a sheet out as a grid of every cell between the first and the last one,
#: 32 bytes each (8 million: 256 MB): a sheet whose used cells span more is streamed by
#: openpyxl too (two cells at A1 and XFD1048576 would take 512 TiB)
CALAMINE_MAX_CELLS = 8_000_000
#: a sheet this large (XML and shared strings, ~7,000 activity rows) may be loaded by a child
#: process while this one scans it (``open_table(load_aside=True)``); the child's address
#: space may grow by ASIDE_MEMORY + ASIDE_MEMORY_PER_BYTE x that size (measured peak: ~100 MB
#: + 2.4 x; a grid beyond it, which the scan refuses anyway, makes the child fail at once)
ASIDE_MIN_BYTES = 4 << 20
ASIDE_MEMORY = 1 << 30
ASIDE_MEMORY_PER_BYTE = 8

#: rows at the top of a sheet looked at for the header row (title blocks sit above it)
HEADER_SEARCH_ROWS = 30
#: Excel's own limits: a sheet claiming more is not a workbook Excel wrote
EXCEL_ROWS = 1_048_576
EXCEL_COLUMNS = 16_384
#: bytes read from a file at a time
BLOCK = 1 << 20
# a workbook expanding beyond this is refused before it is opened (zip bomb)
EXPANSION_RATIO = 100
EXPANSION_FLOOR = 64 << 20


@dataclass(frozen=True)
class ReadOptions:
    """How much a sheet may take of memory and where each Excel reader takes over."""

    #: the largest sheet (XML part + shared strings, uncompressed) calamine reads; -1: none
    calamine_max_bytes: int = CALAMINE_MAX_BYTES
    #: the largest grid of cells calamine may lay out
    calamine_max_cells: int = CALAMINE_MAX_CELLS
    #: the smallest sheet a child process loads (with ``load_aside``)
    aside_min_bytes: int = ASIDE_MIN_BYTES
    #: the child's room: ``aside_memory + aside_memory_per_byte`` x the sheet's bytes
    aside_memory: int = ASIDE_MEMORY
    aside_memory_per_byte: int = ASIDE_MEMORY_PER_BYTE

    def aside_limit(self, size: int) -> int:
        """The address space a child loading a sheet of ``size`` bytes may add."""
        return self.aside_memory + self.aside_memory_per_byte * size
