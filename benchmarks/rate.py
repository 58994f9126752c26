"""Rate limiting: does ``--rate 100`` reach 100 rows/s without tripping the API's limit?

A sandbox process on 127.0.0.1 with ``--rate-limit 100 --latency 0.02`` (at most 100
requests in any sliding second, else 429 with Retry-After); the importer runs 3,000 rows
with ``--rate 100 --concurrency 16``. Prints achieved rows/s (summary.json
``rows_per_second``), the 429s (sandbox ``throttled``), their share of all requests, and
the most requests that arrived at the sandbox in any sliding second, 429s included
(``peak_per_second``).

Targets: ≥ 98 rows/s (98 % of the limit), ≤ 1 % of requests answered 429 (0 expected on
loopback), peak ≤ 100.

    python benchmarks/rate.py [--rows 3000]
"""

from __future__ import annotations

import argparse
import sys

from _common import (
    SandboxProcess,
    importer_command,
    run_importer,
    verdict,
    workdir,
    write_csv,
)

RATE, LIMIT, LATENCY, CONCURRENCY = 100, 100, 0.02, 16
MIN_ROWS_PER_SECOND, MAX_429_SHARE, MAX_PEAK = 98.0, 0.01, 100


def main() -> int:
    parser = argparse.ArgumentParser(description="importer under a 100/s API rate limit")
    parser.add_argument("--rows", type=int, default=3_000)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument(
        "--no-peak-check",
        action="store_true",
        help="skip the second run against a sandbox without a limit (the importer's own peak)",
    )
    args = parser.parse_args()

    with workdir(args.keep) as tmp:
        data = write_csv(tmp / "activities.csv", args.rows)
        report = tmp / "rate.csv"
        flags = ["--rate", RATE, "--concurrency", CONCURRENCY]
        with SandboxProcess(tmp, rate_limit=LIMIT, latency=LATENCY) as box:
            print(
                f"rate: {args.rows:,} rows; sandbox --rate-limit {LIMIT} --latency {LATENCY}; "
                f"importer --rate {RATE} --concurrency {CONCURRENCY}"
            )
            shown = importer_command("run", data, "--report", report, *flags, box=box)
            print(f"  command: {' '.join(shown)}", flush=True)
            timeout = max(600, args.rows)
            result, stats, summary = run_importer(
                box, data, report, *flags, timeout=timeout, allowed=(0, 1)
            )
        free_peak = None
        if not args.no_peak_check:
            # the same run without a limit: how many the importer starts when nothing
            # pushes back
            free_report = tmp / "rate-nolimit.csv"
            with SandboxProcess(tmp, latency=LATENCY) as free_box:
                _, free_stats, free_summary = run_importer(
                    free_box, data, free_report, *flags, timeout=timeout, allowed=(0, 1)
                )
                free_peak = int(free_stats["peak_per_second"])
            free_rps = float(free_summary["rows_per_second"])

    achieved = float(summary["rows_per_second"])
    puts = int(stats["puts"])
    throttled = int(stats["throttled"])
    share = throttled / puts if puts else 0.0
    peak = int(stats["peak_per_second"])
    print(f"  exit code {result.returncode}; counts {summary['counts']}; whole process "
          f"{result.wall:.1f} s")  # fmt: skip
    print(f"  sandbox: PUTs {puts:,}, created {stats['created']:,}, duplicates "
          f"{stats['duplicates']}, by status {stats['by_status']}")  # fmt: skip
    span = (stats["last_put"] or 0) - (stats["first_put"] or 0)
    if span > 0:
        phase = args.rows / achieved if achieved else 0.0
        print(f"  sandbox-side: first to last PUT {span:.2f} s = {(puts - 1) / span:.1f} "
              f"requests/s; send phase {phase:.2f} s")  # fmt: skip
    print(f"achieved rows/s        {achieved:8.1f}   target ≥ {MIN_ROWS_PER_SECOND:g}: "
          f"{verdict(achieved >= MIN_ROWS_PER_SECOND)}")  # fmt: skip
    when = ", ".join(f"{t:.2f}" for t in stats.get("throttled_at", [])[:10])
    print(f"429 answers            {throttled:8d}" + (f"   (at {when} s)" if when else ""))
    print(f"share of requests 429  {share:8.2%}   target ≤ {MAX_429_SHARE:.0%}: "
          f"{verdict(share <= MAX_429_SHARE)}")  # fmt: skip
    print(f"peak requests / second {peak:8d}   target ≤ {MAX_PEAK}: {verdict(peak <= MAX_PEAK)}"
          "   (arrived, 429s included)")  # fmt: skip
    if free_peak is not None:
        print(f"same run, sandbox without a limit: peak {free_peak} requests in one second "
              f"(target ≤ {MAX_PEAK}: {verdict(free_peak <= MAX_PEAK)}), "
              f"{free_rps:.1f} rows/s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
