"""Workbook: the ``.xlsx`` report of big files: time against the CSV report, memory flat.

For each size (100k and 1M rows by default), a generated CSV whose every 10th row has an
ambiguous date (``06/10/2024``: invalid, so errors, the Retry sheet and the error tally
all work) is validated in alternating rounds (``--rounds``, default 3), each in a
process of its own:
- ``python -m importer validate FILE --report TMP.csv --quiet`` (the CSV report and its
  summary workbook);
- ``python -m importer validate FILE --report TMP.xlsx --quiet`` (the workbook: Rows,
  Summary, Retry; the rows of Rows and Retry written as XML text and deflated as they
  come, beside the checks, XlsxWriter writing the rest).
Prints each round's seconds, the medians side by side, xlsx ÷ csv of the medians against
the target (**≤ 3x**) with the spread of the rounds' own ratios, peak RSS of each, the
RSS ratio of the largest to the smallest size for the workbook (target **≤ 1.2**) with,
beside it, the same ratio for the CSV report and the workbook's own share (XLSX peak less
CSV peak at each size: ``validate`` itself grows with the references it remembers), and
checks that the Rows sheet holds as many rows as the input (its XML read through, which
checks the package's CRC too).

``--libraries N`` also writes an N-row sheet of the same shape (16 columns, the status
cell filled, the errors wrapped) with XlsxWriter (constant_memory) and with openpyxl
(write-only), each in a process of its own: how the writer was chosen (before the rows
were written as XML text).

    python benchmarks/workbook.py [--sizes 100000,1000000] [--rounds 3] [--libraries 100000]
                                  [--keep]
"""

from __future__ import annotations

import argparse
import csv
import sys
import zipfile
from pathlib import Path

from _common import (
    HEADERS,
    PYTHON,
    TIME_BIN,
    Measurement,
    fmt_mb,
    measure,
    row_values,
    verdict,
    workdir,
)

RSS_TARGET = 1.2
TIME_TARGET = 3.0
#: one sheet shaped like the Rows sheet, written by one library (argv: library, rows, path)
_LIBRARY = r"""
import sys
lib, count, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
heads = ["source_row", "status", "reference", "activity_id", "http_status", "attempts",
         "errors", "Reference", "Account", "Contact", "Type", "Source", "Happened At",
         "Subject", "Agent", "Priority"]
def row(i):
    ok = i % 10
    return [i + 2, "imported" if ok else "invalid", f"BM-{i:08d}", 1000 + i if ok else None,
            200 if ok else None, 1, "" if ok else "happened_at: '06/10/2024' could be day-first",
            f"BM-{i:08d}", "Brightlane Logistics", f"user{i}@x.example", "Call", "Zendesk",
            "2024-03-05 14:22:10", "Dashboard loads slowly", "Maria Lopez", "High"]
if lib == "openpyxl":
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, PatternFill
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Rows")
    fills = {"imported": PatternFill("solid", fgColor="C6EFCE"),
             "invalid": PatternFill("solid", fgColor="FFEB9C")}
    wrap = Alignment(wrap_text=True, vertical="top")
    sheet.append(heads)
    for i in range(count):
        values = row(i)
        status = WriteOnlyCell(sheet, value=values[1])
        status.fill = fills[values[1]]
        values[1] = status
        if values[6]:
            errors = WriteOnlyCell(sheet, value=values[6])
            errors.alignment = wrap
            values[6] = errors
        sheet.append(values)
    book.save(path)
else:
    import xlsxwriter
    book = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_formulas": False,
                                      "strings_to_numbers": False, "strings_to_urls": False})
    sheet = book.add_worksheet("Rows")
    fills = {"imported": book.add_format({"bg_color": "#C6EFCE"}),
             "invalid": book.add_format({"bg_color": "#FFEB9C"})}
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    sheet.write_row(0, 0, heads)
    for i in range(count):
        values, n = row(i), i + 1
        sheet.write_number(n, 0, values[0])
        sheet.write_string(n, 1, values[1], fills[values[1]])
        sheet.write_string(n, 2, values[2])
        if values[3] is not None:
            sheet.write_number(n, 3, values[3])
            sheet.write_number(n, 4, values[4])
        sheet.write_number(n, 5, values[5])
        if values[6]:
            sheet.write_string(n, 6, values[6], wrap)
        for j in range(7, 16):
            sheet.write_string(n, j, values[j])
    book.close()
"""


def _sizes(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def write_input(path: Path, rows: int, block: int = 50_000) -> Path:
    """``rows`` activity rows as CSV; every 10th has a day-first-or-month-first date."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        for start in range(0, rows, block):
            lines = []
            for i in range(start, min(rows, start + block)):
                values = row_values(i)
                values[5] = "06/10/2024" if i % 10 == 9 else f"{values[5]:%Y-%m-%d %H:%M:%S}"
                lines.append(values)
            writer.writerows(lines)
    return path


def rows_in_sheet(path: Path) -> int:
    """Data rows of the report's Rows sheet (its XML read through, in pieces; header
    excluded). Reading it whole checks the part's CRC too."""
    count, tail = 0, b""
    with zipfile.ZipFile(path) as book, book.open("xl/worksheets/sheet1.xml") as sheet:
        while piece := sheet.read(1 << 22):
            count += (tail + piece).count(b"<row ")  # a tag across two pieces counts once
            tail = piece[-4:]
    return count - 1


def bench(tmp: Path, rows: int, rounds: int) -> dict:
    data = write_input(tmp / f"in-{rows}.csv", rows)
    results: dict = {"rows": rows, "csv": [], "xlsx": []}
    for _ in range(rounds):  # alternate, so both see the same machine noise
        for kind in ("csv", "xlsx"):
            report = tmp / f"report-{rows}.{kind}"
            cmd = [PYTHON, "-m", "importer", "validate", str(data), "--report", str(report)]
            results[kind].append(measure([*cmd, "--quiet"], timeout=3600).check(allowed=(1,)))
            results[f"{kind}_bytes"] = report.stat().st_size
            if kind == "xlsx":
                results["sheet_rows"] = rows_in_sheet(report)
    data.unlink()
    return results


def _median_run(runs: list[Measurement]) -> Measurement:
    """The run with the median wall time (its peak RSS is that run's)."""
    return sorted(runs, key=lambda run: run.wall)[len(runs) // 2]


def show(res: dict) -> None:
    csv_run, xlsx_run = _median_run(res["csv"]), _median_run(res["xlsx"])
    ratio = xlsx_run.wall / csv_run.wall
    pairs = list(zip(res["csv"], res["xlsx"], strict=True))
    ratios = sorted(x.wall / c.wall for c, x in pairs)
    rounds = "   ".join(f"{c.wall:.1f} / {x.wall:.1f}" for c, x in pairs)
    print(
        f"  {res['rows']:>9,} rows   rounds (csv / xlsx s): {rounds}\n"
        f"     CSV report   {csv_run.wall:8.1f} s   peak RSS {fmt_mb(csv_run.peak_rss_kb):>8}"
        f"   {res['csv_bytes'] / 2**20:8.1f} MB\n"
        f"     XLSX report  {xlsx_run.wall:8.1f} s   peak RSS {fmt_mb(xlsx_run.peak_rss_kb):>8}"
        f"   {res['xlsx_bytes'] / 2**20:8.1f} MB\n"
        f"     xlsx ÷ csv   {ratio:8.2f}x   (medians of {len(ratios)} alternating rounds; "
        f"the rounds' own ratios {ratios[0]:.2f} to {ratios[-1]:.2f})   target ≤ {TIME_TARGET:g}x: "
        f"{verdict(ratio <= TIME_TARGET)}\n"
        f"     Rows sheet: {res['sheet_rows']:,} rows "
        f"({'OK' if res['sheet_rows'] == res['rows'] else 'MISMATCH'})",
        flush=True,
    )


def libraries(tmp: Path, rows: int) -> None:
    print(f"libraries: one {rows:,}-row sheet shaped like Rows, each in its own process")
    for lib in ("xlsxwriter", "openpyxl"):
        run = measure([PYTHON, "-c", _LIBRARY, lib, str(rows), str(tmp / f"{lib}.xlsx")])
        run.check()
        print(f"  {lib:<11} {run.wall:8.1f} s   peak RSS {fmt_mb(run.peak_rss_kb):>8}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="the .xlsx report vs the CSV report")
    parser.add_argument("--sizes", type=_sizes, default=[100_000, 1_000_000], help="rows")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians)")
    parser.add_argument("--libraries", type=int, default=0, metavar="ROWS",
                        help="also compare XlsxWriter and openpyxl on ROWS rows")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    results = []
    with workdir(args.keep) as tmp:
        print(
            f"workbook: validate FILE --report TMP.csv | TMP.xlsx, "
            f"{', '.join(f'{n:,}' for n in args.sizes)} rows (every 10th invalid); "
            f"peak RSS by {'GNU time -v' if TIME_BIN else 'psutil polling'}",
            flush=True,
        )
        for rows in args.sizes:
            results.append(bench(tmp, rows, args.rounds))
            show(results[-1])
        if args.libraries:
            libraries(tmp, args.libraries)
    if len(results) >= 2:
        small, big = results[0], results[-1]
        a, b = _median_run(small["xlsx"]).peak_rss_kb, _median_run(big["xlsx"]).peak_rss_kb
        if a and b:
            print(
                f"XLSX report peak RSS {big['rows']:,} ÷ {small['rows']:,} rows: {b / a:.2f}   "
                f"target ≤ {RSS_TARGET}: {verdict(b / a <= RSS_TARGET)}"
            )
        # what the workbook adds: validate's own memory grows with the rows it remembers
        own = []
        for res in (small, big):
            c, x = _median_run(res["csv"]).peak_rss_kb, _median_run(res["xlsx"]).peak_rss_kb
            own.append(f"{res['rows']:,} rows {fmt_mb(x - c if x and c else None)}")
        c_a, c_b = _median_run(small["csv"]).peak_rss_kb, _median_run(big["csv"]).peak_rss_kb
        growth = f"{c_b / c_a:.2f}" if c_a and c_b else "n/a"
        print(
            f"  (the CSV report's validate: {growth} over the same sizes; the workbook's own "
            f"share, XLSX peak less CSV peak: {', '.join(own)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
