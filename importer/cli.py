"""The command line: arguments, progress bar, summary table and exit codes. The only UI module."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .config import (
    REGIONS,
    Settings,
    check_report_path,
    check_url,
    default_report,
    load_credentials,
    region_urls,
    resolve_timezone,
)
from .errors import ImporterError, UsageError
from .mapping import Mapping, load_mapping
from .pipeline import RunSummary, import_file, validate_file

EXIT_OK, EXIT_NOT_ALL, EXIT_NOTHING_DONE, EXIT_INTERRUPTED = 0, 1, 2, 130
STATUS_ORDER = ("valid", "imported", "invalid", "rejected", "failed", "skipped")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """One line, exit 2, as for every other 'nothing was done' problem."""
        self.exit(EXIT_NOTHING_DONE, f"cg-import: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Every command and option, each with its help text."""
    parser = _Parser(
        prog="cg-import",
        description="Import spreadsheets of customer activities into CustomerGauge, "
        "with a report that says for every row whether it got in and why not.",
    )
    parser.add_argument("--version", action="version", version=f"cg-import {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "input", type=Path, metavar="INPUT", help="the .csv or .xlsx file of activities"
        )
        sub.add_argument(
            "--mapping",
            type=Path,
            metavar="FILE.toml",
            help="mapping of the file's headers to API fields (see schemas/profiles/)",
        )
        sub.add_argument(
            "--sheet",
            metavar="NAME",
            help="Excel sheet to read (default: the first, or the mapping's sheet)",
        )
        sub.add_argument(
            "--timezone",
            metavar="ZONE",
            help="zone of timestamps without an offset, e.g. Europe/Berlin (default UTC)",
        )
        sub.add_argument(
            "--report",
            type=Path,
            metavar="PATH",
            help="report file, .csv or .xlsx (default reports/<input>-<UTC time>.csv)",
        )
        sub.add_argument(
            "--quiet",
            action="store_true",
            help="no progress bar and no summary table; the exit code tells",
        )

    check = commands.add_parser("validate", help="check every row, send nothing, write the report")
    common(check)

    run = commands.add_parser("run", help="validate, send the valid rows, write the report")
    common(run)
    run.add_argument(
        "--region",
        choices=REGIONS,
        default="eu",
        help="CustomerGauge region of your account (default eu)",
    )
    run.add_argument("--api-url", metavar="URL", help="activities URL instead of the region's")
    run.add_argument("--token-url", metavar="URL", help="token URL instead of the region's")
    run.add_argument(
        "--rate",
        type=float,
        default=10.0,
        metavar="N",
        help="most requests started per second, 0 = unlimited (default 10)",
    )
    run.add_argument(
        "--concurrency",
        type=int,
        default=8,
        metavar="N",
        help="requests in flight at once (default 8)",
    )
    run.add_argument(
        "--max-attempts",
        type=int,
        default=5,
        metavar="N",
        help="tries per row on server errors and dropped connections (default 5)",
    )
    run.add_argument(
        "--retry-wait",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="first wait before a retry; doubles each time, with jitter (default 0.5)",
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="give up waiting for one answer after this long (default 60)",
    )
    run.add_argument(
        "--max-wait",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="longest Retry-After to obey; the API asking for more stops the run, "
        "--resume continues it later (default 300)",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: same input and --report; sends only "
        "rows without a final outcome",
    )
    run.add_argument(
        "--sandbox",
        action="store_true",
        help="start the local stand-in API and import into it (demo credentials)",
    )

    box = commands.add_parser("sandbox", help="serve a local stand-in of the API for trying things")
    box.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    box.add_argument(
        "--rate-limit",
        type=int,
        default=0,
        metavar="N",
        help="answer 429 above N requests in any second (default off)",
    )
    box.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long before each answer (default 0)",
    )
    box.add_argument(
        "--fail-before",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of requests answered 503 without applying them, e.g. 0.05",
    )
    box.add_argument(
        "--fail-after",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of requests answered 500 after applying them",
    )
    box.add_argument(
        "--drop-after",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of connections dropped after applying the write",
    )
    box.add_argument(
        "--token-lifetime",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="how long access tokens live (default 3600)",
    )
    box.add_argument(
        "--revoke-every",
        type=int,
        default=0,
        metavar="N",
        help="every Nth request revokes all tokens, forcing 401s (default off)",
    )
    box.add_argument("--seed", type=int, default=None, help="random seed for repeatable faults")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sandbox":
            return _sandbox(args)
        settings = _settings(args)
        if args.command == "validate":
            summary = validate_file(settings, _progress(args))
        else:
            summary = asyncio.run(_run(settings, args))
    except ImporterError as err:
        print(f"cg-import: error: {err}", file=sys.stderr)
        return EXIT_NOTHING_DONE
    except KeyboardInterrupt:
        print("cg-import: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # a bug: still one line, the traceback only on request
        if os.environ.get("CG_IMPORT_DEBUG"):
            raise
        print(
            f"cg-import: internal error: {err.__class__.__name__}: {err} "
            "(please report it; set CG_IMPORT_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return EXIT_NOTHING_DONE
    if not args.quiet:
        _print_summary(summary, sys.stdout)
    resume = "  " + _resume_command(argv if argv is not None else sys.argv[1:], settings)
    if summary.interrupted:
        print(
            f"cg-import: interrupted; rows not sent yet are marked skipped. Finish with:\n{resume}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if summary.stopped:
        print(
            f"cg-import: stopped sending: {summary.stopped}. Rows not sent are marked "
            f"skipped; once the API answers again, finish with:\n{resume}",
            file=sys.stderr,
        )
        return EXIT_NOT_ALL
    return EXIT_OK if summary.all_good else EXIT_NOT_ALL


def _settings(args: argparse.Namespace) -> Settings:
    mapping: Mapping | None = load_mapping(args.mapping) if args.mapping else None
    report = args.report
    if report is None and getattr(args, "resume", False):
        report = _latest_report(args.input)
    report = report or default_report(args.input)
    check_report_path(report)
    settings = Settings(
        input=args.input,
        report=report,
        mapping=mapping,
        sheet=args.sheet or (mapping.sheet if mapping else None),
        timezone=resolve_timezone(args.timezone, mapping),
        date_format=mapping.date_format if mapping else None,
        delimiter=mapping.delimiter if mapping else None,
        encoding=mapping.encoding if mapping else None,
    )
    if args.command != "run":
        return settings
    if args.rate < 0:
        raise UsageError("--rate must be 0 (unlimited) or more")
    if args.concurrency < 1 or args.max_attempts < 1:
        raise UsageError("--concurrency and --max-attempts must be at least 1")
    if args.timeout <= 0 or args.retry_wait < 0 or args.max_wait < 0:
        raise UsageError("--timeout must be above 0, --retry-wait and --max-wait 0 or more")
    settings = replace(
        settings,
        rate=args.rate,
        concurrency=args.concurrency,
        max_attempts=args.max_attempts,
        retry_wait=args.retry_wait,
        timeout=args.timeout,
        max_wait=args.max_wait,
        resume=args.resume,
        sandbox=args.sandbox,
    )
    if args.sandbox:
        return settings  # URLs and demo credentials are filled in once the sandbox listens
    api_url, token_url = region_urls(args.region)
    client_id, client_secret = load_credentials()
    return replace(
        settings,
        api_url=check_url(args.api_url or api_url, "--api-url"),
        token_url=check_url(args.token_url or token_url, "--token-url"),
        client_id=client_id,
        client_secret=client_secret,
    )


def _latest_report(input_path: Path) -> Path:
    journals = sorted(
        Path("reports").glob(f"{input_path.stem}-*.journal.sqlite"),
        key=lambda p: p.stat().st_mtime,
    )
    if not journals:
        raise UsageError(
            f"nothing to resume for {input_path.name} in reports/; "
            "pass the interrupted run's --report"
        )
    return journals[-1].with_name(journals[-1].name.removesuffix(".journal.sqlite"))


async def _run(settings: Settings, args: argparse.Namespace) -> RunSummary:
    from .sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxConfig, start

    if not args.sandbox:
        return await import_file(settings, _progress(args))
    running = await start(SandboxConfig())
    try:
        settings = replace(
            settings,
            api_url=running.api_url,
            token_url=running.token_url,
            client_id=DEMO_CLIENT_ID,
            client_secret=DEMO_CLIENT_SECRET,
        )
        if not args.quiet:
            print(f"Sandbox API started on {running.base_url} (nothing leaves this machine)")
        return await import_file(settings, _progress(args))
    finally:
        await running.close()


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxConfig, serve_forever

    config = SandboxConfig(
        token_lifetime=args.token_lifetime,
        rate_limit=args.rate_limit,
        latency=args.latency,
        fail_before=args.fail_before,
        fail_after=args.fail_after,
        drop_after=args.drop_after,
        revoke_every=args.revoke_every,
        seed=args.seed,
    )
    base = f"http://127.0.0.1:{args.port}"
    print(
        f"Sandbox API on {base}  (Ctrl-C to stop)\n"
        f"  demo credentials: CG_CLIENT_ID={DEMO_CLIENT_ID} CG_CLIENT_SECRET={DEMO_CLIENT_SECRET}\n"
        f"  import into it:   cg-import run FILE --api-url {base}/activities "
        f"--token-url {base}/oauth2/token",
        flush=True,
    )
    try:
        asyncio.run(serve_forever(config, args.port))
    except OSError as err:
        print(
            f"cg-import: error: cannot listen on port {args.port} ({err.strerror}); "
            "choose another --port",
            file=sys.stderr,
        )
        return EXIT_NOTHING_DONE
    except KeyboardInterrupt:
        pass
    return EXIT_OK


class _Bar:
    """tqdm on stderr, drawn only for a person at a terminal."""

    def __init__(self) -> None:
        self._bar: Any = None

    def start(self, total: int | None, what: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total or None,
            unit=" rows",
            desc=what,
            file=sys.stderr,
            dynamic_ncols=True,
            smoothing=0.1,
        )

    def advance(self, rows: int) -> None:
        if self._bar is not None:
            self._bar.update(rows)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _progress(args: argparse.Namespace) -> _Bar | None:
    return _Bar() if not args.quiet and sys.stderr.isatty() else None


def _print_summary(summary: RunSummary, out: TextIO) -> None:
    title = (
        "checked" if summary.command == "validate" else "imported into " + (summary.api_host or "")
    )
    print(f"\n{summary.input} {title}", file=out)
    statuses = [s for s in STATUS_ORDER if summary.counts.get(s)]
    statuses += sorted(set(summary.counts) - set(STATUS_ORDER))
    for status in statuses:
        print(f"  {status:<10} {summary.counts[status]:>9,}", file=out)
    print(f"  {'rows':<10} {summary.rows:>9,}", file=out)
    if summary.blank_rows:
        print(f"  blank rows skipped (not activities): {summary.blank_rows:,}", file=out)
    if summary.command == "run" and summary.send_seconds:
        print(f"  speed      {summary.rows_per_second:>9,.1f} rows/s", file=out)
    print(f"Report:     {summary.report}", file=out)
    if summary.retry_file and summary.interrupted:
        print(f"Retry file: {summary.retry_file}  (so far; --resume sends the rest)", file=out)
    elif summary.retry_file:
        print(f"Retry file: {summary.retry_file}  (fix these rows, then run this file)", file=out)
    elif summary.command == "validate" and not summary.all_good:
        print("Fix the rows marked invalid (see the errors column), then validate again.", file=out)


def _resume_command(argv: Sequence[str], settings: Settings) -> str:
    """The command that was run, with its report named and --resume: it must be the same."""
    words = [str(word) for word in argv]
    if "--report" not in words and not any(w.startswith("--report=") for w in words):
        words += ["--report", str(settings.report)]
    if "--resume" not in words:
        words.append("--resume")
    return shlex.join(["cg-import", *words])


__all__ = ["build_parser", "main"]
