"""Scale: ``validate`` on big files: time against plain pandas, and memory flat in rows.

For each size, a generated file of valid rows (CSV: 100k and 1M rows; XLSX: 20k and 200k,
written with openpyxl write-only) is, in alternating rounds (``--repeat``, 3 by default):
- validated with ``python -m importer validate FILE --report TMP.csv --quiet`` (a full
  report is written); wall time and peak RSS of that process;
- read whole by pandas in a process of its own (``pandas.read_csv(FILE, dtype=str,
  keep_default_na=False)``; for XLSX ``pandas.read_excel(FILE, dtype=str,
  keep_default_na=False)``); wall time and peak RSS.
A CSV of 1 MiB or more is read and checked by a second process of ``validate``
(``importer/checked_aside.py``) where a core is free (a load average below the cores):
each round also times ``validate`` with the second process forced, and after the rounds
one more such run is polled for the memory of both processes added up (PSS), which is the
figure the flatness target judges.
Prints seconds (median and every round), the ratio validate ÷ pandas (target ≤ 2 for the
largest CSV), peak RSS, and the RSS ratio largest ÷ smallest size (target ≤ 1.5 for CSV
1M ÷ 100k; XLSX 200k ÷ 20k for reference), and checks the report has as many data lines
as the input has rows.

    python benchmarks/scale.py [--sizes 100000,1000000]
        [--xlsx-sizes 20000,200000] [--skip-xlsx]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from _common import (
    PYTHON,
    TIME_BIN,
    Measurement,
    count_csv_data_lines,
    fmt_mb,
    measure,
    verdict,
    workdir,
    write_csv,
    write_xlsx,
)

RSS_TARGET = 1.5
TIME_TARGET = 2.0  # validate ÷ read_csv at the largest CSV size
#: ``validate`` with its second process whatever the load (``checked_aside.free_core``)
_TWO_PROCESSES = (
    "import sys; from importer import checked_aside; checked_aside.free_core = lambda: True; "
    "from importer.cli import main; sys.exit(main(sys.argv[1:]))"
)
_PANDAS = (
    "import sys, time; t = time.perf_counter(); import pandas as pd; "
    "f = pd.read_{kind}(sys.argv[1], dtype=str, keep_default_na=False); "
    "print(len(f), time.perf_counter() - t)"
)


def _load() -> str:
    try:
        return ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def _sizes(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def bench(tmp: Path, kind: str, rows: int, repeat: int) -> dict:
    suffix = "csv" if kind == "csv" else "xlsx"
    data = tmp / f"scale-{rows}.{suffix}"
    started = time.perf_counter()
    (write_csv if kind == "csv" else write_xlsx)(data, rows)
    made = time.perf_counter() - started
    report = tmp / f"scale-{rows}-{suffix}-report.csv"
    cmd = [PYTHON, "-m", "importer", "validate", str(data), "--report", str(report), "--quiet"]
    reader = "csv" if kind == "csv" else "excel"
    pd_cmd = [PYTHON, "-c", _PANDAS.format(kind=reader), str(data)]
    two_cmd = [PYTHON, "-c", _TWO_PROCESSES, *cmd[3:]]
    vals: list[Measurement] = []
    bases: list[Measurement] = []
    twos: list[Measurement] = []
    for _ in range(repeat):  # alternate, so both see the same machine noise
        # a large sheet is loaded by a child process of validate: count its memory too
        vals.append(measure(cmd, timeout=3600, tree=kind != "csv").check())
        bases.append(measure(pd_cmd, timeout=3600).check())
        if kind == "csv":  # the second process used, even on a busy machine
            twos.append(measure(two_cmd, timeout=3600).check())
    val = _median_run(vals)
    base = _median_run(bases)
    # a large CSV is checked by a second process: its memory, both processes added up, is
    # polled in a run of its own (polling takes a share of the CPU: not in the timed rounds)
    both = measure(two_cmd, timeout=3600, tree=True).check() if kind == "csv" else val
    lines = count_csv_data_lines(report)
    pd_rows, pd_inner = base.stdout.split()
    report.unlink(missing_ok=True)
    data_mb = data.stat().st_size / 2**20
    data.unlink(missing_ok=True)
    return {
        "kind": kind,
        "rows": rows,
        "made": made,
        "data_mb": data_mb,
        "validate": val,
        "validate_both": both,
        "two": _median_run(twos) if twos else None,
        "rounds": [(v.wall, b.wall) for v, b in zip(vals, bases, strict=True)],
        "two_rounds": [t.wall for t in twos],
        "pandas": base,
        "pandas_inner": float(pd_inner),
        "pandas_rows": int(pd_rows),
        "report_lines": lines,
        "reader": f"pandas.read_{reader}",
        "repeat": repeat,
    }


def _median_run(runs: list[Measurement]) -> Measurement:
    """The run with the median wall time (its peak RSS is that run's)."""
    return sorted(runs, key=lambda run: run.wall)[len(runs) // 2]


def show(res: dict) -> None:
    val: Measurement = res["validate"]
    both: Measurement = res["validate_both"]
    base: Measurement = res["pandas"]
    rounds = ", ".join(f"{v:.2f}/{b:.2f}" for v, b in res["rounds"])
    ok_lines = res["report_lines"] == res["rows"] == res["pandas_rows"]
    lines = [
        f"  {res['kind'].upper():<4} {res['rows']:>9,} rows ({res['data_mb']:,.1f} MB, "
        f"generated in {res['made']:.1f} s)",
        f"     validate          {val.wall:8.2f} s   peak RSS {fmt_mb(val.peak_rss_kb):>9}",
        f"     {res['reader']:<17} {base.wall:8.2f} s   peak RSS {fmt_mb(base.peak_rss_kb):>9}"
        f"   (read itself {res['pandas_inner']:.2f} s)",
        f"     validate ÷ pandas {val.wall / base.wall:8.2f}x   (medians of {res['repeat']} "
        f"alternating rounds; each round validate/pandas s: {rounds})",
    ]
    if res["two"] is not None:
        two: Measurement = res["two"]
        lines.append(
            f"     validate, second process forced {two.wall:6.2f} s = "
            f"{two.wall / base.wall:.2f}x pandas   peak RSS {fmt_mb(two.peak_rss_kb)} "
            f"(largest process; rounds: {', '.join(f'{t:.2f}' for t in res['two_rounds'])} s)"
        )
        lines.append(
            f"     validate, both processes added up: peak {fmt_mb(both.peak_rss_kb)} "
            "(PSS, polled, one more run, second process forced)"
        )
    lines.append(
        f"     report data lines {res['report_lines']:,} for {res['rows']:,} input rows: "
        f"{'OK' if ok_lines else 'MISMATCH'}"
    )
    print("\n".join(lines), flush=True)


def time_ratio(results: list[dict]) -> None:
    csvs = sorted((r for r in results if r["kind"] == "csv"), key=lambda r: r["rows"])
    if not csvs:
        return
    big = csvs[-1]
    ratio = big["validate"].wall / big["pandas"].wall
    print(
        f"CSV validate {big['rows']:,} rows ÷ pandas.read_csv: {ratio:.2f}x   "
        f"target ≤ {TIME_TARGET}: {verdict(ratio <= TIME_TARGET)}"
    )


def rss_ratio(results: list[dict], kind: str, target: float | None = RSS_TARGET) -> None:
    mine = sorted((r for r in results if r["kind"] == kind), key=lambda r: r["rows"])
    if len(mine) < 2:
        return
    small, big = mine[0], mine[-1]
    a, b = small["validate_both"].peak_rss_kb, big["validate_both"].peak_rss_kb
    p, q = small["pandas"].peak_rss_kb, big["pandas"].peak_rss_kb
    if not (a and b):
        print(f"{kind.upper()} RSS ratio: n/a (no RSS measured)")
        return
    ratio = b / a
    print(
        f"{kind.upper()} validate peak memory {big['rows']:,} ÷ {small['rows']:,} rows: "
        f"{ratio:.2f}   "
        + (
            f"target ≤ {target}: {verdict(ratio <= target)}"
            if target is not None
            else "(bounded, not flat: see benchmarks/excel.py)"
        )
        + (f"   (pandas whole-file read: {q / p:.2f})" if p and q else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="validate on big files vs pandas")
    parser.add_argument("--sizes", type=_sizes, default=[100_000, 1_000_000], help="CSV rows")
    parser.add_argument("--xlsx-sizes", type=_sizes, default=[20_000, 200_000], help="XLSX rows")
    parser.add_argument("--skip-xlsx", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (medians)")
    args = parser.parse_args()

    cases = [("csv", n) for n in args.sizes]
    if not args.skip_xlsx:
        cases += [("xlsx", n) for n in args.xlsx_sizes]
    results = []
    with workdir(args.keep) as tmp:
        print(f"scale: {', '.join(f'{k.upper()} {n:,}' for k, n in cases)} rows; "
              f"peak RSS by {'GNU time -v' if TIME_BIN else 'psutil polling'} "
              "(XLSX validate: psutil polling, with its child process)")  # fmt: skip
        print(
            f"  commands: {PYTHON} -m importer validate FILE --report TMP.csv --quiet\n"
            f"            {PYTHON} -c 'pandas.read_csv|read_excel(FILE, dtype=str, "
            "keep_default_na=False)'",
            flush=True,
        )
        # validate checks a large CSV in a second process only where a core is free (a
        # load average below the cores): the load tells which of the two ways was measured
        print(f"load average (1, 5, 15 min) at the start: {_load()}; cores: {os.cpu_count()}")
        for kind, rows in cases:
            res = bench(tmp, kind, rows, args.repeat)
            results.append(res)
            show(res)
    print(f"load average (1, 5, 15 min) at the end: {_load()}")
    time_ratio(results)
    rss_ratio(results, "csv")
    # an .xlsx within read.CALAMINE_MAX_BYTES is held whole (bounded, not flat):
    # benchmarks/excel.py measures its memory against that budget and at Excel's largest sheet
    rss_ratio(results, "xlsx", target=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
