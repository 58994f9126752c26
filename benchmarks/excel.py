"""Excel: ``validate`` of .xlsx against the same rows as CSV, the old openpyxl path, and a
sheet as large as Excel allows; ``--budget`` measures what ``read.CALAMINE_MAX_BYTES`` rests on.

Sheets within ``read.CALAMINE_MAX_BYTES`` (XML part + shared strings, uncompressed) are read
with python-calamine, which holds the whole sheet in memory; larger ones are streamed by
openpyxl in flat memory. For each size (default 50,000 and 200,000 activity rows):
- ``python -m importer validate FILE.xlsx --report TMP.csv --quiet`` (the workbook written
  with openpyxl write-only: inline strings, as ``_common.write_xlsx`` does; ``--excel-like``
  also writes it with XlsxWriter's shared strings, as Excel saves);
- the same command on the same rows as CSV; and ``pandas.read_csv`` of that CSV;
  seconds and peak RSS of each, medians of ``--repeat`` alternating runs; a large sheet is
  loaded by a child process while ``validate`` scans it, so the xlsx ``validate`` is run
  once more for the memory of both together (PSS, polled: the polling costs CPU, so that
  run is not timed);
- at the first size, the old reader (openpyxl forced: a budget of nothing).
Then the largest sheet Excel holds, 1,048,576 rows x 12 columns (XlsxWriter constant_memory,
in the temp dir): seconds and peak RSS of ``validate`` (beyond the budget: openpyxl).

Targets printed: xlsx validate ≤ 2x the CSV validate of the same rows; reading ≥ 5x faster
than the old openpyxl path; peak RSS < 1 GB at 1,048,576 rows.

    python benchmarks/excel.py [--sizes 50000,200000] [--repeat 3] [--excel-like]
        [--full-rows 1048576] [--skip-full] [--budget] [--keep]

``--budget`` instead prints calamine's peak RSS (the whole ``validate``, calamine forced)
against the sheet's uncompressed bytes for three kinds of sheet at three sizes each, and
the openpyxl path's at one size: the table behind ``CALAMINE_MAX_BYTES``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from _common import (
    HEADERS,
    PYTHON,
    Measurement,
    count_csv_data_lines,
    fmt_mb,
    measure,
    row_values,
    verdict,
    workdir,
    write_csv,
    write_xlsx,
)

TIME_TARGET = 2.0  # xlsx validate ÷ csv validate
SPEED_TARGET = 5.0  # old openpyxl reading ÷ new reading
RSS_TARGET_MB = 1024
FULL_COLUMNS = [*HEADERS, "Team", "Channel", "Score"]  # 12 columns
_PANDAS = (
    "import sys, time; t = time.perf_counter(); import pandas as pd; "
    "f = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False); "
    "print(len(f), time.perf_counter() - t)"
)
#: ``validate`` with the calamine budget set first (argv[1]): -1 forces openpyxl
_FORCED = (
    "import functools, sys; from importer import pipeline; "
    "from importer.read import ReadOptions, open_table; "
    "budget = ReadOptions(calamine_max_bytes=int(sys.argv.pop(1))); "
    "pipeline.open_table = functools.partial(open_table, options=budget); "
    "from importer.cli import main; sys.exit(main(sys.argv[1:]))"
)
_STARTUP = "import importer.cli"


def _sizes(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


# --- workbooks ----------------------------------------------------------------------------


def write_xlsx_shared(path: Path, rows: int) -> Path:
    """The rows of ``write_xlsx`` as Excel saves them: shared strings, a date format."""
    import xlsxwriter

    book = xlsxwriter.Workbook(
        str(path), {"strings_to_numbers": False, "strings_to_formulas": False}
    )
    sheet = book.add_worksheet("Activities")
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet.write_row(0, 0, HEADERS)
    for i in range(rows):
        values = row_values(i)
        sheet.write_row(i + 1, 0, values[:5])
        sheet.write_datetime(i + 1, 5, values[5], stamp)
        sheet.write_row(i + 1, 6, values[6:])
    book.close()
    return path


def write_short_cells(path: Path, rows: int) -> Path:
    """12 columns of the shortest cells (1-letter shared strings, small numbers, a date):
    the most cells, so the most of calamine's memory, per byte of XML."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = book.add_worksheet("Activities")
    stamp = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["Account", "Type", "Source", "Happened At", *"EFGHIJKL"])
    day = dt.datetime(2024, 1, 1)
    for i in range(1, rows + 1):
        sheet.write_row(i, 0, ["abcdefgh"[i % 8], "t", "s"])
        sheet.write_datetime(i, 3, day, stamp)
        sheet.write_row(i, 4, [i % 10, "x", i % 7, "y", 1, "z", 0, "w"])
    book.close()
    return path


def write_small_numbers(path: Path, rows: int) -> Path:
    """12 columns of one-digit numbers (and a date): the shortest cells there are."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Activities")
    stamp = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["Account", "Type", "Source", "Happened At", *"EFGHIJKL"])
    day = dt.datetime(2024, 1, 1)
    for i in range(1, rows + 1):
        sheet.write_row(i, 0, [i % 10, 1, 2])
        sheet.write_datetime(i, 3, day, stamp)
        sheet.write_row(i, 4, [i % 10, 3, i % 7, 5, 1, 8, 0, 9])
    book.close()
    return path


def write_full_sheet(path: Path, rows: int) -> Path:
    """``rows`` activity rows x 12 columns, streamed (XlsxWriter constant_memory)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet("Activities")
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet.write_row(0, 0, FULL_COLUMNS)
    teams = ["North", "South", "East", "West"]
    for i in range(rows - 1):  # the header is row 1: rows - 1 data rows fill the sheet
        values = row_values(i)
        sheet.write_row(i + 1, 0, values[:5])
        sheet.write_datetime(i + 1, 5, values[5], stamp)
        sheet.write_row(i + 1, 6, [*values[6:], teams[i % 4], "Email", (i * 7) % 11])
    book.close()
    return path


def sheet_bytes(path: Path) -> int:
    """What the budget counts: the sheet's XML part and the shared strings, uncompressed."""
    with zipfile.ZipFile(path) as archive:
        return sum(
            info.file_size
            for info in archive.infolist()
            if info.filename.startswith("xl/worksheets/") or info.filename.endswith("Strings.xml")
        )


# --- running ------------------------------------------------------------------------------


def validate_cmd(data: Path, report: Path, budget: int | None = None) -> list[str]:
    args = ["validate", str(data), "--report", str(report), "--quiet"]
    if budget is None:
        return [PYTHON, "-m", "importer", *args]
    return [PYTHON, "-c", _FORCED, str(budget), *args]


def median_run(runs: list[Measurement]) -> Measurement:
    """The run with the median wall time (its peak RSS is that run's)."""
    return sorted(runs, key=lambda run: run.wall)[len(runs) // 2]


def alternate(cmds: dict[str, list[str]], repeat: int) -> dict[str, Measurement]:
    """Each command ``repeat`` times, in turn, so all see the same machine noise; the
    median run of each (exit 0 or 1: rows may be invalid)."""
    runs: dict[str, list[Measurement]] = {name: [] for name in cmds}
    for _ in range(repeat):
        for name, cmd in cmds.items():
            runs[name].append(measure(cmd, timeout=3600).check((0, 1)))
    return {name: median_run(found) for name, found in runs.items()}


def line(label: str, run: Measurement, extra: str = "") -> str:
    return f"     {label:<24} {run.wall:8.2f} s   peak RSS {fmt_mb(run.peak_rss_kb):>9}{extra}"


def bench_size(tmp: Path, rows: int, repeat: int, writer: str, old: bool) -> dict[str, Any]:
    data = tmp / f"excel-{rows}.csv"
    write_csv(data, rows)
    book = tmp / f"excel-{rows}-{writer}.xlsx"
    started = time.perf_counter()
    (write_xlsx if writer == "openpyxl" else write_xlsx_shared)(book, rows)
    made = time.perf_counter() - started
    report = tmp / f"excel-{rows}-report.csv"
    cmds = {
        "xlsx": validate_cmd(book, report),
        "csv": validate_cmd(data, report),
        "read_csv": [PYTHON, "-c", _PANDAS, str(data)],
        "startup": [PYTHON, "-c", _STARTUP],
    }
    if old:
        cmds["old"] = validate_cmd(book, report, budget=-1)
    found = alternate(cmds, repeat)
    xlsx_report = tmp / f"excel-{rows}-check.csv"
    # once more, for the report's lines and the memory of validate and its child together
    # (polling them costs CPU: the timed runs above are not polled)
    together = measure(validate_cmd(book, xlsx_report), timeout=3600, tree=True).check((0, 1))
    lines = count_csv_data_lines(xlsx_report)
    result = {
        "rows": rows,
        "writer": writer,
        "made": made,
        "sheet_mb": sheet_bytes(book) / 2**20,
        "file_mb": book.stat().st_size / 2**20,
        "lines": lines,
        "together_kb": together.peak_rss_kb,
        **found,
    }
    for path in (data, book, report, xlsx_report):
        path.unlink(missing_ok=True)
    return result


def show_size(res: dict[str, Any], repeat: int) -> None:
    xlsx, csv, base, startup = res["xlsx"], res["csv"], res["read_csv"], res["startup"]
    ratio = xlsx.wall / csv.wall
    print(
        f"  {res['rows']:>9,} rows, .xlsx by {res['writer']} ({res['file_mb']:,.1f} MB file, "
        f"sheet {res['sheet_mb']:,.1f} MB uncompressed; written in {res['made']:.1f} s)\n"
        + line("validate .xlsx", xlsx)
        + f" (its largest process; with its child, by PSS: {fmt_mb(res['together_kb'])})\n"
        + line("validate .csv", csv)
        + "\n"
        + line("pandas.read_csv(.csv)", base)
        + f"\n     xlsx ÷ csv validate      {ratio:8.2f}x   target ≤ {TIME_TARGET}: "
        f"{verdict(ratio <= TIME_TARGET)}   (medians of {repeat} runs)"
        f"\n     xlsx validate ÷ read_csv {xlsx.wall / base.wall:8.2f}x"
        f"\n     report data lines {res['lines']:,} for {res['rows']:,} rows: "
        f"{'OK' if res['lines'] == res['rows'] else 'MISMATCH'}",
        flush=True,
    )
    if "old" in res:
        old = res["old"]
        # reading = the command less the start-up and the validation a CSV of the rows needs
        rest = csv.wall - startup.wall
        new_read = max(xlsx.wall - startup.wall - rest, 0.01)
        old_read = max(old.wall - startup.wall - rest, 0.01)
        speedup = old_read / new_read
        print(
            line("validate, old openpyxl path", old)
            + f"\n     whole command {old.wall / xlsx.wall:.1f}x faster; reading the sheet "
            f"{old_read:.2f} s → {new_read:.2f} s: {speedup:.1f}x   target ≥ {SPEED_TARGET}: "
            f"{verdict(speedup >= SPEED_TARGET)}\n"
            f"     (reading = validate .xlsx - start-up {startup.wall:.2f} s - the rest of "
            f"validate {rest:.2f} s, which the CSV run shows)",
            flush=True,
        )


def bench_full(tmp: Path, rows: int) -> None:
    book = tmp / f"excel-full-{rows}.xlsx"
    started = time.perf_counter()
    write_full_sheet(book, rows)
    made = time.perf_counter() - started
    size = sheet_bytes(book)
    report = tmp / "excel-full-report.csv"
    run = measure(validate_cmd(book, report), timeout=7200).check((0, 1))
    lines = count_csv_data_lines(report)
    peak = (run.peak_rss_kb or 0) / 1024
    print(
        f"  {rows:,} rows x {len(FULL_COLUMNS)} columns ({book.stat().st_size / 2**20:,.1f} MB "
        f"file, sheet {size / 2**20:,.1f} MB uncompressed; written in {made:.1f} s)\n"
        + line("validate .xlsx", run)
        + f"\n     peak RSS {peak:,.0f} MB   target < {RSS_TARGET_MB:,} MB: "
        f"{verdict(0 < peak < RSS_TARGET_MB)}\n"
        f"     report data lines {lines:,} for {rows - 1:,} data rows: "
        f"{'OK' if lines == rows - 1 else 'MISMATCH'}",
        flush=True,
    )
    book.unlink(missing_ok=True)
    report.unlink(missing_ok=True)


BUDGET_SHAPES = {
    "activities, inline strings (openpyxl)": (write_xlsx, [50_000, 100_000, 200_000]),
    "activities, shared strings (XlsxWriter)": (write_xlsx_shared, [100_000, 200_000, 400_000]),
    "12 short cells a row (XlsxWriter)": (write_short_cells, [150_000, 300_000, 600_000]),
    "12 one-digit numbers a row (XlsxWriter)": (write_small_numbers, [150_000, 300_000, 600_000]),
}


def bench_budget(tmp: Path) -> None:
    """calamine's peak RSS (whole validate, calamine forced) against the sheet's bytes."""
    report = tmp / "budget-report.csv"
    tiny = write_short_cells(tmp / "tiny.xlsx", 10)
    floor = measure(validate_cmd(tiny, report, budget=1 << 40), tree=True).check((0, 1))
    base = (floor.peak_rss_kb or 0) / 1024
    print(f"  a 10-row sheet: peak RSS {base:,.0f} MB (start-up, pandas, the report)\n")
    print(f"  {'sheet':<42}{'rows':>9}{'sheet MB':>10}{'peak RSS':>10}{'(RSS-floor)/MB':>16}")
    for name, (writer, sizes) in BUDGET_SHAPES.items():
        for index, rows in enumerate(sizes):
            book = writer(tmp / "budget.xlsx", rows)
            size = sheet_bytes(book) / 2**20
            run = measure(
                validate_cmd(book, report, budget=1 << 40), timeout=3600, tree=True
            ).check((0, 1))
            peak = (run.peak_rss_kb or 0) / 1024
            print(
                f"  {name:<42}{rows:>9,}{size:>10,.1f}{peak:>10,.0f}"
                f"{(peak - base) / size:>16.2f}   ({run.wall:.1f} s)",
                flush=True,
            )
            if index == 0:  # the same sheet streamed by openpyxl, for comparison
                old = measure(validate_cmd(book, report, budget=-1), timeout=3600, tree=True).check(
                    (0, 1)
                )
                print(
                    f"  {'   the same, openpyxl forced':<42}{rows:>9,}{size:>10,.1f}"
                    f"{(old.peak_rss_kb or 0) / 1024:>10,.0f}{'':>16}   ({old.wall:.1f} s)",
                    flush=True,
                )
            book.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="validate of .xlsx vs CSV, and memory")
    parser.add_argument("--sizes", type=_sizes, default=[50_000, 200_000], help="rows")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (medians)")
    parser.add_argument(
        "--excel-like", action="store_true", help="also shared-strings workbooks (XlsxWriter)"
    )
    parser.add_argument("--full-rows", type=int, default=1_048_576, help="the largest sheet")
    parser.add_argument("--skip-full", action="store_true", help="no 1,048,576-row sheet")
    parser.add_argument("--budget", action="store_true", help="only the budget table")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()

    with workdir(args.keep) as tmp:
        if args.budget:
            print("calamine's memory against the sheet's size (CALAMINE_MAX_BYTES):")
            bench_budget(tmp)
            return 0
        print(f"validate: .xlsx against the same rows as CSV (medians of {args.repeat} runs):")
        writers = ["openpyxl", "xlsxwriter"] if args.excel_like else ["openpyxl"]
        for writer in writers:
            for index, rows in enumerate(args.sizes):
                old = index == 0 and writer == "openpyxl"
                show_size(bench_size(tmp, rows, args.repeat, writer, old), args.repeat)
        if not args.skip_full:
            print("the largest sheet Excel holds:")
            bench_full(tmp, args.full_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
