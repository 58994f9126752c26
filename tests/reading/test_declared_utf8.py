"""A mapping that says ``encoding = "utf-8"`` for a file that is not: refused, naming the
line, instead of reading its bytes as U+FFFD and sending them so (exit 0, unnoticed)."""

from __future__ import annotations

from pathlib import Path

from ..helpers import HEADER, activity_rows


def _with_a_cp1252_cell(tmp_path: Path, rows: int, line: int, cell: str, declared: str):
    """A CSV of ``rows`` rows, ASCII but for one cp1252 ``cell`` on 0-based ``line``, and a
    mapping that declares the file ``declared``: the paths of both."""
    lines = [",".join(HEADER), *(",".join(row) for row in activity_rows(rows))]
    data = ("\r\n".join(lines) + "\r\n").encode("ascii").splitlines(keepends=True)
    data[line] = data[line].replace(b"Account", cell.encode("cp1252"), 1)
    source = tmp_path / "export.csv"
    source.write_bytes(b"".join(data))
    mapping = tmp_path / "m.toml"
    mapping.write_text(f'encoding = "{declared}"\n', encoding="utf-8")
    return source, mapping


def test_a_file_declared_utf8_that_is_not_is_refused_at_its_line(cli, tmp_path: Path) -> None:
    source, mapping = _with_a_cp1252_cell(tmp_path, 3000, 2500, "Caf\u00e9 \u00a9", "utf-8")
    result = cli("validate", source, "--mapping", mapping, "--report", tmp_path / "r.csv")
    assert result.code == 2, result.output
    assert result.err == (
        "cg-import: error: export.csv: line 2,501 is not valid UTF-8, though the mapping "
        "says encoding = 'utf-8': fix that line, or set the encoding the file is in "
        '(e.g. encoding = "cp1252")\n'
    )
    mapping.write_text('encoding = "cp1252"\n', encoding="utf-8")
    assert cli("validate", source, "--mapping", mapping, "--report", tmp_path / "r.csv").code == 0


def test_a_byte_the_declared_encoding_cannot_read_stops_the_file(cli, tmp_path: Path) -> None:
    source, mapping = _with_a_cp1252_cell(tmp_path, 50, 40, "Caf\u00e9 M\u00fcller", "ascii")
    result = cli("validate", source, "--mapping", mapping, "--report", tmp_path / "r.csv")
    assert result.code == 2, result.output
    assert "holds the byte 0xE9, which is not ascii; set the encoding" in result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
