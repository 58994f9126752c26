"""The notification of an inbox run: its title and body composed from what the run did,
and delivered through Apprise to every target, each named as a service (never with what
its URL may hold of a token or password) with why it could not be told, if it could not."""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from .errors import UsageError
from .inbox_summary import FileResult, InboxSummary

#: how many kinds of error a file's lines name (the report lists them all)
_KINDS_SHOWN = 3
_TIMES = " \N{MULTIPLICATION SIGN} "
#: where a target came from when the command line named it
COMMAND_LINE = "--notify"


@dataclass(frozen=True)
class Target:
    """One Apprise URL to tell, and where it was named (the config file, or ``--notify``)."""

    url: str
    origin: str


def targets(
    from_config: list[str], from_command_line: list[str], config: Path | None
) -> list[Target]:
    """The config file's targets and the command line's together, each once (the first
    naming wins): a ``--notify`` for tonight's test must not silence the team's channel."""
    found: dict[str, Target] = {}
    for urls, origin in ((from_config, f"config file {config}"), (from_command_line, COMMAND_LINE)):
        for url in urls:
            if _ats(url) > 1:  # Apprise would take the password's tail for the host
                raise UsageError(
                    f"a notification URL ({url.partition('://')[0]}://…, {origin}) holds '@' "
                    "in its user name or password: write that '@' as %40"
                )
            found.setdefault(url, Target(url, origin))
    return list(found.values())


def _ats(url: str) -> int:
    """How many '@' the URL's authority holds (one: user@host; more: an unencoded '@')."""
    authority = url.partition("://")[2].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return authority.count("@")


def targets_line(chosen: list[Target]) -> str:
    """Where the run's notifications go and who named them, without a token in sight."""
    origins = dict.fromkeys(target.origin for target in chosen)  # in order: the file's first
    return "notifications go to " + "; ".join(
        ", ".join(service(t.url) for t in chosen if t.origin == origin) + f" ({origin})"
        for origin in origins
    )


@dataclass(frozen=True)
class Delivery:
    """What became of the notification to one target."""

    service: str  # e.g. "JSON json://127.0.0.1:8080": what it is, never its token
    origin: str
    delivered: bool
    cause: str | None = None  # e.g. "connection refused", "HTTP 500"

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "from": self.origin,
            "delivered": self.delivered,
            "cause": self.cause,
        }

    def problem(self) -> str:
        return (
            f"the notification could not be delivered to {self.service} ({self.origin}): "
            f"{self.cause}"
        )


def notify(chosen: list[Target], summary: InboxSummary) -> list[Delivery]:
    """Tell every target what the run did, one at a time, so that each failure is named.

    A run that handled no file says nothing, unless it ended early (an error), found
    another run still holding the folder (both need someone to look), or found files still
    being written (a nightly job takes them only the next night).
    """
    if not chosen or not (summary.files or summary.error or summary.locked or summary.waiting):
        return []
    lines = []
    if summary.error:
        lines.append(f"The run stopped: {summary.error}")
    if summary.log_problem:
        lines.append(f"The log is incomplete: {summary.log_problem}")
    if summary.locked:
        lines.append(f"another inbox run still holds {summary.folder} (its lock): nothing done")
    lines += [line for result in summary.files for line in file_lines(result)]
    if summary.waiting:
        count = len(summary.waiting)
        lines.append(
            ("" if summary.files else "nothing new yet: ")
            + f"{count} file{'s' if count > 1 else ''} still being written, left for the "
            + f"next run: {', '.join(summary.waiting)}"
        )
    title, kind = headline(summary)
    return [_deliver(target, title, "\n".join(lines), kind) for target in chosen]


def _deliver(target: Target, title: str, body: str, kind: str) -> Delivery:
    """One target told, and the cause read from what Apprise logged if it was not."""
    with _apprise() as apprise:
        sender = apprise.Apprise()
        if not sender.add(target.url):
            return Delivery(service(target.url), target.origin, False, "not an Apprise URL")
        with apprise.LogCapture(level=logging.DEBUG, fmt=_RECORD) as said:
            told = sender.notify(body=body, title=title, notify_type=apprise.NotifyType(kind))
        delivered = bool(told)
    cause = None if delivered else _cause(said.getvalue(), target.url)
    return Delivery(service(target.url), target.origin, delivered, cause)


def service(url: str) -> str:
    """What a target is, for people: Apprise's name for the service, its scheme and host
    (``JSON json://hooks.example.com``); never a user, password, path or query, and not
    the host either when Apprise counts it as a secret (Slack's and Discord's tokens)."""
    scheme = url.partition("://")[0]
    if _ats(url) > 1:
        return f"{scheme}://…"
    with _apprise() as apprise:
        sender = apprise.Apprise()
        if not sender.add(url):
            return f"{scheme}://…"
        plugin = sender[0]
    try:
        private = urlsplit(plugin.url(privacy=True))
        same = bool(plugin.host) and private.hostname == str(plugin.host).strip("[]").lower()
    except ValueError:  # a URL Apprise rebuilt that does not parse again: show no host
        same = False
    host = private.netloc.rpartition("@")[2] if same else "…"
    return f"{plugin.service_name} {scheme}://{host}"


#: causes read from what Apprise logged, most telling first
_CAUSES = (
    (re.compile(r"\berror=(\d{3})\b"), "HTTP {}"),
    (re.compile(r"Connection refused|\[Errno 111\]"), "connection refused"),
    (re.compile(r"Failed to resolve|Name or service not known|getaddrinfo"), "host name not found"),
    (re.compile(r"(?i)timed out|timeout"), "timed out"),
    (re.compile(r"(?i)certificate|SSLError"), "TLS refused (certificate)"),
)


#: one captured log record: a separator no message holds, its level, its message
_RECORD = "\x1e%(levelname)s %(message)s"


def _cause(said: str, url: str) -> str:
    """Why a target was not told, in a few words: an HTTP status, a refused connection…;
    else Apprise's last warning, with every part of the URL (a token may be any) as ``…``.

    Only warnings, errors and the socket's exception are read: Apprise's debug records
    also hold the payload, whose text (a note saying "timed out") must not be the cause.
    """
    records = [record.partition(" ") for record in said.split("\x1e") if record]
    telling = [
        message
        for level, _, message in records
        if level in ("WARNING", "ERROR", "CRITICAL") or message.startswith("Socket Exception")
    ]
    for pattern, cause in _CAUSES:
        found = next(filter(None, map(pattern.search, telling)), None)
        if found:
            return cause.format(*found.groups())
    warned = [m for level, _, m in records if level in ("WARNING", "ERROR", "CRITICAL")]
    last = " ".join(warned[-1].split()) if warned else ""
    parts = urlsplit(url)
    secrets = [parts.username, parts.password, parts.hostname, *parts.path.split("/")]
    secrets += [*re.split(r"[&=]", parts.query), parts.fragment]
    for secret in sorted({s for s in secrets if s and len(s) > 2}, key=len, reverse=True):
        last = last.replace(secret, "…").replace(quote(secret, safe=""), "…")
    return last[:160] or "unknown (Apprise said nothing)"


def file_lines(result: FileResult) -> list[str]:
    """One file: where it went and its counts; what to fix first (the most frequent kinds
    of error, values shown as …); the report and retry file by name, then where they are
    (the name is what one looks for in a mail; the folder is on the server)."""
    counts = ", ".join(f"{status} {count:,}" for status, count in sorted(result.counts.items()))
    lines = [f"{result.file} → {result.outcome}/" + (f" ({counts})" if counts else "")]
    if result.problems:
        kinds = [f"{k['count']:,}{_TIMES}{k['field']}: {k['message']}" for k in result.problems]
        more = len(kinds) - _KINDS_SHOWN
        lines += [f"  {kind}" for kind in kinds[:_KINDS_SHOWN]]  # a message may hold "; "
        if more > 0:
            lines.append(f"  and {more} more kind(s) of error: see the report")
    if result.report:
        names = f"report: {result.report.name}"
        if result.retry_file:
            names += f", retry file: {result.retry_file.name}"
        lines.append(f"  {names} (in {result.report.parent})")
    if result.note:
        lines.append(f"  {result.note}")
    return lines


#: the four outcomes a title starts with: what an on-call person has to do about the run
IMPORTED, NOTHING_NEW, NEEDS_YOU, NOT_STARTED = (
    "imported",
    "nothing new",
    "some rows need you",
    "failed to start",
)


def headline(summary: InboxSummary) -> tuple[str, str]:
    """The title (``cg-import: <outcome> — <detail>``) and the Apprise type of the message.

    The outcome follows the exit code: 2 (or another run holding the folder) failed to
    start; 1 or 130, rows wait or failed; 0, imported, unless no row was: files already
    imported (duplicates, or every row unchanged) are nothing new.
    """
    folder = summary.folder.name
    files = len(summary.files)
    waiting = sum(f.outcome == "processing" for f in summary.files)
    failed = len(summary.failed)
    imported = sum(f.counts.get("imported", 0) for f in summary.files)
    if summary.error:
        return _title(NOT_STARTED, f"the run on {folder} stopped with an error"), "failure"
    if summary.locked:
        return _title(NOT_STARTED, f"{folder} is still held by another run"), "warning"
    if summary.interrupted or summary.stopped or waiting:
        why = (
            "was interrupted"
            if summary.interrupted
            else f"stopped sending ({summary.stopped})"
            if summary.stopped
            else "did not finish them"
        )
        detail = f"{waiting} file(s) from {folder} wait in processing/: the run {why}"
        return _title(NEEDS_YOU, detail), "failure"
    if failed:
        return _title(NEEDS_YOU, f"{files} file(s) from {folder}, {failed} failed"), "failure"
    if not files:  # only files still being written
        detail = f"{len(summary.waiting)} file(s) in {folder} still being written"
        return _title(NOTHING_NEW, detail), "info"
    if not imported:
        return _title(NOTHING_NEW, f"{files} file(s) from {folder}, imported before"), "success"
    return _title(IMPORTED, f"{imported:,} rows from {files} file(s) in {folder}"), "success"


def _title(outcome: str, detail: str) -> str:
    return f"cg-import: {outcome} \N{EM DASH} {detail}"


@contextlib.contextmanager
def _apprise() -> Iterator[Any]:
    """The apprise module, with its deprecation warnings silenced while it is used: it
    loads its plugins on first use (an ``add``), and one imports the deprecated imghdr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise

        yield apprise
