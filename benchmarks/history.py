"""History: ``run --only-changed`` of a file the history holds whole, against ``validate``.

A generated CSV of 1,000,000 valid rows, and a history holding those 1,000,000 references
with their payload hashes (built through ``History.record_many``, chunk by chunk, before
timing). Then, alternating, ``--repeat`` rounds (3), each command in a process of its own:
- (a) ``python -m importer validate FILE --report TMP.csv --quiet``;
- (c) the real thing: ``python -m importer run FILE --history H --only-changed`` against a
  sandbox process (the history is built for that sandbox's API and the demo client), which
  sends nothing, as every row is unchanged: start-up, token, the checks (with the history's
  lookups, in the checking process), the journal and the report;
- with ``--check-path``, also (b): read and validate every chunk with the bodies built
  (``Validator(..., payloads=True)``), ``ChunkResult.payload_hashes()``, and
  ``History.unchanged`` for every sendable row (``check_command``), in one process: the
  split of the work into reading + validating, hashing and looking up.
Prints, side by side, the medians of the wall times, the CPU seconds (user + system, of the
command and its children: on a busy machine the wall time follows them), the peak RSS
(its largest process), the extra seconds of (c) over (a), and the ratio (c) ÷ (a) of the
medians (target ≤ 1.5); the history's size on disk. Every row of (c) (and (b)) must come
out unchanged, as the history holds exactly this file.

    python benchmarks/history.py [--rows 1000000] [--repeat 3] [--check-path [--with-bodies]]
        [--keep]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from _common import (
    DEMO_ENV,
    PYTHON,
    Measurement,
    SandboxProcess,
    fmt_mb,
    importer_command,
    measure,
    read_summary,
    verdict,
    workdir,
    write_csv,
)

from importer.history import History
from importer.mapping import plan_columns
from importer.read import open_table
from importer.validate import ChunkResult, Validator

TARGET = 1.5
CLIENT_ID = DEMO_ENV["CG_CLIENT_ID"]
CHUNK_ROWS = 20_000  # the pipeline's default chunk


def check_command(data: Path, history: Path, api: str, with_bodies: bool) -> list[str]:
    """(b): the check alone, timed step by step."""
    return [PYTHON, __file__, "--check", str(data), str(history), api] + (
        ["--with-bodies"] if with_bodies else []
    )


def run_command(data: Path, history: Path, box: SandboxProcess, report: Path) -> list[str]:
    """(c): the real run that checks every row against the history and sends none."""
    return importer_command(
        "run", data, "--history", history, "--only-changed", "--rate", "0", "--report", report,
        box=box,
    )  # fmt: skip


def _checked_chunks(data: Path) -> Iterator[tuple[ChunkResult, float]]:
    """Every chunk of ``data`` read and validated as a run does, with its read+check seconds."""
    table = open_table(data)
    validator = Validator(plan_columns(table.headers, None, data.name), payloads=True)
    chunks = table.chunks(CHUNK_ROWS)
    while True:
        started = time.perf_counter()
        chunk = next(chunks, None)
        if chunk is None:
            return
        result = validator.check(chunk)
        yield result, time.perf_counter() - started


def build_history(data: Path, history: Path, api: str) -> float:
    """The history a run of ``data`` would leave: every row imported; seconds taken."""
    started = time.perf_counter()
    with History(history, api, CLIENT_ID) as store:
        for result, _ in _checked_chunks(data):
            references = result.sendable["reference"].tolist()
            store.record_many(
                (
                    (reference, digest, str(1_000_000 + i))
                    for i, (reference, digest) in enumerate(
                        zip(references, result.payload_hashes(), strict=True)
                    )
                ),
                data.name,
            )
    return time.perf_counter() - started


def check(data: Path, history: Path, api: str, with_bodies: bool) -> None:
    """(b), in the child process: prints rows, unchanged rows and where the time went."""
    rows = unchanged = 0
    seconds = {"read_validate": 0.0, "bodies": 0.0, "hashes": 0.0, "lookup": 0.0}
    with History(history, api, CLIENT_ID) as store:
        for result, checked in _checked_chunks(data):
            seconds["read_validate"] += checked
            started = time.perf_counter()
            if with_bodies:
                list(result.payloads())  # what the pipeline builds today before sending
            hashed = time.perf_counter()
            hashes = result.payload_hashes()
            looked = time.perf_counter()
            found = store.unchanged(result.sendable["reference"].tolist(), hashes)
            done = time.perf_counter()
            seconds["bodies"] += hashed - started
            seconds["hashes"] += looked - hashed
            seconds["lookup"] += done - looked
            rows += len(result.outcomes)
            unchanged += sum(hit is not None for hit in found)
    print(json.dumps({"rows": rows, "unchanged": unchanged, "seconds": seconds}))


def _median_run(runs: list[Measurement]) -> Measurement:
    return sorted(runs, key=lambda run: run.wall)[len(runs) // 2]


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[Measurement, float]:
    """``measure(cmd)`` and the CPU seconds it took, its children's included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = measure(cmd, env=env, timeout=1800).check()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return result, cpu


def _line(name: str, runs: list[tuple[Measurement, float]]) -> str:
    wall = statistics.median(m.wall for m, _ in runs)
    cpu = statistics.median(c for _, c in runs)
    peak = max(m.peak_rss_kb or 0 for m, _ in runs)
    each = ", ".join(f"{m.wall:.1f}" for m, _ in runs)
    return (
        f"  {name:24s} {wall:7.2f} s   CPU {cpu:6.2f} s   peak RSS {fmt_mb(peak):>9}   runs {each}"
    )


def bench(tmp: Path, rows: int, repeat: int, check_path: bool, with_bodies: bool) -> int:
    data = tmp / f"history-{rows}.csv"
    history = tmp / "history.sqlite"
    report = tmp / "validate-report.csv"
    started = time.perf_counter()
    write_csv(data, rows)
    print(f"  generated {rows:,} rows ({data.stat().st_size / 2**20:,.1f} MB) "
          f"in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    with SandboxProcess(tmp) as box:
        built = build_history(data, history, box.api_url)
        size = sum(p.stat().st_size for p in tmp.glob("history.sqlite*"))
        print(f"  history of {rows:,} references built in {built:.1f} s (History.record_many)",
              flush=True)  # fmt: skip
        validate_cmd = importer_command("validate", data, "--report", report)
        validate_cmd.append("--quiet")
        check_cmd = check_command(data, history, box.api_url, with_bodies)
        validates: list[tuple[Measurement, float]] = []
        checks: list[tuple[Measurement, float]] = []
        runs: list[tuple[Measurement, float]] = []
        run_counts: list[dict[str, int]] = []
        for number in range(repeat):  # alternate, so all see the same machine noise
            validates.append(_timed(validate_cmd))
            run_report = tmp / f"run-{number}.csv"
            runs.append(_timed(run_command(data, history, box, run_report), DEMO_ENV))
            run_counts.append(read_summary(run_report)["counts"])
            if check_path:
                checks.append(_timed(check_cmd))
    a = statistics.median(m.wall for m, _ in validates)
    c = statistics.median(m.wall for m, _ in runs)
    ratio = c / a
    all_unchanged = all(counts == {"unchanged": rows} for counts in run_counts)
    lines = [_line("(a) validate", validates), _line("(c) run --only-changed", runs)]
    if checks:
        inner = json.loads(_median_run([m for m, _ in checks]).stdout.strip().splitlines()[-1])
        split = ", ".join(f"{k.replace('_', ' + ')} {v:.1f} s" for k, v in inner["seconds"].items())
        lines.append(_line("(b) check path alone", checks))
        lines.append(f"      inside (b): {split}")
        all_unchanged = all_unchanged and inner["unchanged"] == inner["rows"] == rows
    extra_cpu = statistics.median(c for _, c in runs) - statistics.median(c for _, c in validates)
    print(
        "\n".join(lines) + "\n"
        f"      unchanged in (c): {run_counts[-1]}: {'OK' if all_unchanged else 'MISMATCH'}\n"
        f"  history on disk {size / 2**20:,.1f} MB ({size / rows:,.0f} bytes a reference)\n"
        f"  (c) - (a): {c - a:+.2f} s wall, {extra_cpu:+.2f} s CPU\n"
        f"(c) ÷ (a): {ratio:.2f}x   target ≤ {TARGET}: {verdict(ratio <= TARGET)}"
        f"   (medians of {repeat} alternating rounds)",
        flush=True,
    )
    return 0 if all_unchanged else 1


def main() -> int:
    parser = argparse.ArgumentParser(description="history check vs validate")
    parser.add_argument("--rows", type=lambda s: int(s.replace("_", "")), default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (medians)")
    parser.add_argument(
        "--check-path", action="store_true", help="(b): the check path alone, step by step"
    )
    parser.add_argument(
        "--with-bodies", action="store_true", help="(b) also builds every JSON body"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--check", nargs=3, metavar=("FILE", "HISTORY", "API"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.check:
        data, history, api = args.check
        check(Path(data), Path(history), api, args.with_bodies)
        return 0
    with workdir(args.keep) as tmp:
        print(f"history: {args.rows:,} rows against a history of {args.rows:,}")
        print(
            f"  (a) {PYTHON} -m importer validate FILE --report TMP.csv --quiet\n"
            f"  (c) {PYTHON} -m importer run FILE --history H --only-changed --api-url SANDBOX"
            + (
                f"\n  (b) {' '.join(check_command(Path('F'), Path('H'), 'API', args.with_bodies))}"
                if args.check_path
                else ""
            ),
            flush=True,
        )
        return bench(tmp, args.rows, args.repeat, args.check_path, args.with_bodies)


if __name__ == "__main__":
    sys.exit(main())
