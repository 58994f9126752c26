"""A CSV's encoding: a mix refused naming its line, cp1252 read right, the mapping's word final."""

from __future__ import annotations

from ..helpers import HEADER, activity_rows, csv_text, one_line, validated, write_csv


def _mixed_rows() -> list[list[str]]:
    rows = [HEADER, *activity_rows(6)]
    rows[1][1] = "Müller GmbH"
    return rows


def test_utf8_with_a_stray_cp1252_line_is_refused_naming_that_line(cli, tmp_path):
    rows = _mixed_rows()
    data = csv_text(rows[:4]).encode("utf-8")
    data += csv_text([[*rows[4][:1], "Café Crème", *rows[4][2:]]]).encode("cp1252")
    data += csv_text(rows[5:]).encode("utf-8")
    source = tmp_path / "mixed.csv"
    source.write_bytes(data)
    result, _ = validated(cli, source, tmp_path)
    assert result.code == 2, result.output
    line = one_line(result.err)
    assert "line 5 " in line and "mixes UTF-8 with another encoding" in line
    assert "encoding in a mapping file" in line


def test_mixed_file_is_read_as_told_when_the_mapping_sets_the_encoding(cli, tmp_path):
    rows = _mixed_rows()
    data = csv_text(rows[:4]).encode("utf-8") + csv_text(rows[4:]).encode("cp1252")
    data = data.replace(b"Subject 3", "Sujet été".encode("cp1252"))
    source = tmp_path / "mixed.csv"
    source.write_bytes(data)
    mapping = tmp_path / "m.toml"
    mapping.write_text('encoding = "cp1252"\n')
    result, lines = validated(cli, source, tmp_path, "--mapping", mapping)
    assert result.code == 0, result.output
    assert lines[0]["Account"] == "MÃ¼ller GmbH"  # as told: the analyst chose cp1252
    assert lines[3]["Subject"] == "Sujet été"


def test_utf8_text_in_an_early_block_and_a_stray_byte_after_a_megabyte(cli, tmp_path):
    rows = [HEADER, *activity_rows(12_000)]
    rows[1][1] = "Zoë Ünal"
    text = csv_text(rows)
    assert len(text) > 1 << 20
    lines = text.splitlines(keepends=True)
    lines[11_000] = lines[11_000].replace("Subject", "Sujet\xe9")  # line 11,001
    source = tmp_path / "big.csv"
    source.write_bytes(
        b"".join(line.encode("cp1252" if i == 11_000 else "utf-8") for i, line in enumerate(lines))
    )
    result, _ = validated(cli, source, tmp_path)
    assert result.code == 2
    assert "line 11,001 " in one_line(result.err)


def test_a_byte_cp1252_lacks_is_refused_naming_its_line(cli, tmp_path):
    rows = [HEADER, *activity_rows(4)]
    rows[1][1] = "Société"
    data = csv_text(rows).encode("cp1252").replace(b"Subject 2", b"Subject \x81")
    source = tmp_path / "odd.csv"
    source.write_bytes(data)
    result, _ = validated(cli, source, tmp_path)
    assert result.code == 2
    line = one_line(result.err)
    assert "line 4 " in line and "0x81" in line and "cp1252" in line


def test_cp1252_with_capitals_before_curly_quotes_still_reads(cli, tmp_path):
    # É” and ß“ are valid UTF-8 byte pairs by accident: not proof of UTF-8 text
    rows = [HEADER, *activity_rows(3)]
    rows[1][1] = "“CAFÉ” Société"
    rows[2][1] = "„Hauptstraße“ Müller"
    source = write_csv(tmp_path / "in.csv", rows, encoding="cp1252")
    result, lines = validated(cli, source, tmp_path)
    assert result.code == 0, result.output
    assert [line["Account"] for line in lines[:2]] == [rows[1][1], rows[2][1]]


def test_cp1252_with_an_accent_at_a_block_boundary_still_reads(cli, tmp_path):
    rows = [HEADER, *activity_rows(10_000)]
    head = csv_text(rows).encode("ascii")
    cut = head.rindex(b"\n", 0, (1 << 20) - 20) + 1
    # the accent ends the first megabyte: the UTF-8 decoder only sees it on the next block
    filler = b"x" * ((1 << 20) - 1 - cut - len(b"R-X,"))
    accent_row = b"R-X," + filler + b"\xe9,c@d.example,Call,Excel,2024-01-01,s\n"
    source = tmp_path / "edge.csv"
    source.write_bytes(head[:cut] + accent_row + head[cut:])
    assert source.read_bytes()[(1 << 20) - 1] == 0xE9
    result, lines = validated(cli, source, tmp_path)
    assert result.code == 0, result.output
    assert lines[len(head[:cut].splitlines()) - 1]["Account"].endswith("xé")
