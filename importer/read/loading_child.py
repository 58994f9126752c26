"""The loading child: work that may take all the memory there is, in a forked child under a limit.

calamine lays a sheet out as a grid of every cell between its first and its last, so a
hostile sheet (two cells, at A1 and XFD1048576) would take terabytes, and an allocation
that fails aborts the process. ``sheet_scan`` therefore scans a sheet's XML before calamine
may load it. For a large sheet that made the two one after the other (200,000 rows: the
scan 1.3 s, the load 1.7 s, together more than the whole ``validate`` of the same rows as
CSV). ``Aside`` lets them overlap safely: a forked child loads the sheet under an
address-space limit (a grid beyond it makes the child fail, never this process or the
machine) while this process scans. This process uses nothing from the child before its own
scan has passed; a scan that refuses the sheet ends the child (``close``).

The child then keeps what it loaded and serves iterators over it (``iterate``): the parent
names a module-level function and its arguments, the child calls it with the loaded value
and hands over each item, one at a time and one ahead (it prepares and pickles the next
while the parent uses the last). The child is a ``child.Child``:
it ignores Ctrl-C (the parent decides what it means), writes nothing to the terminal (a
failed allocation's message would), dumps no core, and leaves with the parent; no wait for
it here lasts for ever.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import traceback
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ..child import Child, ChildLost, End, memory_limit
from ..errors import ImporterError

T = TypeVar("T")

#: only where a child is forked: ready at once, sharing what is loaded (a spawned one would
#: import everything again, most of a second)
AVAILABLE = sys.platform == "linux"
#: an abort in the child is a failed allocation: the limit, or calamine asking for too much
_OUT_OF_MEMORY = (signal.SIGKILL, signal.SIGABRT)


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
        # OSError (no process to be had): the caller does without
        self._child = Child(
            _serve,
            load,
            describe,
            memory,
            name="cg-import aside",
            duplex=True,
            quiet=True,
            start="fork",
        )
        self._process = self._child.process
        self.what = what
        self._asked = 0  # requests sent; an answer names the request it answers
        self._loaded: tuple[bool, Any] | None = None
        self._owner = os.getpid()
        self._closer = weakref.finalize(self, self._child.close)

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
        with contextlib.suppress(ChildLost):  # the child is gone: the answer says so
            self._child.send((self._asked, *message))
        return self._asked

    def _answer(self, request: int) -> tuple[str, Any]:
        """The child's answer to ``request`` (answers to earlier ones, whose iterator was
        left, are dropped)."""
        while True:
            try:
                answered, kind, payload = self._child.recv()
            except ChildLost as lost:
                how = lost.how(memory=_OUT_OF_MEMORY)
                raise ImporterError(
                    f"the process {self.what} {how}; run the command again"
                ) from None
            if answered == request:
                return kind, payload


def _serve(end: End, load: Callable[[], Any], describe: Callable[[Any], Any], memory: int) -> None:
    """The child's whole life: load under the limit, then answer requests until the parent
    closes the pipe or goes away."""
    try:
        with memory_limit(memory):
            value = load()
    except BaseException:
        value = None
    if not _send(end, 0, ("loaded", describe(value)) if value is not None else ("failed", None)):
        return
    if value is None:
        return
    items: Iterator[Any] = iter(())
    ahead: tuple[str, Any] = ("end", None)
    while True:
        try:
            request, kind, *rest = end.recv()
        except ChildLost:
            return  # the parent closed the pipe or went away: done
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
        if not _send(end, request, ahead):
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


def _send(end: End, request: int, answer: tuple[str, Any]) -> bool:
    try:
        end.send((request, *answer))
    except ChildLost:
        return False  # the parent is gone
    return True
