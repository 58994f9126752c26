"""The notification of an inbox run: its title and body composed from what the run did,
and delivered through Apprise to every target."""

from __future__ import annotations

import warnings

from .inbox_summary import FileResult, InboxSummary

#: how many kinds of error a file's lines name (the report lists them all)
_KINDS_SHOWN = 3
_TIMES = " \N{MULTIPLICATION SIGN} "


def notify(urls: list[str], summary: InboxSummary) -> str | None:
    """Tell every Apprise URL what the run did; returns why delivery failed, if it did.

    A run that handled no file says nothing, unless it ended early (an error) or found
    another run still holding the folder: both need someone to look.
    """
    if not urls or not (summary.files or summary.error or summary.locked):
        return None
    lines = []
    if summary.error:
        lines.append(f"The run stopped: {summary.error}")
    if summary.log_problem:
        lines.append(f"The log is incomplete: {summary.log_problem}")
    if summary.locked:
        lines.append(f"another inbox run still holds {summary.folder} (its lock): nothing done")
    lines += [line for result in summary.files for line in file_lines(result)]
    title, kind = headline(summary)
    with warnings.catch_warnings():
        # apprise loads its plugins on first use; one imports the deprecated imghdr
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise

        sender = apprise.Apprise()
        bad = [url for url in urls if not sender.add(url)]
        delivered = bool(sender) and sender.notify(
            body="\n".join(lines), title=title, notify_type=apprise.NotifyType(kind)
        )
    if bad:
        return f"not an Apprise URL: {', '.join(_shown(url) for url in bad)}"
    return None if delivered else "the notification could not be delivered"


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
    if not imported:
        return _title(NOTHING_NEW, f"{files} file(s) from {folder}, imported before"), "success"
    return _title(IMPORTED, f"{imported:,} rows from {files} file(s) in {folder}"), "success"


def _title(outcome: str, detail: str) -> str:
    return f"cg-import: {outcome} \N{EM DASH} {detail}"


def _shown(url: str) -> str:
    """A URL without what may be a password or token (everything after the scheme)."""
    scheme, _, _ = url.partition("://")
    return f"{scheme}://…"
