"""The command line: arguments, progress bar, summary table and exit codes. The only UI module.

``main`` is all of it that loads at once: the program behind it (``commands.py``, which
runs each command and turns its errors into one line and an exit code) loads once a Ctrl-C
or a SIGTERM can be caught, so stopping it in its first second ends it as at any other
moment. ``parser.py`` builds the commands and options with their help texts, ``screen.py``
draws the progress bar and the summary table, ``exit_codes.py`` names the codes.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..held_signals import interrupts_held
from .exit_codes import EXIT_INTERRUPTED

if TYPE_CHECKING:
    from ..read import ReadOptions


def main(argv: Sequence[str] | None = None, *, read: ReadOptions | None = None) -> int:
    """Run the command line; returns the exit code. ``read``: how the input is read, for a
    program that embeds the command (the defaults are the measured ones)."""
    return _main(argv, read, program=False)


def console() -> None:
    """``cg-import`` and ``python -m importer``: ``main``, then exit with its code. A Ctrl-C
    or SIGTERM that comes once the work is done, while the interpreter ends, leaves that
    code as it is (it made the exit -2 or 143, or was lost: a report whole, an exit that
    says otherwise)."""
    sys.exit(_main(None, None, program=True))


def _main(argv: Sequence[str] | None, read: ReadOptions | None, *, program: bool) -> int:
    words = [str(word) for word in argv] if argv is not None else sys.argv[1:]
    with _terminate_as_interrupt(program):
        try:
            with interrupts_held():  # importlib's own callbacks would drop a Ctrl-C
                from .commands import run_command
        except KeyboardInterrupt:
            print("cg-import: interrupted before anything was read", file=sys.stderr)
            return EXIT_INTERRUPTED
        return run_command(words, read)


@contextlib.contextmanager
def _terminate_as_interrupt(program: bool) -> Iterator[None]:
    """SIGTERM (a service stopped, ``kill``) ends the command as Ctrl-C does: the report is
    written, the resume line printed, exit 130; the handler before it is put back after,
    or, in the ``program``, both signals are ignored from then on (its work is done).
    Only the main thread can set one (an embedding program may call ``main`` elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        if program:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        else:
            signal.signal(signal.SIGTERM, before)


def __getattr__(name: str) -> Any:
    if name == "build_parser":  # the parser loads the settings' modules (pandas)
        from .parser import build_parser

        return build_parser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["build_parser", "console", "main"]
