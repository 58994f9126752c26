"""The command line's parser: every command and option, each with its help text."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import REGIONS
from ..report import RETRY_FORMATS
from .exit_codes import EXIT_NOTHING_DONE


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
    _run_command(commands)
    _inbox_command(commands)
    _init_command(commands)
    _sandbox_command(commands)
    for name, values in (defaults or {}).items():
        commands.choices[name].set_defaults(**values)
    return parser


def _run_command(commands: Any) -> None:
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


def _inbox_command(commands: Any) -> None:
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
    _destination_options(sub)
    _pace_options(sub)
    _patience_options(sub)
    sub.add_argument(
        "--sandbox",
        action="store_true",
        help="start the local stand-in API and import into it (demo credentials)",
    )


def _destination_options(sub: argparse.ArgumentParser) -> None:
    """Where rows go: the region's API, or URLs given instead."""
    sub.add_argument(
        "--region",
        choices=REGIONS,
        default="eu",
        help="CustomerGauge region of your account (default eu)",
    )
    sub.add_argument("--api-url", metavar="URL", help="activities URL instead of the region's")
    sub.add_argument("--token-url", metavar="URL", help="token URL instead of the region's")


def _pace_options(sub: argparse.ArgumentParser) -> None:
    """How fast rows go: requests started a second, requests in flight."""
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


def _patience_options(sub: argparse.ArgumentParser) -> None:
    """How long the API is waited for: retries, timeouts, Retry-After, stalls."""
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
        help="first wait before a retry of a row or of the token request; doubles each "
        "time, with jitter for rows (default 0.5)",
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
    init.add_argument(
        "--type",
        metavar="TEXT",
        help='the activity type of every row, e.g. "Support Ticket" (default: recognised '
        "from the export, else asked on a terminal)",
    )
    init.add_argument(
        "--source",
        metavar="TEXT",
        help='the system the rows come from, e.g. "Acme Desk" (default: recognised from '
        "the export, else asked on a terminal)",
    )


def _rate(text: str) -> float | str:
    """``--rate``: requests a second, or ``auto``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number nor auto") from None


def _port(text: str) -> int:
    """A TCP port number (0 lets the system choose a free one)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return port


def _sandbox_command(commands: Any) -> None:
    box = commands.add_parser("sandbox", help="serve a local stand-in of the API for trying things")
    box.add_argument(
        "--port", type=_port, default=8080, help="port on 127.0.0.1 (default 8080; 0: any free one)"
    )
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
    _sandbox_fault_options(box)


def _sandbox_fault_options(box: argparse.ArgumentParser) -> None:
    """The faults the stand-in API can make: errors, drops, revoked and expiring tokens."""
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
