"""The notification of an inbox run: its title and body composed from what the run did,
and delivered through Apprise to every target."""

from __future__ import annotations

import warnings

from .inbox_summary import InboxSummary


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
    for result in summary.files:
        counts = ", ".join(f"{status} {count:,}" for status, count in sorted(result.counts.items()))
        lines.append(
            f"{result.file} → {result.outcome}/"
            + (f" ({counts})" if counts else "")
            + (f"; report {result.report}" if result.report else "")
            + (f"; {result.note}" if result.note else "")
        )
    title, bad_news = _headline(summary)
    with warnings.catch_warnings():
        # apprise loads its plugins on first use; one imports the deprecated imghdr
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise

        sender = apprise.Apprise()
        bad = [url for url in urls if not sender.add(url)]
        kind = (
            apprise.NotifyType.FAILURE
            if bad_news
            else apprise.NotifyType.WARNING
            if summary.locked
            else apprise.NotifyType.SUCCESS
        )
        delivered = bool(sender) and sender.notify(
            body="\n".join(lines), title=title, notify_type=kind
        )
    if bad:
        return f"not an Apprise URL: {', '.join(_shown(url) for url in bad)}"
    return None if delivered else "the notification could not be delivered"


def _headline(summary: InboxSummary) -> tuple[str, bool]:
    """The notification's title by what the run did, and whether someone must act."""
    folder = summary.folder.name
    waiting = sum(f.outcome == "processing" for f in summary.files)
    failed = len(summary.failed)
    if summary.error:
        return f"cg-import: the run on {folder} stopped with an error", True
    if summary.locked:
        return f"cg-import: {folder} is still held by another run", False
    if summary.interrupted or summary.stopped or waiting:
        why = (
            "was interrupted"
            if summary.interrupted
            else f"stopped sending ({summary.stopped})"
            if summary.stopped
            else "did not finish them"
        )
        return (
            f"cg-import: {waiting} file(s) from {folder} wait in processing/: the run {why}",
            True,
        )
    if failed:
        return f"cg-import: {len(summary.files)} file(s) from {folder}, {failed} failed", True
    if all(f.outcome == "duplicates" for f in summary.files):
        return f"cg-import: {len(summary.files)} file(s) from {folder}, nothing new", False
    return f"cg-import: {len(summary.files)} file(s) from {folder}, all imported", False


def _shown(url: str) -> str:
    """A URL without what may be a password or token (everything after the scheme)."""
    scheme, _, _ = url.partition("://")
    return f"{scheme}://…"
