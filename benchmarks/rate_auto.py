"""``--rate auto``: how much of an API's announced budget it uses, and how many 429s it costs.

Three sandbox processes on 127.0.0.1 (``--latency 0.02``), each a budget the importer is
not told about, only announced in ``X-RateLimit-Limit`` / ``-Remaining`` headers as
Laravel APIs do:
- 100 requests per sliding second (``--rate-limit 100``);
- 600 requests per sliding minute (``--rate-limit 600 --rate-limit-window 60``);
- 100 per second without any headers (``--no-rate-headers``): only 429s teach it.
The importer runs ``--rate auto --concurrency 16`` over enough rows for each (the minute
budget needs more than a minute). Prints, per budget: achieved rows/s (summary.json,
sent rows over the send phase) as a share of the budget, and 429s as a share of requests.

Targets (per issue #11): ≥ 90 % of the budget with ≤ 1 % of requests answered 429, for the
per-second and the per-minute budget; the header-less case is shown for reference.

    python benchmarks/rate_auto.py [--seconds-rows 3000] [--minute-rows 1500] [--skip-minute]
"""

from __future__ import annotations

import argparse
import sys

from _common import (
    SandboxProcess,
    run_importer,
    verdict,
    workdir,
    write_csv,
)

LATENCY, CONCURRENCY = 0.02, 16
MIN_SHARE, MAX_429_SHARE = 0.90, 0.01


def one(tmp, name: str, rows: int, limit: int, window: float, headers: bool) -> bool:
    """Run ``--rate auto`` against one budget; print its line; whether it met the targets."""
    slug = name.replace("/", "-").replace(" ", "-").replace(",", "")
    data = write_csv(tmp / f"{slug}.csv", rows)
    report = tmp / f"{slug}-report.csv"
    budget = limit / window
    with SandboxProcess(
        tmp, rate_limit=limit, rate_limit_window=window, rate_headers=headers, latency=LATENCY
    ) as box:
        flags = ["--rate", "auto", "--concurrency", CONCURRENCY]
        result, stats, summary = run_importer(
            box, data, report, *flags, timeout=max(900, rows), allowed=(0, 1)
        )
    achieved = float(summary["rows_per_second"])
    puts, throttled = int(stats["puts"]), int(stats["throttled"])
    share = achieved / budget
    rejected = throttled / puts if puts else 0.0
    met = share >= MIN_SHARE and rejected <= MAX_429_SHARE
    print(
        f"{name:<22} budget {limit} per {window:g} s = {budget:6.1f}/s   achieved "
        f"{achieved:6.1f} rows/s = {share:6.1%} (target ≥ {MIN_SHARE:.0%})   429s {throttled} of "
        f"{puts:,} = {rejected:.2%} (target ≤ {MAX_429_SHARE:.0%})   "
        f"{verdict(met) if headers else '(reference)'}   exit {result.returncode}, "
        f"{result.wall:.0f} s",
        flush=True,
    )
    return met or not headers


def main() -> int:
    parser = argparse.ArgumentParser(description="--rate auto against announced budgets")
    parser.add_argument("--seconds-rows", type=int, default=3_000)
    parser.add_argument("--minute-rows", type=int, default=1_500)
    parser.add_argument("--skip-minute", action="store_true", help="skip the 2.5-minute run")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    print(f"rate auto: importer --rate auto --concurrency {CONCURRENCY}; sandbox latency "
          f"{LATENCY} s", flush=True)  # fmt: skip
    with workdir(args.keep) as tmp:
        ok = one(tmp, "100 per second", args.seconds_rows, 100, 1.0, True)
        if not args.skip_minute:
            ok &= one(tmp, "600 per minute", args.minute_rows, 600, 60.0, True)
        one(tmp, "100/s, no headers", args.seconds_rows, 100, 1.0, False)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
