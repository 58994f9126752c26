"""Throughput: the importer against a bare aiohttp client, same rows, same sandbox.

30,000 valid rows; a sandbox process on 127.0.0.1 with no rate limit and no latency, fresh
for every run (so both sides create every activity). Rounds alternate importer / bare:

- importer: ``python -m importer run FILE --rate 0 --concurrency 32 --report … --quiet``;
  rows/s = ``rows_per_second`` of ``<report>.summary.json`` (sent rows ÷ send seconds),
  plus the whole command's wall time;
- bare: ``benchmarks/_bare_client.py`` in its own process, one session, 32 workers, the
  same bodies pre-built from the CSV before timing; rows/s over the PUTs only.

Prints every run, the medians and two ratios importer ÷ bare, each the median of the
rounds' own ratios (a round's two runs are neighbours in time, so drift cancels): of the
whole process, wall time against wall time (target ≥ 0.92: start-up, reading, validation
and the report included on the importer's side; reading pre-built bodies on the bare
side), and rows/s of the send phase (the importer's workers against the bare client's,
each including what it does per row; the earlier target, ≥ 0.92, printed beside it). Also
the time each process spends outside the sandbox's first-to-last PUT span (start-up before
the first request, and what follows the last): where the whole process loses to the bare
client.

    python benchmarks/throughput.py [--rows 30000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _common import (
    DEMO_ENV,
    PYTHON,
    Measurement,
    SandboxProcess,
    csv_bodies,
    measure,
    median,
    run_importer,
    verdict,
    workdir,
    write_csv,
)

HERE = Path(__file__).resolve().parent
TARGET = 0.92


def importer_round(tmp: Path, data: Path, rows: int, rnd: int, concurrency: int) -> dict:
    report = tmp / f"importer-round{rnd}.csv"
    with SandboxProcess(tmp) as box:
        flags = ["--rate", "0", "--concurrency", concurrency]
        result, stats, summary = run_importer(box, data, report, *flags)
    imported = summary["counts"].get("imported", 0)
    if imported != rows or stats["created"] != rows or stats["duplicates"]:
        raise RuntimeError(f"importer round {rnd}: counts {summary['counts']}, sandbox {stats}")
    return _figures(float(summary["rows_per_second"]), result, rows, stats)


def bare_round(tmp: Path, bodies: Path, rows: int, rnd: int, concurrency: int) -> dict:
    with SandboxProcess(tmp) as box:
        cmd = [
            PYTHON, str(HERE / "_bare_client.py"), str(bodies),
            "--api-url", box.api_url, "--token-url", box.token_url,
            "--concurrency", str(concurrency),
        ]  # fmt: skip
        result = measure(cmd, env=DEMO_ENV, timeout=900).check()
        stats = box.stats()
    out = json.loads(result.stdout.strip().splitlines()[-1])
    if out["statuses"] != {"200": rows} or stats["created"] != rows:
        raise RuntimeError(f"bare round {rnd}: statuses {out['statuses']}, sandbox {stats}")
    return _figures(float(out["rows_per_second"]), result, rows, stats)


def _figures(rows_per_second: float, result: Measurement, rows: int, stats: dict) -> dict:
    """One round's figures, the same for the importer and the bare client."""
    return {
        "rows_per_second": rows_per_second,
        "wall": result.wall,
        "wall_rows_per_second": rows / result.wall,
        "created": stats["created"],
        "span": (stats["last_put"] or 0) - (stats["first_put"] or 0),
        "puts": stats["puts"],
        "cmd": result.cmd,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="importer vs bare aiohttp throughput")
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()

    with workdir(args.keep) as tmp:
        data = write_csv(tmp / "activities.csv", args.rows)
        bodies = tmp / "bodies.jsonl"
        with bodies.open("w", encoding="utf-8") as handle:
            for body in csv_bodies(data):
                handle.write(json.dumps(body) + "\n")
        print(
            f"throughput: {args.rows:,} rows, concurrency {args.concurrency}, "
            f"{args.rounds} rounds, fresh sandbox process per run (127.0.0.1, no limit/latency)"
        )
        importer: list[dict] = []
        bare: list[dict] = []
        for rnd in range(1, args.rounds + 1):
            for name, func, into, source in (
                ("importer", importer_round, importer, data),
                ("bare", bare_round, bare, bodies),
            ):
                res = func(tmp, source, args.rows, rnd, args.concurrency)
                into.append(res)
                if rnd == 1:
                    print(f"  {name} command: {' '.join(res['cmd'])}")
                phase = "send phase" if name == "importer" else "PUTs only"
                print(
                    f"  round {rnd} {name:<8} {res['rows_per_second']:>8,.0f} rows/s ({phase})"
                    f"   whole process {res['wall']:6.2f} s = {res['wall_rows_per_second']:>6,.0f}"
                    f" rows/s   sandbox: created {res['created']:,}, PUTs {res['puts']:,}"
                    f" in {res['span']:.2f} s",
                    flush=True,
                )
        imp = median([r["rows_per_second"] for r in importer])
        bar = median([r["rows_per_second"] for r in bare])
        imp_wall = median([r["wall"] for r in importer])
        bare_wall = median([r["wall"] for r in bare])
        # each round's importer run and bare run are neighbours in time: their ratio
        # cancels the machine's drift, so the median of those ratios is the headline
        sends = [
            i["rows_per_second"] / b["rows_per_second"] for i, b in zip(importer, bare, strict=True)
        ]
        walls = [b["wall"] / i["wall"] for i, b in zip(importer, bare, strict=True)]
        ratio, whole = median(sends), median(walls)
        outside = [median([r["wall"] - r["span"] for r in side]) for side in (importer, bare)]
        print(f"median importer  {imp:>8,.0f} rows/s (send phase)   whole process {imp_wall:.2f} s")
        print(
            f"median bare      {bar:>8,.0f} rows/s (PUTs only)    whole process {bare_wall:.2f} s"
        )
        print(
            f"ratio of the medians (send phase) {imp / bar:.2f}; per round: "
            + ", ".join(f"{r:.2f}" for r in sends)
        )
        print(
            f"outside the PUT span (start-up, the first request, the end): importer "
            f"{outside[0]:.2f} s, bare {outside[1]:.2f} s (medians)"
        )
        print(
            f"ratio importer ÷ bare (send phase, median of rounds)    {ratio:.2f}   "
            f"target ≥ {TARGET}: {verdict(ratio >= TARGET)}"
        )
        print(
            f"ratio importer ÷ bare (whole process, median of rounds) {whole:.2f}   "
            f"target ≥ {TARGET}: {verdict(whole >= TARGET)}   per round: "
            + ", ".join(f"{r:.2f}" for r in walls)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
