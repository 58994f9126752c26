"""Hostile and odd input files: refused at once with one clear line, or read right.

Pipes and devices, files mixing encodings, old-Mac line ends, Excel's ``sep=`` line, data
under no header, hidden sheets, formulas without a saved value, zip bombs and CSVs that
break far down: each either becomes a row problem in the report or exit 2, never a hang,
a silent loss or mojibake sent to the API.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from importer.errors import InputError
from importer.read import open_table

from .helpers import (
    HEADER,
    activity_rows,
    api_args,
    read_by,
    read_report,
    run_subprocess,
    write_csv,
)


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def _csv_text(rows: list[list[str]], sep: str = ",", eol: str = "\n") -> str:
    return "".join(sep.join(row) + eol for row in rows)


def _validate(cli, source: Path, tmp_path: Path, *extra: str | Path):
    report = tmp_path / "out" / "report.csv"
    result = cli("validate", source, "--report", report, *extra)
    return result, (read_report(report) if result.code in (0, 1) else [])


# --- 1. pipes, devices, folders ----------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_fifo_is_refused_at_once_not_read_forever(tmp_path):
    fifo = tmp_path / "drop.csv"
    os.mkfifo(fifo)
    result = run_subprocess("validate", fifo, "--report", tmp_path / "r.csv", timeout=30)
    assert result.code == 2, result.output
    assert "not a regular file" in _one_line(result.err)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_device_is_refused(cli, tmp_path, device):
    result = cli("validate", device, "--report", tmp_path / "r.csv")
    assert result.code == 2
    assert "not a regular file" in _one_line(result.err)


def test_a_folder_named_like_a_csv_is_refused(cli, tmp_path):
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    result = cli("validate", folder, "--report", tmp_path / "r.csv")
    assert result.code == 2 and "is a folder" in _one_line(result.err)


# --- 2. encodings --------------------------------------------------------------------------


def _mixed_rows() -> list[list[str]]:
    rows = [HEADER, *activity_rows(6)]
    rows[1][1] = "Müller GmbH"
    return rows


def test_utf8_with_a_stray_cp1252_line_is_refused_naming_that_line(cli, tmp_path):
    rows = _mixed_rows()
    data = _csv_text(rows[:4]).encode("utf-8")
    data += _csv_text([[*rows[4][:1], "Café Crème", *rows[4][2:]]]).encode("cp1252")
    data += _csv_text(rows[5:]).encode("utf-8")
    source = tmp_path / "mixed.csv"
    source.write_bytes(data)
    result, _ = _validate(cli, source, tmp_path)
    assert result.code == 2, result.output
    line = _one_line(result.err)
    assert "line 5 " in line and "mixes UTF-8 with another encoding" in line
    assert "encoding in a mapping file" in line


def test_mixed_file_is_read_as_told_when_the_mapping_sets_the_encoding(cli, tmp_path):
    rows = _mixed_rows()
    data = _csv_text(rows[:4]).encode("utf-8") + _csv_text(rows[4:]).encode("cp1252")
    data = data.replace(b"Subject 3", "Sujet été".encode("cp1252"))
    source = tmp_path / "mixed.csv"
    source.write_bytes(data)
    mapping = tmp_path / "m.toml"
    mapping.write_text('encoding = "cp1252"\n')
    result, lines = _validate(cli, source, tmp_path, "--mapping", mapping)
    assert result.code == 0, result.output
    assert lines[0]["Account"] == "MÃ¼ller GmbH"  # as told: the analyst chose cp1252
    assert lines[3]["Subject"] == "Sujet été"


def test_utf8_text_in_an_early_block_and_a_stray_byte_after_a_megabyte(cli, tmp_path):
    rows = [HEADER, *activity_rows(12_000)]
    rows[1][1] = "Zoë Ünal"
    text = _csv_text(rows)
    assert len(text) > 1 << 20
    lines = text.splitlines(keepends=True)
    lines[11_000] = lines[11_000].replace("Subject", "Sujet\xe9")  # line 11,001
    source = tmp_path / "big.csv"
    source.write_bytes(
        b"".join(line.encode("cp1252" if i == 11_000 else "utf-8") for i, line in enumerate(lines))
    )
    result, _ = _validate(cli, source, tmp_path)
    assert result.code == 2
    assert "line 11,001 " in _one_line(result.err)


def test_a_byte_cp1252_lacks_is_refused_naming_its_line(cli, tmp_path):
    rows = [HEADER, *activity_rows(4)]
    rows[1][1] = "Société"
    data = _csv_text(rows).encode("cp1252").replace(b"Subject 2", b"Subject \x81")
    source = tmp_path / "odd.csv"
    source.write_bytes(data)
    result, _ = _validate(cli, source, tmp_path)
    assert result.code == 2
    line = _one_line(result.err)
    assert "line 4 " in line and "0x81" in line and "cp1252" in line


def test_cp1252_with_capitals_before_curly_quotes_still_reads(cli, tmp_path):
    # É” and ß“ are valid UTF-8 byte pairs by accident: not proof of UTF-8 text
    rows = [HEADER, *activity_rows(3)]
    rows[1][1] = "“CAFÉ” Société"
    rows[2][1] = "„Hauptstraße“ Müller"
    source = write_csv(tmp_path / "in.csv", rows, encoding="cp1252")
    result, lines = _validate(cli, source, tmp_path)
    assert result.code == 0, result.output
    assert [line["Account"] for line in lines[:2]] == [rows[1][1], rows[2][1]]


def test_cp1252_with_an_accent_at_a_block_boundary_still_reads(cli, tmp_path):
    rows = [HEADER, *activity_rows(10_000)]
    head = _csv_text(rows).encode("ascii")
    cut = head.rindex(b"\n", 0, (1 << 20) - 20) + 1
    # the accent ends the first megabyte: the UTF-8 decoder only sees it on the next block
    filler = b"x" * ((1 << 20) - 1 - cut - len(b"R-X,"))
    accent_row = b"R-X," + filler + b"\xe9,c@d.example,Call,Excel,2024-01-01,s\n"
    source = tmp_path / "edge.csv"
    source.write_bytes(head[:cut] + accent_row + head[cut:])
    assert source.read_bytes()[(1 << 20) - 1] == 0xE9
    result, lines = _validate(cli, source, tmp_path)
    assert result.code == 0, result.output
    assert lines[len(head[:cut].splitlines()) - 1]["Account"].endswith("xé")


# --- 3. line ends and Excel's sep= line ------------------------------------------------------


def test_cr_only_line_ends_are_read_and_numbered(cli, tmp_path):
    rows = [HEADER, *activity_rows(5)]
    rows[3] = [""] * len(HEADER)
    source = tmp_path / "mac.csv"
    source.write_bytes(_csv_text(rows, eol="\r").encode())
    result, lines = _validate(cli, source, tmp_path)
    assert result.code == 0, result.output
    assert [line["source_row"] for line in lines] == ["2", "3", "5", "6"]
    assert lines[2]["Reference"] == rows[4][0]


@pytest.mark.parametrize("sep", [";", ",", "\t"])
@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8])
def test_excel_sep_line_names_the_delimiter_and_is_no_data(cli, tmp_path, sep, bom):
    rows = [HEADER, *activity_rows(3)]
    rows[1][1] = "Acme; Inc, Ltd"  # the other candidates appear inside cells
    rows[2][6] = "a;b,c|d"
    body = "".join(
        sep.join(f'"{c}"' if (";" in c or "," in c) else c for c in row) + "\r\n" for row in rows
    )
    source = tmp_path / "excel.csv"
    source.write_bytes(bom + f"sep={sep}\r\n{body}".encode())
    result, lines = _validate(cli, source, tmp_path)
    assert result.code == 0, result.output
    assert [line["source_row"] for line in lines] == ["2", "3", "4"]
    assert lines[0]["Account"] == "Acme; Inc, Ltd" and lines[1]["Subject"] == "a;b,c|d"
    assert lines[0]["Reference"] == "R-000000"


def test_sep_line_keeps_row_numbers_of_a_broken_quote(tmp_path):
    rows = [HEADER, *activity_rows(6)]
    rows[4][6] = '"never closed'
    source = tmp_path / "broken.csv"
    source.write_bytes(("sep=;\n" + _csv_text(rows, sep=";")).encode())
    with pytest.raises(InputError, match=r"row 5: a quote opened here is never closed"):
        open_table(source).check_parses()


# --- 4. data under no header ---------------------------------------------------------------


def test_csv_value_under_a_blank_header_makes_the_row_invalid(cli, tmp_path):
    header = [*HEADER[:3], "", *HEADER[3:], "  "]
    rows = [header]
    for i, row in enumerate(activity_rows(4)):
        rows.append([*row[:3], "", *row[3:], ""])
        if i == 1:
            rows[-1][3] = "  lost \n value  "
        if i == 2:
            rows[-1][-1] = "x" * 50
    source = write_csv(tmp_path / "gap.csv", rows)
    result, lines = _validate(cli, source, tmp_path)
    assert result.code == 1
    assert [line["status"] for line in lines] == ["valid", "invalid", "invalid", "valid"]
    assert lines[1]["errors"] == (
        "row: column 4 (D) has no header but this row has a value there ('lost value'); "
        "give the column a header or clear the cell"
    )
    assert (
        f"column 9 (I) has no header but this row has a value there ('{'x' * 40}…')"
        in (lines[2]["errors"])
    )


def _save(book: openpyxl.Workbook, path: Path) -> Path:
    book.save(path)
    return path


def test_xlsx_values_beyond_or_between_headers_make_the_row_invalid(cli, tmp_path, excel_reader):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([*HEADER[:2], None, *HEADER[2:]])
    for row in activity_rows(4):
        sheet.append([*row[:2], None, *row[2:]])
    sheet["C3"] = "between"
    sheet["J4"] = 42.0  # three columns right of the last header
    sheet["L5"] = "   "  # blank: harmless
    path = _save(book, tmp_path / "wide.xlsx")
    read_by(path, excel_reader)
    result, lines = _validate(cli, path, tmp_path)
    assert result.code == 1
    assert [line["status"] for line in lines] == ["valid", "invalid", "invalid", "valid"]
    assert (
        "column 3 (C) has no header but this row has a value there ('between')"
        in (lines[1]["errors"])
    )
    assert (
        "column 10 (J) has no header but this row has a value there ('42')" in (lines[2]["errors"])
    )
    assert lines[2]["Reference"] == "R-000002"  # the known columns are still shown


# --- 5. which sheet ------------------------------------------------------------------------


def _two_sheets(tmp_path: Path, *, hide_first: bool, active: int) -> Path:
    book = openpyxl.Workbook()
    lookup = book.active
    lookup.title = "Lookup"
    lookup.append(["Code", "Meaning"])
    data = book.create_sheet("Activities")
    data.append(HEADER)
    for row in activity_rows(2):
        data.append(row)
    book.create_sheet("Notes").append(["just notes"])
    if hide_first:
        lookup.sheet_state = "hidden"
    book.active = active
    return _save(book, tmp_path / "book.xlsx")


def test_the_active_sheet_is_read_without_sheet(cli, tmp_path, excel_reader):
    path = _two_sheets(tmp_path, hide_first=False, active=1)
    read_by(path, excel_reader)
    result, lines = _validate(cli, path, tmp_path)
    assert result.code == 0, result.output
    assert len(lines) == 2


def test_a_hidden_active_first_sheet_gives_way_to_the_first_visible(
    cli, tmp_path, excel_reader, excel_options
):
    path = _two_sheets(tmp_path, hide_first=True, active=1)
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    # some writers leave a hidden sheet active; Excel then shows the first visible one
    parts["xl/workbook.xml"] = re.sub(
        rb'activeTab="\d+"', b'activeTab="0"', parts["xl/workbook.xml"]
    )
    with zipfile.ZipFile(path, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
    assert open_table(path, options=excel_options).sheet == "Activities"
    read_by(path, excel_reader)
    result = cli("validate", path, "--sheet", "Lookup", "--report", tmp_path / "r.csv")
    assert result.code == 2 and "required column(s)" in result.err  # by name: any sheet


# --- 6. formulas without a saved value -----------------------------------------------------


def test_formula_without_saved_value_makes_the_row_invalid(cli, tmp_path, excel_reader):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in activity_rows(3):
        sheet.append(row)
    sheet["B3"] = '=CONCAT("Acme", " Inc")'  # scripts write formulas without results
    sheet.append(["=A2", "=B2", "=C2", "=D2", "=E2", "=F2", "=G2"])  # only formulas: row 5
    path = _save(book, tmp_path / "script.xlsx")
    read_by(path, excel_reader)
    result, lines = _validate(cli, path, tmp_path)
    assert result.code == 1
    assert [line["source_row"] for line in lines] == ["2", "3", "4", "5"]
    assert [line["status"] for line in lines] == ["valid", "invalid", "valid", "invalid"]
    assert lines[1]["errors"].startswith(
        "row: column 'Account' (B3) holds a formula without a saved value: "
        "open and save the file in Excel"
    )
    assert "column 'Reference' (A5) holds a formula" in lines[3]["errors"]


# --- 7. zip bombs and sheets beyond Excel's limits -----------------------------------------


def _small_book(tmp_path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in activity_rows(3):
        sheet.append(row)
    return _save(book, tmp_path / "book.xlsx")


def _rewrite_sheet(path: Path, rewrite) -> None:
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    sheet = parts.pop("xl/worksheets/sheet1.xml")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
        with target.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            rewrite(sheet, member)


# the CLI, reporting its own peak RSS (VmHWM) when it ends: a child's rusage would not do,
# as Linux hands the peak of the process it was forked (or vforked) from, here pytest's,
# to the program it executes
_OWN_PEAK = """
import runpy, sys
report, sys.argv = sys.argv[1], ["cg-import", *sys.argv[2:]]
try:
    runpy.run_module("importer", run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/status") as status, open(report, "w") as out:
        out.write(next(line for line in status if line.startswith("VmHWM:")).split()[1])
"""


def _peak_rss_mib(tmp_path: Path, *argv: str | Path) -> tuple[int, str, float]:
    """Run the CLI in a child; its exit code, stderr and own peak RSS."""
    peak = tmp_path / "peak-kib.txt"
    done = subprocess.run(
        [sys.executable, "-c", _OWN_PEAK, str(peak), *map(str, argv)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=280,
    )
    return done.returncode, done.stderr, int(peak.read_text()) / 1024


@pytest.mark.timeout(300)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_a_zip_bomb_is_refused_before_memory_grows(tmp_path):
    path = _small_book(tmp_path)

    def pad(sheet: bytes, member) -> None:
        start, rest = sheet.split(b"<sheetData>", 1)
        member.write(start + b"<sheetData>")
        block = b" " * (1 << 20)
        for _ in range(300):  # 300 MiB of whitespace, a few hundred KiB once deflated
            member.write(block)
        member.write(rest)

    _rewrite_sheet(path, pad)
    assert path.stat().st_size < 2 << 20
    code, err, peak = _peak_rss_mib(tmp_path, "validate", path, "--report", tmp_path / "r.csv")
    print(f"zip bomb: {path.stat().st_size / 1024:.0f} KiB file, peak RSS {peak:.0f} MiB")
    assert code == 2, err
    line = _one_line(err)
    assert "xl/worksheets/sheet1.xml" in line and "300.0 MiB" in line
    assert peak < 300


@pytest.mark.parametrize(
    "change",
    [
        (rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFE4"'),
        (rb'<row r="4"', b'<row r="1048577"'),
    ],
    ids=["dimension beyond XFD", "row beyond 1048576"],
)
@pytest.mark.usefixtures("excel_reader")
def test_a_sheet_beyond_excel_limits_is_refused(cli, tmp_path, change):
    path = _small_book(tmp_path)
    pattern, replacement = change

    def edit(sheet: bytes, member) -> None:
        changed, found = re.subn(pattern, replacement, sheet)
        assert found == 1
        member.write(
            changed.replace(b'r="A4"', b'r="A1048577"') if b"1048577" in replacement else changed
        )

    _rewrite_sheet(path, edit)
    result, _ = _validate(cli, path, tmp_path)
    assert result.code == 2, result.output
    assert "beyond Excel's" in _one_line(result.err)


# --- 8. a CSV that breaks far down ---------------------------------------------------------


def _broken_at_row_20_001(tmp_path: Path) -> Path:
    rows = [HEADER, *activity_rows(25_000)]
    rows[20_000][6] = '"this quote is never closed'  # the file's line and row 20,001
    return write_csv_raw(tmp_path / "broken.csv", rows)


def write_csv_raw(path: Path, rows: list[list[str]]) -> Path:
    path.write_text(_csv_text(rows), encoding="utf-8")
    return path


def test_check_parses_names_the_row_where_a_quote_is_never_closed(tmp_path):
    table = open_table(_broken_at_row_20_001(tmp_path))
    with pytest.raises(InputError) as refused:
        table.check_parses()
    assert str(refused.value) == (
        "broken.csv: row 20,001: a quote opened here is never closed; fix the quotes (a cell "
        "that holds a quote must be quoted, its quotes doubled); nothing was sent"
    )


def test_reading_chunks_names_the_row_too(cli, tmp_path):
    result = cli("validate", _broken_at_row_20_001(tmp_path), "--report", tmp_path / "r.csv")
    assert result.code == 2
    assert "row 20,001: a quote opened here is never closed" in _one_line(result.err)


def test_check_parses_accepts_a_good_file_and_a_workbook(tmp_path, excel_reader, excel_options):
    open_table(write_csv(tmp_path / "ok.csv", [HEADER, *activity_rows(10)])).check_parses()
    table = open_table(_small_book(tmp_path), options=excel_options)
    table.check_parses()
    assert table.reader == excel_reader


# --- 9. a stray quote that swallows the rows after it -----------------------------------


def _stray_quote(tmp_path: Path, count: int = 30) -> Path:
    """Row 5's Subject opens a quote it never closes on its line: the rows after it are read
    into that one cell until row 25's quote (mid-cell, as people type them) closes it."""
    rows = [HEADER, *activity_rows(count)]
    rows[4][6] = '"Urgent: printer broken'  # row 5
    rows[24][6] = 'Re: "the" printer'  # row 25
    return write_csv_raw(tmp_path / "stray.csv", rows)


def test_a_cell_that_swallowed_rows_makes_its_row_invalid_and_says_so(cli, tmp_path):
    result, lines = _validate(cli, _stray_quote(tmp_path), tmp_path)
    assert result.code == 1, result.output
    bad = [line for line in lines if line["status"] != "valid"]
    assert [line["source_row"] for line in bad] == ["5"]
    assert "quote" in bad[0]["errors"] and "Subject" in bad[0]["errors"], bad[0]["errors"]
    assert "swallowed" in result.out and "(row 5)" in result.out  # the screen names it
    summary = json.loads((tmp_path / "out" / "report.csv.summary.json").read_text(encoding="utf-8"))
    assert summary["errors"][0]["first_rows"] == [5]


@pytest.mark.usefixtures("api_env")
@pytest.mark.parametrize("where", ["child", "here"])
def test_a_swallowing_cell_is_found_by_the_checking_child_too(
    cli, make_sandbox, monkeypatch, tmp_path, where
):
    from importer import checked_ahead as checking

    monkeypatch.setattr(checking, "SECOND_PROCESS_BYTES", 0 if where == "child" else 1 << 40)
    box = make_sandbox()
    report = tmp_path / "r.csv"
    source = _stray_quote(tmp_path)
    result = cli("run", source, "--report", report, *api_args(box), "--rate", "0", "--quiet")
    assert result.code == 1, result.output
    lines = read_report(report)
    assert [line["source_row"] for line in lines if line["status"] == "invalid"] == ["5"]
    assert "R-000003" not in box.sandbox.activities  # the swallowed row 5 (R-000003) not sent
    assert "R-000002" in box.sandbox.activities


LEGITIMATE_TEXTS = {
    "a ticket description": (
        "Hi team,\nThe printer on floor 3, room 2, is jammed again.\n"
        "Could you, please, have a look?\nThanks,\nAnn"
    ),
    "a long pasted e-mail": "\n".join(
        # every ninth line holds as many commas as a row of the file (6): too few to matter
        f"> On {day}, {n} March, Bob wrote: yes, two trays, three, four, five"
        if n % 9 == 0
        else f"> line {n} of the thread, with a comma, or two"
        for n, day in enumerate(["Mon", "Tue", "Wed", "Thu", "Fri"] * 8)
    ),
    "a list of steps": "1. reboot\n2. reinstall\n3. new cable\n4. other port\n5. other PC",
}


@pytest.mark.parametrize("text", sorted(LEGITIMATE_TEXTS))
def test_a_multi_line_text_cell_is_no_swallowed_rows(cli, tmp_path, text):
    rows = [HEADER, *activity_rows(12)]
    rows[3][6] = LEGITIMATE_TEXTS[text]
    result, lines = _validate(cli, write_csv(tmp_path / "ok.csv", rows), tmp_path)
    assert result.code == 0, result.output
    assert lines[2]["Subject"] == LEGITIMATE_TEXTS[text]
