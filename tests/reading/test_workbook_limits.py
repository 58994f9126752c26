"""A zip bomb or a sheet beyond Excel's limits is refused before memory grows."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ..helpers import one_line, small_book, validated


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
    path = small_book(tmp_path)

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
    line = one_line(err)
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
    path = small_book(tmp_path)
    pattern, replacement = change

    def edit(sheet: bytes, member) -> None:
        changed, found = re.subn(pattern, replacement, sheet)
        assert found == 1
        member.write(
            changed.replace(b'r="A4"', b'r="A1048577"') if b"1048577" in replacement else changed
        )

    _rewrite_sheet(path, edit)
    result, _ = validated(cli, path, tmp_path)
    assert result.code == 2, result.output
    assert "beyond Excel's" in one_line(result.err)
