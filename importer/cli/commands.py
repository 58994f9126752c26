"""The commands: each is run here and its errors become one line and an exit code.

Loaded by ``main`` (``__init__.py``) once it can catch a Ctrl-C: importing this loads the
whole program (pandas, pandera, aiohttp).
"""

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
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..config import (
    ENDPOINT_OPTIONS,
    Settings,
    check_report_path,
    check_url,
    default_report,
    load_config,
    load_credentials,
    region_urls,
    resolve_timezone,
)
from ..errors import AuthError, ImporterError, SendingStopped, UsageError, internal_error
from ..journal import file_sha256, runs_of, runs_of_input
from ..mapping import Mapping, load_mapping
from ..pipeline import import_file, validate_file
from ..read import ReadOptions
from ..summary import RunSummary
from .exit_codes import EXIT_INTERRUPTED, EXIT_NOT_ALL, EXIT_NOTHING_DONE, EXIT_OK
from .parser import build_parser
from .screen import print_summary, progress_bar

T = TypeVar("T")


def _init(args: argparse.Namespace) -> int:
    """``cg-import init``: write a proposed mapping, then say how the sample fares with it."""
    from ..assistant import check_sample, propose, render, summary_lines

    given = {name: value.strip() for name in ("type", "source") if (value := getattr(args, name))}
    for name in ("type", "source"):
        if getattr(args, name) is not None and not given.get(name):
            raise UsageError(f"--{name} must not be blank; give the text every row is sent with")
    output: Path = args.output
    if output.exists() and not args.force:
        raise UsageError(f"{output} already exists; pass --force to overwrite it, or --output")
    if output.exists() and output.resolve() == args.input.resolve():
        raise UsageError(f"--output {output} is the input file; name another file")
    proposal = propose(args.input, sheet=args.sheet, given=given)
    asked = _ask(proposal.missing, given)
    if asked:
        proposal = propose(args.input, sheet=args.sheet, given=given | asked)
    try:
        output.write_text(render(proposal), encoding="utf-8")
    except OSError as err:
        raise UsageError(
            f"cannot write {output} ({err.strerror}); choose another --output"
        ) from None
    for line in summary_lines(proposal, output, check_sample(proposal, output)):
        print(line)
    if proposal.missing:
        hint = [f"--{name}" for name in ("type", "source") if name in proposal.missing]
        again = f", or run init again with {' and '.join(hint)}" if hint else ""
        print(
            f"cg-import: error: {', '.join(proposal.missing)}: no column found; fill in "
            f"{output}{again}",
            file=sys.stderr,
        )
        return EXIT_NOT_ALL
    return EXIT_OK


#: what init asks on a terminal for a field no column gives
_QUESTIONS = {
    "type": 'The activity type of every row (e.g. "Support Ticket", "Call"):',
    "source": 'The system these rows come from (e.g. "Freshdesk", "Acme Desk"):',
}


def _ask(missing: list[str], given: dict[str, str]) -> dict[str, str]:
    """On a terminal, the type and source no column gives, as the analyst answers; never
    when stdin is not a terminal (a script, a pipe, cron)."""
    wanted = [name for name in ("type", "source") if name in missing and name not in given]
    if not wanted or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return {}
    import questionary

    answers: dict[str, str] = {}
    for name in wanted:
        answer = questionary.text(_QUESTIONS[name]).ask()
        if answer is None:  # Ctrl-C at the prompt
            raise KeyboardInterrupt
        if answer.strip():
            answers[name] = answer.strip()
    return answers


def run_command(words: list[str], read: ReadOptions | None = None) -> int:
    """The command ``words`` name, run; returns the exit code (see ``main``)."""
    args = build_parser().parse_args(words)
    try:
        if args.command == "sandbox":
            return _sandbox(args)
        if args.command == "init":
            return _init(args)
        args = _with_config(args, words)
        args.read = read or ReadOptions()
        if args.command == "inbox":
            return _inbox(args)
        settings = _settings(args)
        if args.command == "validate":
            summary = validate_file(settings, progress_bar(args))
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
        if args.command == "validate":  # its report is written whole or not at all
            print(
                "cg-import: interrupted; validate wrote no report (run it again to check "
                "every row)",
                file=sys.stderr,
            )
        else:
            print("cg-import: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # a bug: still one line, the traceback only on request
        if os.environ.get("CG_IMPORT_DEBUG"):
            raise
        print(f"cg-import: {_masked(internal_error(err))}", file=sys.stderr)
        return EXIT_NOTHING_DONE
    return _said(summary, args, _resume_command(words, settings))


def _said(summary: RunSummary, args: argparse.Namespace, resume_command: str) -> int:
    """What a finished run tells the analyst (warnings, the summary, how to finish what is
    left), and its exit code."""
    for warning in summary.warnings:
        print(f"cg-import: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        _to_stdout(lambda out: print_summary(summary, out))
    resume = "  " + resume_command
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


def _to_stdout(write: Callable[[Any], None]) -> None:
    """``write(sys.stdout)``. A reader that left early (``| head``) ends the output there:
    the run's work is done and its exit code stands (nothing more is written to the pipe,
    not even when the program ends)."""
    try:
        write(sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


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
    # the file's notification targets are kept apart: notify.targets adds the command
    # line's to them (never one list replacing the other) and says where each came from
    args.notify_config = list(config.get("notify", []))
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
    with_config.notify = args.__dict__.get("notify")  # the command line's own, see above
    with_config.notify_config = args.notify_config
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
    settings = _reading_settings(args, input_path or args.input, report)
    if args.command == "validate":
        return settings
    _check_sending_options(args)
    auto_rate = args.rate == "auto"
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
        if args.api_url or args.token_url:
            raise UsageError(
                "--sandbox starts an API of its own: leave out --api-url and --token-url "
                "(or leave out --sandbox to send to those URLs)"
            )
        return settings  # URLs and demo credentials are filled in once the sandbox listens
    return _with_endpoint(settings, args)


def _reading_settings(args: argparse.Namespace, input_path: Path, report: Path | None) -> Settings:
    """What ``validate`` needs too: the input, its report, the mapping and how to read it."""
    mapping: Mapping | None = load_mapping(args.mapping) if args.mapping else None
    if report is None:
        report = args.report
        if report is None and getattr(args, "resume", False):
            report = _latest_report(input_path)
        report = report or default_report(input_path)
    check_report_path(report)
    return Settings(
        input=input_path,
        report=report,
        mapping=mapping,
        sheet=args.sheet or (mapping.sheet if mapping else None),
        timezone=resolve_timezone(args.timezone, mapping),
        date_format=mapping.date_format if mapping else (),
        delimiter=mapping.delimiter if mapping else None,
        encoding=mapping.encoding if mapping else None,
        read=args.read,
    )


def _check_sending_options(args: argparse.Namespace) -> None:
    """The sending options' values that cannot work, refused before anything is read."""
    if args.rate != "auto" and args.rate < 0:
        raise UsageError("--rate must be 0 (unlimited), more, or auto")
    if args.concurrency < 1 or args.max_attempts < 1:
        raise UsageError("--concurrency and --max-attempts must be at least 1")
    if args.timeout <= 0 or min(args.retry_wait, args.max_wait, args.stall_limit) < 0:
        raise UsageError(
            "--timeout must be above 0, --retry-wait, --max-wait and --stall-limit 0 or more"
        )
    if getattr(args, "only_changed", False) and not args.history:
        raise UsageError("--only-changed needs --history PATH (where imported rows are kept)")


def _with_endpoint(settings: Settings, args: argparse.Namespace) -> Settings:
    """``settings`` aimed at the region's API (or the URLs given), with the credentials."""
    api_url, token_url = region_urls(args.region)
    chosen_api = check_url(args.api_url or api_url, "--api-url")
    chosen_token = check_url(args.token_url or token_url, "--token-url")
    _one_endpoint_elsewhere(args, api_url, token_url)
    client_id, client_secret = load_credentials()
    return replace(
        settings,
        api_url=chosen_api,
        token_url=chosen_token,
        client_id=client_id,
        client_secret=client_secret,
    )


def _one_endpoint_elsewhere(args: argparse.Namespace, api_url: str, token_url: str) -> None:
    """Refuse one of --api-url and --token-url aimed at another host than the region's while
    the other stays the region's: the rows and the client secret would go to two places
    (``--api-url http://127.0.0.1:8080/activities`` alone sent the secret to the region's
    token host)."""
    given = {"--api-url": (args.api_url, api_url), "--token-url": (args.token_url, token_url)}
    alone = [(flag, url, default) for flag, (url, default) in given.items() if url]
    if len(alone) != 1:
        return
    flag, url, default = alone[0]
    if _host(url) != _host(default):
        other = "--token-url" if flag == "--api-url" else "--api-url"
        raise UsageError(
            f"{flag} names another host than the region's, but {other} is still the "
            f"region's ({urlsplit(given[other][1]).netloc}): give {other} too (the sandbox "
            "prints both), so that the client secret goes only where you mean"
        )


def _host(url: str) -> tuple[str, int | None]:
    """Where ``url`` goes: its host (any case, a trailing dot or not) and port (the
    scheme's own if none is written)."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return (parts.hostname or "").rstrip("."), parts.port or default


def _inbox(args: argparse.Namespace) -> int:
    """``cg-import inbox``: every settled file of the folder, then the log and the notice.

    However the run ends (refused credentials, a bug, Ctrl-C, another run holding the
    folder), its JSON log line is written and its notification sent: nobody watches a
    scheduled job's stderr.
    """
    from ..inbox import InboxSummary, end_run
    from ..notify import targets, targets_line

    if args.folder is None:
        raise UsageError(
            "name the inbox folder: cg-import inbox DIR (or inbox = … in the config file)"
        )
    chosen = targets(args.notify_config, args.notify or [], args.config_file)
    if chosen and not args.quiet:
        print(f"cg-import: {targets_line(chosen)}", file=sys.stderr)
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
        for problem in end_run(summary, args.log_file, chosen):
            print(f"cg-import: warning: {problem}", file=sys.stderr)
    if summary.locked:
        print(
            f"cg-import: another inbox run holds {args.folder} (its lock); nothing to do now",
            file=sys.stderr,
        )
    elif not args.quiet:
        waiting = summary.waiting
        print(
            f"{len(summary.files)} file(s) handled in {args.folder}"
            + (f"; still being written: {', '.join(waiting)} (next run)" if waiting else "")
        )
    return summary.exit_code


def _inbox_run(args: argparse.Namespace, summary: Any) -> None:
    """The checks made before any file is touched, then the run, filling ``summary``."""
    from ..inbox import InboxOptions, check_log, check_reports, default_reports, run_inbox

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
        """One line a file: where it went, its counts, its report and retry file, why."""
        if args.quiet:
            return
        counts = ", ".join(f"{status} {n:,}" for status, n in result.counts.items() if n)
        said = [counts, result.note or ""]
        said += [f"report {result.report}"] if result.report and result.counts else []
        said += [f"retry file {result.retry_file}"] if result.retry_file else []
        details = "; ".join(part for part in said if part)
        print(f"{result.file} → {result.outcome}/" + (f"  ({details})" if details else ""))

    async def work(settings: Settings) -> Any:
        return await run_inbox(settings, options, told, summary)

    _until_done(_run(template, args, work))


def _masked(text: str) -> str:
    """``text`` without the client secret in any form (a defect's message may hold anything)."""
    from ..masking import Masker

    try:
        client_id, secret = load_credentials()
    except ImporterError:
        return text
    return Masker(client_id, secret)(text)


def _latest_report(input_path: Path) -> Path:
    """The report of the newest run of this input in reports/: by the input's contents,
    whatever the report was named (a run given its own --report, then killed), else by
    the input's name (--resume then says what changed in the file)."""
    folder = Path("reports")
    runs: list[Path] = []
    with contextlib.suppress(OSError):  # an unreadable input: the run says so itself
        runs = runs_of_input(folder, file_sha256(input_path))
    runs = runs or runs_of(folder, input_path.stem)
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
    extra = (progress_bar(args),) if work is import_file else ()
    if not args.sandbox:
        return await work(settings, *extra)
    # the sandbox's server half loads only when one is started: a real run starts faster
    from ..sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxConfig, start

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
    from ..sandbox import SandboxConfig, serve_forever

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
    try:
        asyncio.run(serve_forever(config, args.port, _announce))
    except OSError as err:  # raised before anything was announced
        print(
            f"cg-import: error: cannot listen on 127.0.0.1 port {args.port} "
            f"({err.strerror or err}); choose another --port",
            file=sys.stderr,
        )
        return EXIT_NOTHING_DONE
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _announce(running: Any) -> None:
    """The sandbox listens (its port is held): where it is, and how to import into it."""
    from ..sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

    base = running.base_url
    print(
        f"Sandbox API on {base}  (Ctrl-C to stop)\n"
        f"  demo credentials: CG_CLIENT_ID={DEMO_CLIENT_ID} CG_CLIENT_SECRET={DEMO_CLIENT_SECRET}\n"
        f"  import into it:   cg-import run FILE --api-url {running.api_url} "
        f"--token-url {running.token_url}",
        flush=True,
    )


def _resume_command(argv: Sequence[str], settings: Settings) -> str:
    """The command that was run, with its report named and --resume: it must be the same."""
    words = [str(word) for word in argv]
    if "--report" not in words and not any(w.startswith("--report=") for w in words):
        words += ["--report", str(settings.report)]
    if "--resume" not in words:
        words.append("--resume")
    return shlex.join(["cg-import", *words])


__all__ = ["build_parser", "run_command"]
