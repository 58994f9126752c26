"""The command line: arguments, progress bar, summary table and exit codes. The only UI module."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO, TypeVar

from . import __version__
from .config import (
    ENDPOINT_OPTIONS,
    REGIONS,
    Settings,
    check_report_path,
    check_url,
    default_report,
    load_config,
    load_credentials,
    region_urls,
    resolve_timezone,
)
from .errors import AuthError, ImporterError, SendingStopped, UsageError, internal_error
from .journal import runs_of
from .mapping import Mapping, load_mapping
from .outcome import STATUS_ORDER
from .pipeline import RunSummary, import_file, validate_file
from .report import RETRY_FORMATS

EXIT_OK, EXIT_NOT_ALL, EXIT_NOTHING_DONE, EXIT_INTERRUPTED = 0, 1, 2, 130
T = TypeVar("T")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """One line, exit 2, as for every other 'nothing was done' problem."""
        self.exit(EXIT_NOTHING_DONE, f"cg-import: error: {message} (see: {self.prog} --help)\n")


def build_parser(defaults: dict[str, dict[str, Any]] | None = None) -> argparse.ArgumentParser:
    """Every command and option, each with its help text; ``defaults`` (per command, from a
    config file) replace the built-in defaults."""
    parser = _Parser(
        prog="cg-import",
        description="Import spreadsheets of customer activities into CustomerGauge, "
        "with a report that says for every row whether it got in and why not.",
    )
    parser.add_argument("--version", action="version", version=f"cg-import {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    check = commands.add_parser("validate", help="check every row, send nothing, write the report")
    _input_options(check, one_file=True)

    run = commands.add_parser("run", help="validate, send the valid rows, write the report")
    _input_options(run, one_file=True)
    _sending_options(run)
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: same input and --report; sends only "
        "rows without a final outcome",
    )
    run.add_argument(
        "--retry-format",
        choices=RETRY_FORMATS,
        default="xlsx",
        help="the retry file of rows to fix and resend: xlsx (bad cells marked, errors as "
        "comments; default) or csv (for machines)",
    )
    run.add_argument(
        "--history",
        type=Path,
        metavar="PATH",
        help="remember every imported row's payload in this history (as inbox does)",
    )
    run.add_argument(
        "--only-changed",
        action="store_true",
        help="with --history: send only new and changed rows; unchanged ones are reported "
        "'unchanged' with their activity ID",
    )

    inbox = commands.add_parser(
        "inbox", help="import every settled file dropped in a folder (for scheduled jobs)"
    )
    inbox.add_argument(
        "folder",
        type=Path,
        metavar="DIR",
        nargs="?",
        help="the drop folder (default: the config file's inbox)",
    )
    _input_options(inbox, one_file=False)
    _sending_options(inbox)
    _inbox_options(inbox)

    _init_command(commands)
    _sandbox_command(commands)
    for name, values in (defaults or {}).items():
        commands.choices[name].set_defaults(**values)
    return parser


def _input_options(sub: argparse.ArgumentParser, *, one_file: bool) -> None:
    """How input files are read (and, for one file, where its report goes)."""
    if one_file:
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
        help="Excel sheet to read (default: the active one, or the mapping's sheet)",
    )
    sub.add_argument(
        "--timezone",
        metavar="ZONE",
        help="zone of timestamps without an offset, e.g. Europe/Berlin (default UTC)",
    )
    if one_file:
        sub.add_argument(
            "--report",
            type=Path,
            metavar="PATH",
            help="report file, .csv or .xlsx (default reports/<input>-<UTC time>.csv, "
            ".xlsx for an Excel input)",
        )
    sub.add_argument(
        "--config",
        type=Path,
        metavar="FILE.toml",
        help="settings a scheduled job repeats, in a file only you can write (default "
        "$XDG_CONFIG_HOME/cg-import/config.toml, i.e. ~/.config/cg-import/config.toml, if it "
        "exists; never one in the working folder); options given here override it",
    )
    sub.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar and no summary table; the exit code tells",
    )


def _sending_options(sub: argparse.ArgumentParser) -> None:
    """Where and how fast rows are sent."""
    sub.add_argument(
        "--region",
        choices=REGIONS,
        default="eu",
        help="CustomerGauge region of your account (default eu)",
    )
    sub.add_argument("--api-url", metavar="URL", help="activities URL instead of the region's")
    sub.add_argument("--token-url", metavar="URL", help="token URL instead of the region's")
    sub.add_argument(
        "--rate",
        type=_rate,
        default=10.0,
        metavar="N",
        help="most requests started per second, 0 = unlimited, or auto: learn the API's "
        "budget from its X-RateLimit headers, else climb carefully (default 10)",
    )
    sub.add_argument(
        "--concurrency",
        type=int,
        default=8,
        metavar="N",
        help="requests in flight at once (default 8)",
    )
    sub.add_argument(
        "--max-attempts",
        type=int,
        default=5,
        metavar="N",
        help="tries per row on server errors and dropped connections (default 5)",
    )
    sub.add_argument(
        "--retry-wait",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="first wait before a retry; doubles each time, with jitter (default 0.5)",
    )
    sub.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="give up waiting for one answer after this long (default 60)",
    )
    sub.add_argument(
        "--max-wait",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="longest Retry-After to obey; the API asking for more stops the run, "
        "--resume continues it later (default 300)",
    )
    sub.add_argument(
        "--stall-limit",
        type=float,
        default=10.0,
        metavar="MINUTES",
        help="stop sending when rows wait for the API and none was imported for this "
        "long (an outage or a throttle without end); --resume continues later "
        "(default 10; 0: never)",
    )
    sub.add_argument(
        "--sandbox",
        action="store_true",
        help="start the local stand-in API and import into it (demo credentials)",
    )


def _inbox_options(sub: argparse.ArgumentParser) -> None:
    """What a drop-folder run adds: where reports go, when a file is settled, who hears."""
    sub.add_argument(
        "--reports",
        type=Path,
        metavar="DIR",
        help="folder for the reports, never inside DIR nor a link (default DIR-reports, "
        "beside DIR)",
    )
    sub.add_argument(
        "--history",
        type=Path,
        metavar="PATH",
        help="the history of imported rows (default: history.sqlite in the reports folder)",
    )
    sub.add_argument(
        "--settle",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="leave files modified less than this long ago (still being written; default 60)",
    )
    sub.add_argument(
        "--resend-all",
        action="store_true",
        help="send every row, even those the history says are unchanged",
    )
    sub.add_argument(
        "--log-file",
        type=Path,
        metavar="PATH",
        help="append one JSON line per file and per run, however the run ends (for "
        "monitoring); checked before any file is touched",
    )
    sub.add_argument(
        "--notify",
        action="append",
        metavar="URL",
        help="Apprise URL to tell after each run that handled a file (repeatable), "
        "e.g. mailtos://…, a Slack or Teams URL, json://host/path",
    )


def _init_command(commands: Any) -> None:
    init = commands.add_parser(
        "init", help="propose a mapping file for an export (columns, date format)"
    )
    init.add_argument("input", type=Path, metavar="INPUT", help="the .csv or .xlsx export")
    init.add_argument("--sheet", metavar="NAME", help="Excel sheet to read (default: the active)")
    init.add_argument(
        "--output",
        type=Path,
        default=Path("mapping.toml"),
        metavar="FILE.toml",
        help="where to write the mapping (default mapping.toml)",
    )
    init.add_argument("--force", action="store_true", help="overwrite --output if it exists")


def _init(args: argparse.Namespace) -> int:
    """``cg-import init``: write a proposed mapping, then say how the sample fares with it."""
    from .assistant import check_sample, propose, render, summary_lines

    output: Path = args.output
    if output.exists() and not args.force:
        raise UsageError(f"{output} already exists; pass --force to overwrite it, or --output")
    if output.exists() and output.resolve() == args.input.resolve():
        raise UsageError(f"--output {output} is the input file; name another file")
    proposal = propose(args.input, sheet=args.sheet)
    try:
        output.write_text(render(proposal), encoding="utf-8")
    except OSError as err:
        raise UsageError(
            f"cannot write {output} ({err.strerror}); choose another --output"
        ) from None
    for line in summary_lines(proposal, output, check_sample(proposal, output)):
        print(line)
    if proposal.missing:
        print(
            f"cg-import: {', '.join(proposal.missing)}: no column found; fill in {output}",
            file=sys.stderr,
        )
        return EXIT_NOT_ALL
    return EXIT_OK


def _rate(text: str) -> float | str:
    """``--rate``: requests a second, or ``auto``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number nor auto") from None


def _sandbox_command(commands: Any) -> None:
    box = commands.add_parser("sandbox", help="serve a local stand-in of the API for trying things")
    box.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    box.add_argument(
        "--rate-limit",
        type=int,
        default=0,
        metavar="N",
        help="answer 429 above N requests in any sliding window (default off)",
    )
    box.add_argument(
        "--rate-limit-window",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="the window --rate-limit counts over: 1 = per second (default), 60 = per minute",
    )
    box.add_argument(
        "--no-rate-headers",
        action="store_true",
        help="do not announce the budget in X-RateLimit-* headers (like APIs that do not)",
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    words = list(argv) if argv is not None else sys.argv[1:]
    args = build_parser().parse_args(words)
    try:
        if args.command == "sandbox":
            return _sandbox(args)
        if args.command == "init":
            return _init(args)
        args = _with_config(args, words)
        if args.command == "inbox":
            return _inbox(args)
        settings = _settings(args)
        if args.command == "validate":
            summary = validate_file(settings, _progress(args))
        else:
            summary = _until_done(_run(settings, args, import_file))
    except SendingStopped as stop:
        # what the journal holds was done: 1 once rows were imported, but refused
        # credentials need a person whatever was done (2)
        print(f"cg-import: error: {stop}", file=sys.stderr)
        if stop.imported:
            print(
                f"cg-import: rows not sent are marked skipped; finish with:\n  "
                f"{_resume_command(words, settings)}",
                file=sys.stderr,
            )
        if stop.imported and not isinstance(stop.cause, AuthError):
            return EXIT_NOT_ALL
        return EXIT_NOTHING_DONE
    except ImporterError as err:
        print(f"cg-import: error: {err}", file=sys.stderr)
        return EXIT_NOTHING_DONE
    except KeyboardInterrupt:
        print("cg-import: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # a bug: still one line, the traceback only on request
        if os.environ.get("CG_IMPORT_DEBUG"):
            raise
        print(f"cg-import: {_masked(internal_error(err))}", file=sys.stderr)
        return EXIT_NOTHING_DONE
    for warning in summary.warnings:
        print(f"cg-import: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        _print_summary(summary, sys.stdout)
    resume = "  " + _resume_command(words, settings)
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


def _until_done(work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(work)``, except that once ``work`` has its result, a failure to tidy
    the loop up (no thread left for the executor's shutdown under a memory limit) changes
    nothing of what was done: the result stands."""
    runner = asyncio.Runner()
    try:
        result = runner.run(work)
    except BaseException:
        runner.close()
        raise
    with contextlib.suppress(Exception):  # the run is over: its outcome is decided
        runner.close()
    return result


def _with_config(args: argparse.Namespace, words: list[str]) -> argparse.Namespace:
    """The options again, with the config file's values as defaults: the command line wins.

    Where rows go is one decision: any of --region, --api-url, --token-url or --sandbox on
    the command line sets it whole, and the file's region and URLs are ignored.
    """
    path, config = load_config(args.config)
    args.config_file = path
    if path is None:
        return args
    if not args.quiet and not config.get("quiet"):
        print(f"cg-import: settings from {path} (options on the command line win)", file=sys.stderr)
    if _given(args, words, ENDPOINT_OPTIONS):
        config = {key: value for key, value in config.items() if key not in ENDPOINT_OPTIONS}
    known = {key: value for key, value in config.items() if key in vars(args)}
    if not known:
        return args
    with_config = build_parser({args.command: known}).parse_args(words)
    if args.__dict__.get("notify"):
        with_config.notify = args.notify  # a list on the command line replaces the file's
    with_config.config_file = path
    return with_config


def _given(args: argparse.Namespace, words: list[str], options: Sequence[str]) -> set[str]:
    """Which of ``options`` the command line gives (a default left alone is not given)."""
    unset = object()
    probe = {option: unset for option in options if option in vars(args)}
    again = build_parser({args.command: probe}).parse_args(words)
    return {option for option in probe if getattr(again, option) is not unset}


def _settings(
    args: argparse.Namespace, input_path: Path | None = None, report: Path | None = None
) -> Settings:
    """The settings of one run (for ``inbox``, a template its files fill in)."""
    mapping: Mapping | None = load_mapping(args.mapping) if args.mapping else None
    input_path = input_path or args.input
    if report is None:
        report = args.report
        if report is None and getattr(args, "resume", False):
            report = _latest_report(input_path)
        report = report or default_report(input_path)
    check_report_path(report)
    settings = Settings(
        input=input_path,
        report=report,
        mapping=mapping,
        sheet=args.sheet or (mapping.sheet if mapping else None),
        timezone=resolve_timezone(args.timezone, mapping),
        date_format=mapping.date_format if mapping else (),
        delimiter=mapping.delimiter if mapping else None,
        encoding=mapping.encoding if mapping else None,
    )
    if args.command == "validate":
        return settings
    auto_rate = args.rate == "auto"
    if not auto_rate and args.rate < 0:
        raise UsageError("--rate must be 0 (unlimited), more, or auto")
    if args.concurrency < 1 or args.max_attempts < 1:
        raise UsageError("--concurrency and --max-attempts must be at least 1")
    if args.timeout <= 0 or min(args.retry_wait, args.max_wait, args.stall_limit) < 0:
        raise UsageError(
            "--timeout must be above 0, --retry-wait, --max-wait and --stall-limit 0 or more"
        )
    if getattr(args, "only_changed", False) and not args.history:
        raise UsageError("--only-changed needs --history PATH (where imported rows are kept)")
    settings = replace(
        settings,
        rate=0.0 if auto_rate else args.rate,
        auto_rate=auto_rate,
        concurrency=args.concurrency,
        max_attempts=args.max_attempts,
        retry_wait=args.retry_wait,
        timeout=args.timeout,
        max_wait=args.max_wait,
        stall=args.stall_limit * 60,
        resume=getattr(args, "resume", False),
        sandbox=args.sandbox,
        history=args.history,
        only_changed=getattr(args, "only_changed", False),
        retry_format=getattr(args, "retry_format", "xlsx"),
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


def _inbox(args: argparse.Namespace) -> int:
    """``cg-import inbox``: every settled file of the folder, then the log and the notice.

    However the run ends (refused credentials, a bug, Ctrl-C, another run holding the
    folder), its JSON log line is written and its notification sent: nobody watches a
    scheduled job's stderr.
    """
    from .inbox import InboxSummary, end_run

    if args.folder is None:
        raise UsageError(
            "name the inbox folder: cg-import inbox DIR (or inbox = … in the config file)"
        )
    summary = InboxSummary(args.folder, config=args.config_file)
    try:
        _inbox_run(args, summary)
    except ImporterError as err:
        summary.error = str(err)
        raise
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    except Exception as err:
        summary.error = _masked(internal_error(err))
        raise
    finally:
        for problem in end_run(summary, args.log_file, args.notify or []):
            print(f"cg-import: warning: {problem}", file=sys.stderr)
    if summary.locked:
        print(
            f"cg-import: another inbox run holds {args.folder} (its lock); nothing to do now",
            file=sys.stderr,
        )
    elif not args.quiet:
        print(f"{len(summary.files)} file(s) handled in {args.folder}")
    return summary.exit_code


def _inbox_run(args: argparse.Namespace, summary: Any) -> None:
    """The checks made before any file is touched, then the run, filling ``summary``."""
    from .inbox import InboxOptions, check_log, check_reports, default_reports, run_inbox

    folder: Path = args.folder
    reports = args.reports
    if reports is None:
        reports = default_reports(folder)
        if (folder / "reports").exists():
            raise UsageError(
                f"{folder / 'reports'}: reports are no longer kept inside the drop folder "
                "(whoever drops files could aim them at other files); move that folder "
                f"beside it, with its history: mv {folder / 'reports'} {reports} "
                "(or name one with --reports)"
            )
    check_reports(folder, reports)
    template = _settings(args, folder, reports / "template.csv")
    options = InboxOptions(
        folder=folder,
        reports=reports,
        history=args.history or reports / "history.sqlite",
        settle=args.settle,
        resend_all=args.resend_all,
        log_file=args.log_file,
    )
    check_log(options.log_file)

    def told(result: Any) -> None:
        if not args.quiet:
            print(
                f"{result.file} → {result.outcome}/" + (f"  ({result.note})" if result.note else "")
            )

    async def work(settings: Settings) -> Any:
        return await run_inbox(settings, options, told, summary)

    _until_done(_run(template, args, work))


def _masked(text: str) -> str:
    """``text`` without the client secret in any form (a defect's message may hold anything)."""
    from .masking import Masker

    try:
        client_id, secret = load_credentials()
    except ImporterError:
        return text
    return Masker(client_id, secret)(text)


def _latest_report(input_path: Path) -> Path:
    runs = runs_of(Path("reports"), input_path.stem)
    if not runs:
        raise UsageError(
            f"nothing to resume for {input_path.name} in reports/; "
            "pass the interrupted run's --report"
        )
    return runs[0]


async def _run(
    settings: Settings,
    args: argparse.Namespace,
    work: Callable[..., Awaitable[Any]],
) -> Any:
    """``work(settings, …)`` against the API, or against a sandbox started for it."""
    extra = (_progress(args),) if work is import_file else ()
    if not args.sandbox:
        return await work(settings, *extra)
    # the sandbox's server half loads only when one is started: a real run starts faster
    from .sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxConfig, start

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
        return await work(settings, *extra)
    finally:
        await running.close()


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxConfig, serve_forever

    config = SandboxConfig(
        token_lifetime=args.token_lifetime,
        rate_limit=args.rate_limit,
        rate_limit_window=args.rate_limit_window,
        rate_headers=not args.no_rate_headers,
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

    def note(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(f"cg-import: warning: {text}", file=sys.stderr)

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
    statuses: list[str] = [s for s in STATUS_ORDER if summary.counts.get(s)]
    statuses += sorted(set(summary.counts) - set(STATUS_ORDER))
    for status in statuses:
        print(f"  {status:<10} {summary.counts[status]:>9,}", file=out)
    print(f"  {'rows':<10} {summary.rows:>9,}", file=out)
    if summary.blank_rows:
        print(f"  blank rows skipped (not activities): {summary.blank_rows:,}", file=out)
    if summary.command == "run" and summary.send_seconds:
        print(f"  speed      {summary.rows_per_second:>9,.1f} rows/s", file=out)
    if summary.problems:
        print("Most frequent errors (values shown as …):", file=out)
        for kind in summary.problems[:5]:
            message = f"{kind['field']}: {kind['message']}"
            if len(message) > 90:
                message = message[:89] + "…"
            shown = kind["first_rows"][:3]
            rows = ", ".join(map(str, shown)) + (", …" if kind["count"] > len(shown) else "")
            where = "row" if kind["count"] == 1 else "rows"
            print(f"  {kind['count']:>9,}  {message}  ({where} {rows})", file=out)
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
