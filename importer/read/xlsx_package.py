"""The xlsx package: a zip checked before anything is unpacked, and the parts naming its sheets.

A workbook is refused when it expands beyond reason (a zip bomb), when a part declares a
DTD (entities), or when a sheet claims more than Excel's limits; the small parts listing
the sheets are read here, never a sheet itself.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .options import EXCEL_COLUMNS, EXCEL_ROWS, EXPANSION_FLOOR, EXPANSION_RATIO


def workbook_digest(path: Path) -> str:
    """The workbook's sha256, once it is known to be a zip that does not expand beyond
    reason (else refused, with a hint when it is an .xls or a CSV)."""
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if not zipfile.is_zipfile(path):
        with path.open("rb") as handle:
            head = handle.read(8)
        hint = (
            "it looks like an old-style .xls file; save it as .xlsx"
            if head.startswith(b"\xd0\xcf\x11\xe0")
            else "if it is a CSV, rename it to .csv"
        )
        raise InputError(f"{path.name} is not an Excel workbook; {hint}")
    _refuse_zip_bomb(path)
    return digest


def _refuse_zip_bomb(path: Path) -> None:
    """Refuse a workbook whose parts expand beyond reason, before anything is unpacked.

    zipfile never yields more than a member's declared ``file_size`` (``ZipExtFile`` cuts
    its output there and checks the CRC), so the declared sizes bound what can be read.
    """
    with open_archive(path) as archive:
        members = archive.infolist()
    size = path.stat().st_size
    bound = max(EXPANSION_RATIO * size, EXPANSION_FLOOR)
    total = sum(member.file_size for member in members)
    if members and total > bound:
        biggest = max(members, key=lambda member: member.file_size)
        raise InputError(
            f"{path.name} would expand from {_mib(size)} to {_mib(total)} (its part "
            f"{biggest.filename} alone to {_mib(biggest.file_size)}), more than a workbook "
            f"can hold ({_mib(bound)} at most); it is damaged or hostile: export the sheet "
            "again from the program that made it"
        )


def _mib(size: int) -> str:
    return f"{size / (1 << 20):,.1f} MiB"


def unreadable(path: Path, err: BaseException) -> InputError:
    return InputError(
        f"{path.name} cannot be opened as an Excel workbook ({err.__class__.__name__}); "
        "open it in Excel and save it again as .xlsx"
    )


def open_archive(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise unreadable(path, err) from None


@dataclass(frozen=True)
class SheetEntry:
    """A sheet of the workbook as ``xl/workbook.xml`` and its relationships list it."""

    name: str
    state: str  # "visible", "hidden" or "veryHidden"
    part: str  # its XML part in the archive
    chart: bool  # a chart sheet: no rows


@dataclass(frozen=True)
class Book:
    sheets: list[SheetEntry]  # as openpyxl lists them: those whose part exists, in tab order
    active: int  # the tab Excel opens on (``<workbookView activeTab>``), an index of sheets
    shared_strings: int  # uncompressed bytes of the shared strings part (0 without one)


def read_book(archive: zipfile.ZipFile, path: Path) -> Book:
    """The sheets and active tab, read from the small parts that list them (never a sheet)."""
    names = set(archive.namelist())
    try:
        workbook_part = "xl/workbook.xml"
        for kind, target in _relationships(archive, "", "_rels/.rels", path).values():
            if kind.endswith("/officeDocument"):
                workbook_part = target
                break
        workbook = _xml_part(archive, workbook_part, path)
        folder, name = posixpath.split(workbook_part)
        rels = _relationships(archive, folder, f"{folder}/_rels/{name}.rels", path)
    except (ET.ParseError, KeyError, ValueError, OSError, zipfile.BadZipFile) as err:
        raise unreadable(path, err) from None
    active = 0
    sheets = []
    view = next((e for e in workbook.iter() if _local(e.tag) == "workbookView"), None)
    if view is not None:
        tab = view.get("activeTab", "0").strip()
        active = int(tab) if tab.lstrip("-").isdigit() else 0
    listed = next((e for e in workbook.iter() if _local(e.tag) == "sheets"), None)
    for element in listed if listed is not None else ():
        if _local(element.tag) == "sheet":
            rid = next((v for k, v in element.attrib.items() if k.endswith("}id")), None)
            kind, target = rels.get(rid or "", ("", ""))
            if not target or target not in names:
                continue  # no part: openpyxl skips it too
            sheets.append(
                SheetEntry(
                    element.get("name", ""),
                    element.get("state", "visible"),
                    target,
                    "chartsheet" in kind,
                )
            )
    shared = 0
    for kind, target in rels.values():
        if kind.endswith("/sharedStrings") and target in names:
            shared += archive.getinfo(target).file_size
            refuse_doctype(path, part_head(archive, target, _STRINGS_ROOT), target)
    return Book(sheets, active, shared)


_STRINGS_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?sst\b")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _relationships(
    archive: zipfile.ZipFile, folder: str, part: str, path: Path
) -> dict[str, tuple[str, str]]:
    """A relationships part: id → (type, target part in the archive)."""
    try:
        root = _xml_part(archive, part, path)
    except KeyError:
        return {}
    found = {}
    for rel in root:
        target = rel.get("Target", "")
        if rel.get("TargetMode") == "External" or not target:
            continue
        if target.startswith("/"):
            target = target[1:]
        else:
            target = posixpath.normpath(posixpath.join(folder, target))
        found[rel.get("Id", "")] = (rel.get("Type", ""), target)
    return found


def _xml_part(archive: zipfile.ZipFile, name: str, path: Path) -> ET.Element:
    """A small part parsed, refusing any DTD: a hostile part must not expand entities."""
    with archive.open(name) as source:
        data = source.read(EXPANSION_FLOOR + 1)
    if len(data) > EXPANSION_FLOOR:
        raise ValueError(f"{name} is too large")
    refuse_doctype(path, data, name)
    return ET.fromstring(data)


_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)")


def refuse_doctype(path: Path, data: bytes, part: str) -> None:
    """Refuse XML declaring a DTD (entities): no workbook writer makes one."""
    # in UTF-16 (with or without its mark) the markup is ASCII with NULs between
    if _DTD.search(data.replace(b"\x00", b"") if b"\x00" in data else data):
        raise InputError(
            f"{path.name}: its part {part} declares a DTD, which no workbook holds; it is "
            "damaged or hostile: export the sheet again from the program that made it"
        )


def choose_sheet(book: Book, path: Path, sheet: str | None) -> SheetEntry:
    """The sheet named, else the one Excel opens on (the active one if visible)."""
    worksheets = [entry for entry in book.sheets if not entry.chart]  # charts hold no rows
    if sheet is not None:
        for entry in worksheets:
            if entry.name == sheet:
                return entry
        listed = ", ".join(f"'{entry.name}'" for entry in worksheets)
        raise InputError(f"{path.name} has no sheet '{sheet}'; its sheets are: {listed}")
    try:
        active: SheetEntry | None = book.sheets[book.active]
    except IndexError:
        active = None
    visible = [entry for entry in worksheets if entry.state == "visible"]
    if any(active is entry for entry in visible):
        return active  # type: ignore[return-value]
    if visible or worksheets:
        return (visible or worksheets)[0]
    raise InputError(f"{path.name} holds no worksheet; save the data in a sheet of rows")


def refuse_oversized_sheet(path: Path, title: str, rows: object, columns: object) -> None:
    """Refuse a sheet whose stored size (``<dimension ref>``) lies beyond Excel's limits."""
    if (isinstance(rows, int) and rows > EXCEL_ROWS) or (
        isinstance(columns, int) and columns > EXCEL_COLUMNS
    ):
        raise InputError(
            f"{path.name}: sheet '{title}' claims {rows:,} rows and {columns:,} "
            f"columns, beyond Excel's {EXCEL_ROWS:,} rows and {EXCEL_COLUMNS:,} columns (XFD); "
            "it is damaged or hostile: export the sheet again from the program that made it"
        )


def beyond_rows(path: Path, title: str, number: int) -> InputError:
    return InputError(
        f"{path.name}: sheet '{title}' has a row {number:,}, beyond "
        f"Excel's {EXCEL_ROWS:,} rows; it is damaged or hostile: export the "
        "sheet again from the program that made it"
    )


def beyond_columns(path: Path, title: str, number: int) -> InputError:
    return InputError(
        f"{path.name}: sheet '{title}' row {number:,} has cells beyond "
        f"Excel's {EXCEL_COLUMNS:,} columns (XFD); it is damaged or hostile: "
        "export the sheet again from the program that made it"
    )


def part_head(archive: zipfile.ZipFile, part: str, until: re.Pattern[bytes]) -> bytes:
    """A part's XML up to where ``until`` matches (its prolog, where a DTD would be)."""
    with archive.open(part) as source:
        head = b""
        while not until.search(head):
            block = source.read(1 << 16)
            if not block or len(head) > EXPANSION_FLOOR:
                break
            head += block
    return head
