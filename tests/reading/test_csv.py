"""Reading a CSV: delimiters, line ends, quoted cells, ragged rows, values under no header."""

from __future__ import annotations

import codecs
import csv
import io

import pytest

from ..helpers import (
    HEADER,
    activity_rows,
    csv_text,
    read_report,
    validate_in_process,
    validated,
    write_csv,
    write_file,
)


@pytest.mark.parametrize("chunk_rows", [1, 7, 50, 10_000])
def test_chunk_boundaries_lose_no_row_and_keep_row_numbers(tmp_path, chunk_rows):
    rows = [HEADER, *activity_rows(103)]
    rows[40][1] = ""  # invalid in the middle of a chunk
    rows[50] = [""] * len(HEADER)  # a blank row: not an activity, row numbers still count it
    rows[70][5] = "not a date"
    source = write_csv(tmp_path / "in.csv", rows)
    lines = validate_in_process(source, tmp_path, chunk_rows=chunk_rows)
    numbers = [int(line["source_row"]) for line in lines]
    assert numbers == [n for n in range(2, 105) if n != 51]
    invalid = {int(line["source_row"]) for line in lines if line["status"] == "invalid"}
    assert invalid == {41, 71}
    assert all(line["Reference"] == rows[int(line["source_row"]) - 1][0] for line in lines)


def test_quoted_delimiters_and_newlines_stay_in_their_cell(tmp_path):
    rows = [HEADER, *activity_rows(3)]
    rows[1][6] = "line one\nline two, with comma; and semicolon"
    rows[2][1] = 'Acme "Quoted", Inc'
    source = write_csv(tmp_path / "in.csv", rows)
    lines = validate_in_process(source, tmp_path)
    assert [line["source_row"] for line in lines] == ["2", "3", "4"]
    assert lines[0]["Subject"] == "line one\nline two, with comma; and semicolon"
    assert lines[1]["Account"] == 'Acme "Quoted", Inc'
    assert {line["status"] for line in lines} == {"valid"}


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_delimiter_and_encoding_are_detected(tmp_path, delimiter, encoding):
    rows = [HEADER, *activity_rows(4)]
    rows[1][1] = "Müller Société €"
    source = write_csv(tmp_path / "in.csv", rows, encoding=encoding, delimiter=delimiter)
    if encoding == "utf-8-sig":
        assert source.read_bytes().startswith(codecs.BOM_UTF8)
    lines = validate_in_process(source, tmp_path)
    assert lines[0]["Account"] == "Müller Société €"
    assert lines[0]["Reference"] == "R-000000"  # the BOM is not part of the first header
    assert {line["status"] for line in lines} == {"valid"}


def test_values_are_text_and_trimmed(tmp_path):
    rows = [HEADER, *activity_rows(2)]
    rows[1][0] = "000123"
    rows[1][1] = "  Padded Account  "
    rows[2][0] = "   "  # blank reference → derived
    source = write_csv(tmp_path / "in.csv", rows)
    lines = validate_in_process(source, tmp_path)
    assert lines[0]["reference"] == "000123"
    assert lines[1]["reference"].startswith("auto-")
    assert lines[0]["Account"] == "  Padded Account  "  # the report keeps the original cell


def test_excel_unicode_text_export_utf16_tab_is_read(tmp_path):
    rows = [HEADER, *activity_rows(3)]
    rows[1][1] = "Zoë Ünal 株式会社"
    source = tmp_path / "unicode.txt"
    text = "\r\n".join("\t".join(row) for row in rows) + "\r\n"
    source.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    lines = validate_in_process(source, tmp_path)
    assert [line["status"] for line in lines] == ["valid"] * 3
    assert lines[0]["Account"] == "Zoë Ünal 株式会社"


def test_cr_only_line_ends_are_read_and_numbered(cli, tmp_path):
    rows = [HEADER, *activity_rows(5)]
    rows[3] = [""] * len(HEADER)
    source = tmp_path / "mac.csv"
    source.write_bytes(csv_text(rows, eol="\r").encode())
    result, lines = validated(cli, source, tmp_path)
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
    result, lines = validated(cli, source, tmp_path)
    assert result.code == 0, result.output
    assert [line["source_row"] for line in lines] == ["2", "3", "4"]
    assert lines[0]["Account"] == "Acme; Inc, Ltd" and lines[1]["Subject"] == "a;b,c|d"
    assert lines[0]["Reference"] == "R-000000"


@pytest.mark.usefixtures("api_env")
def test_cr_only_and_sep_line_csv_read_like_any_other(cli, tmp_path):
    rows = [HEADER, *activity_rows(3)]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r").writerows(rows)
    (tmp_path / "mac.csv").write_text(buffer.getvalue(), encoding="utf-8")
    (tmp_path / "sep.csv").write_text("sep=;\r\n" + buffer.getvalue().replace("\r", "\r\n"))
    for name in ("mac.csv", "sep.csv"):
        assert cli("validate", tmp_path / name, "--report", tmp_path / "r.csv").code == 0
        lines = read_report(tmp_path / "r.csv")
        assert [line["source_row"] for line in lines] == ["2", "3", "4"]
        assert lines[0]["Account"] == rows[1][1]


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
    result, lines = validated(cli, source, tmp_path)
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


def test_a_row_with_a_cell_too_many_is_invalid_not_shifted(cli, tmp_path):
    source = write_file(
        tmp_path / "ragged.csv",
        "Account,Type,Source,Happened At\n"
        "Acme, Inc,Call,Excel,2024-01-01\n"
        "B,Call,Excel,2024-01-02,\n",
    )
    result = cli("validate", source, "--report", tmp_path / "r.csv")
    assert result.code == 1
    first, second = read_report(tmp_path / "r.csv")
    assert first["status"] == "invalid" and "more cells than the header row" in first["errors"]
    assert first["Account"] == "Acme"  # shown as read, flagged
    assert second["status"] == "valid"  # a trailing empty cell is harmless


def test_header_only_file_validates_with_zero_rows(cli, tmp_path):
    source = write_csv(tmp_path / "header.csv", [HEADER])
    result = cli("validate", source, "--report", tmp_path / "r.csv")
    assert result.code == 0, result.err
    assert read_report(tmp_path / "r.csv") == []
    assert "rows" in result.out
