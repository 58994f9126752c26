"""Work that may take all the memory there is, done in a forked child under a limit.

calamine lays a sheet out as a grid of every cell between its first and its last, so a
hostile sheet (two cells, at A1 and XFD1048576) would take terabytes, and an allocation
that fails aborts the process. ``read.py`` therefore scans a sheet's XML before calamine
may load it. For a large sheet that made the two one after the other (200,000 rows: the
scan 1.3 s, the load 1.7 s, together more than the whole ``validate`` of the same rows as
CSV). ``Aside`` lets them overlap safely: a forked child loads the sheet under an
address-space limit (a grid beyond it makes the child fail, never this process or the
machine) while this process scans. This process uses nothing from the child before its own
scan has passed; a scan that refuses the sheet ends the child (``close``).

The child then keeps what it loaded and serves iterators over it (``iterate``): the parent
names a module-level function and its arguments, the child calls it with the loaded value
and hands over each item, one at a time and one ahead (it prepares and pickles the next
while the parent uses the last). The child ignores Ctrl-C (the parent decides what it means),
writes nothing to the terminal (a failed allocation's message would), dumps no core, and
leaves by itself when the parent goes away.
"""

from __future__ import annotations

import contextlib
import faulthandler
import multiprocessing
import os
import pickle
import resource
import signal
import sys
import traceback
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .errors import ImporterError

T = TypeVar("T")

#: only where a child is forked: ready at once, sharing what is loaded (a spawned one would
#: import everything again, most of a second)
AVAILABLE = sys.platform == "linux"
#: how often a side that waits looks whether the other is still there (seconds)
_LOOK = 0.5


class Aside:
    """A value loaded by a forked child (``load()``, at most ``memory`` bytes of address
    space more than the process had), and iterators over it served by that child."""

    def __init__(
        self,
        load: Callable[[], Any],
        describe: Callable[[Any], Any],
        *,
        memory: int,
        what: str,
    ) -> None:
        """Start the child; ``describe(value)`` is what the parent learns of the value
        (``loaded``); ``what`` names the work in messages ("reading the sheet")."""
        context: Any = multiprocessing.get_context("fork")
        self._conn, theirs = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(theirs, load, describe, memory),
            name="cg-import aside",
            daemon=True,
        )
        try:
            self._process.start()  # OSError (no process to be had): the caller does without
        except BaseException:
            self._conn.close()
            raise
        finally:
            theirs.close()
        self.what = what
        self._asked = 0  # requests sent; an answer names the request it answers
        self._loaded: tuple[bool, Any] | None = None
        self._owner = os.getpid()
        self._closer = weakref.finalize(self, _stop, self._process, self._conn)

    def loaded(self) -> tuple[bool, Any]:
        """(True, ``describe(value)``) once the child has loaded the value; (False, None)
        if ``load`` returned None, raised, or the child ended (a grid beyond the limit)."""
        if self._loaded is None:
            try:
                kind, payload = self._answer(0)
            except ImporterError:
                kind, payload = "failed", None
            self._loaded = (True, payload) if kind == "loaded" else (False, None)
        return self._loaded

    def iterate(self, make: Callable[..., Iterator[T]], *args: Any) -> Iterator[T]:
        """``make(value, *args)``'s items, made in the child. ``make`` must be a function
        of a module (it is sent by name). An ``ImporterError`` it raises is raised here."""
        if os.getpid() != self._owner:
            raise RuntimeError("an Aside serves only the process that started it")
        request = self._ask(("iter", make, args))
        while True:
            kind, payload = self._answer(request)
            if kind == "end":
                return
            if kind == "error":
                raise payload
            if kind == "crash":
                raise RuntimeError(f"{self.what} failed in the second process:\n{payload}")
            yield pickle.loads(payload)
            request = self._ask(("next",))

    def close(self) -> None:
        """End the child (idempotent)."""
        self._closer()

    def _ask(self, message: tuple[Any, ...]) -> int:
        self._asked += 1
        with contextlib.suppress(OSError, ValueError):  # the child is gone: the answer says so
            self._conn.send((self._asked, *message))
        return self._asked

    def _answer(self, request: int) -> tuple[str, Any]:
        """The child's answer to ``request`` (answers to earlier ones, whose iterator was
        left, are dropped)."""
        while True:
            try:
                if not self._conn.poll(_LOOK):
                    if self._process.is_alive():
                        continue
                    if not self._conn.poll():
                        raise EOFError
                answered, kind, payload = self._conn.recv()
            except (OSError, EOFError, ValueError):
                raise self._gone() from None
            if answered == request:
                return kind, payload

    def _gone(self) -> ImporterError:
        code: int | None = None
        with contextlib.suppress(ValueError):  # ValueError: closed here already
            self._process.join(timeout=_LOOK)
            code = self._process.exitcode
        # an abort here is a failed allocation: the limit, or calamine asking for too much
        how = how_it_ended(code, memory=(signal.SIGKILL, signal.SIGABRT))
        return ImporterError(
            f"the process {self.what} ended unexpectedly ({how}); run the command again"
        )


def how_it_ended(code: int | None, *, memory: tuple[int, ...] = (signal.SIGKILL,)) -> str:
    """How a child process ended (its exit code), for a message: "exit 1", "killed by
    signal 9; out of memory?" (``memory``: the signals that say it ran out of it)."""
    if not code or code > 0:
        return f"exit {code}"
    hint = "; out of memory?" if -code in memory else ""
    return f"killed by signal {-code}{hint}"


def _stop(process: Any, conn: Any) -> None:
    with contextlib.suppress(OSError):
        conn.close()
    if process.is_alive():
        process.kill()
    process.join(timeout=5)
    with contextlib.suppress(Exception):
        process.close()


def _serve(conn: Any, load: Callable[[], Any], describe: Callable[[Any], Any], memory: int) -> None:
    """The child's whole life: load under the limit, then answer requests until the parent
    closes the pipe or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C means
    signal.set_wakeup_fd(-1)  # a fork's signals must not wake the parent's event loop
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)  # "memory allocation of … bytes failed" is not for the analyst
    os.dup2(quiet, 2)
    faulthandler.disable()  # an abort here is the parent's to tell (pytest enables it)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    parent = multiprocessing.parent_process()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space() + memory
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        value = load()
    except BaseException:
        value = None
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    _send(conn, 0, ("loaded", describe(value)) if value is not None else ("failed", None))
    if value is None:
        return
    items: Iterator[Any] = iter(())
    ahead: tuple[str, Any] = ("end", None)
    while True:
        if not conn.poll(_LOOK):
            if parent is not None and not parent.is_alive():
                return
            continue
        try:
            request, kind, *rest = conn.recv()
        except (OSError, EOFError):
            return  # the parent closed the pipe: done
        if kind == "iter":
            make, args = rest
            close = getattr(items, "close", None)
            if close is not None:
                close()
            try:
                items = make(value, *args)
            except BaseException as err:
                items, ahead = iter(()), _failure(err)
            else:
                ahead = _step(items)
        if not _send(conn, request, ahead):
            return
        if ahead[0] == "item":
            ahead = _step(items)  # the next one, while the parent uses this one
        else:
            items, ahead = iter(()), ("end", None)


def _step(items: Iterator[Any]) -> tuple[str, Any]:
    """The next item, pickled already: the parent waits only for the bytes to cross."""
    try:
        return ("item", pickle.dumps(next(items), pickle.HIGHEST_PROTOCOL))
    except StopIteration:
        return ("end", None)
    except BaseException as err:
        return _failure(err)


def _failure(err: BaseException) -> tuple[str, Any]:
    if isinstance(err, ImporterError):
        return ("error", err)
    return ("crash", "".join(traceback.format_exception(err)))


def _send(conn: Any, request: int, answer: tuple[str, Any]) -> bool:
    try:
        conn.send((request, *answer))
    except (OSError, ValueError):
        return False  # the parent is gone
    return True


def _address_space() -> int:
    """This process's virtual memory size in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()
