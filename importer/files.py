"""Output files that cannot be aimed elsewhere, under names that fit.

Whoever may write in a folder a run writes to (a shared reports folder, a drop folder)
could plant a link at a name the run is about to write, and report names are predictable
(timestamps): a file opened through that link would be written over its target. So every
output is created afresh (``create_new``): whatever holds its name is removed, and the
file is created exclusively, never following a link; a name taken again in between fails
the run instead. Files written in place of an earlier one are written beside it first and
renamed onto it (a rename replaces a link, never writes through it).

File names are limited to ``NAME_MAX`` bytes (UTF-8 on Linux and macOS): 80 Japanese
characters are 240. ``fit_stem`` shortens a name's stem on a character boundary and adds a
short hash of the whole, so that two long names differing only at the end stay apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from .errors import ReportError

NAME_MAX = 255
#: the longest ending a run adds to a report's stem: SQLite's rollback journal of the
#: journal of an .xlsx report (``x.xlsx.journal.sqlite-journal``)
LONGEST_ENDING = ".xlsx.journal.sqlite-journal"
#: the most bytes a report's stem may have, so that every file beside it fits
REPORT_STEM_MAX = NAME_MAX - len(LONGEST_ENDING)
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_NEW |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def fit_stem(stem: str, room: int) -> str:
    """``stem`` if it holds at most ``room`` bytes in UTF-8, else its start (whole
    characters) with ``~`` and 8 hex digits of its hash, in ``room`` bytes."""
    raw = stem.encode("utf-8", "surrogateescape")
    if len(raw) <= room:
        return stem
    mark = "~" + hashlib.sha256(raw).hexdigest()[:8]
    start = raw[: max(room - len(mark), 0)].decode("utf-8", "ignore")
    return start + mark


def create_new(path: Path) -> int:
    """A new, empty file at ``path``, opened for writing (its descriptor); whatever held
    the name before (an earlier run's file, a planted link) is removed, never followed."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return os.open(path, _NEW, 0o666)


def refuse_link(path: Path, what: str) -> None:
    """Refuse to use ``path`` if it is a link (for files that are opened, not replaced)."""
    if path.is_symlink():
        raise ReportError(
            f"{what} {path} is a link; a run never writes through links: remove it "
            "(and check who may write in that folder)"
        )


def partial_path(path: Path) -> Path:
    """Where a CSV file is written until it is whole (then it replaces ``path``)."""
    return path.with_name(path.name + ".partial")
