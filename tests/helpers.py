"""Small helpers for reading what the importer wrote."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable
from pathlib import Path

from importer.read import ReadOptions

#: the options that make ``open_table`` read a workbook with each Excel reader (every test
#: workbook fits calamine's budget of a TiB; a budget of -1 bytes leaves openpyxl); "calamine
#: aside": in a child process wherever the code asks for it (``validate``: every sheet is
#: large enough)
READER_OPTIONS = {
    "calamine": ReadOptions(calamine_max_bytes=1 << 40),
    "calamine aside": ReadOptions(calamine_max_bytes=1 << 40, aside_min_bytes=0),
    "openpyxl": ReadOptions(calamine_max_bytes=-1),
}


def read_report(path: Path) -> list[dict[str, str]]:
    """The report's rows as dicts (first occurrence of a header wins)."""
    header, *rows = read_rows(path)
    result = []
    for row in rows:
        line: dict[str, str] = {}
        for name, value in zip(header, row, strict=True):
            line.setdefault(name, value)
        result.append(line)
    return result


def read_rows(path: Path) -> list[list[str]]:
    """A CSV's rows as lists, header included."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def read_retry(report: Path) -> list[list[str]]:
    """The rows of the retry file beside ``report`` (header first): the workbook
    ``<stem>.retry.xlsx``, or ``<stem>.retry.csv`` written with ``--retry-format csv``."""
    as_csv = report.with_name(f"{report.stem}.retry.csv")
    if as_csv.exists():
        return read_rows(as_csv)
    import openpyxl

    book = openpyxl.load_workbook(report.with_name(f"{report.stem}.retry.xlsx"), read_only=True)
    try:
        return [
            ["" if value is None else str(value) for value in row]
            for row in book.worksheets[0].iter_rows(values_only=True)
        ]
    finally:
        book.close()


def read_by(path: Path, reader: str, **options: object) -> None:
    """Check that ``reader`` (the ``excel_reader`` fixture's choice) reads the workbook."""
    from importer.read import open_table

    table = open_table(path, options=READER_OPTIONS[reader], **options)  # type: ignore[arg-type]
    assert table.reader == reader


def write_csv(
    path: Path, rows: list[list[str]], *, encoding: str = "utf-8", delimiter: str = ","
) -> Path:
    """Write rows (header first) as a CSV file."""
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


HEADER = ["Reference", "Account", "Contact", "Type", "Source", "Happened At", "Subject"]


def activity_rows(count: int, *, prefix: str = "R", start: int = 0) -> list[list[str]]:
    """``count`` distinct valid activity rows (no header)."""
    return [
        [
            f"{prefix}-{i:06d}",
            f"Account {i % 97}",
            f"person{i}@customer{i % 13}.example",
            "Support Ticket",
            "Zendesk",
            f"2024-03-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}",
            f"Subject {i}",
        ]
        for i in range(start, start + count)
    ]


def children_of(pid: int) -> list[int]:
    """The processes ``pid`` started that are still its children (Linux /proc)."""
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


def gone(pid: int) -> bool:
    """The process ended (reaped, or a zombie waiting for its new parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True


def all_gone(pids: Iterable[int], timeout: float = 10.0) -> bool:
    """Whether every one of ``pids`` has ended, waiting up to ``timeout`` seconds."""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return all(gone(pid) for pid in pids)
