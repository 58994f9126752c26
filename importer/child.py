"""The one way this program forks: a child process that dies with its parent, under
limits, and a pipe to it whose every wait has a deadline.

Two kinds of work run in a child: checking the rows of a large file (``checked_ahead.py``) and
loading a sheet under an address-space limit (``read/loading_child.py``). Both need the same things:

- the child ignores Ctrl-C and SIGTERM (the parent decides when the run stops, and ends
  it), dumps no core, and leaves when the parent goes away: at once on Linux
  (``PR_SET_PDEATHSIG``), else within a moment (its waits look whether the parent is still
  there); optionally it writes nothing to the terminal and runs under a memory limit;
- the parent never waits for the child for ever. The parent closes its copy of the child's
  end of the pipe right after the start, so a child that dies, even half-way through a
  message, leaves the parent an end of file; every wait looks every ``STEP`` seconds
  whether the child is still there, whether it was closed, and gives up after a silence
  limit (a child that is stopped, or stuck, is alive and says nothing); ``close`` kills
  and reaps the child within a bounded time.

Messages are pickled and framed by their length; both sides read and write in steps on
non-blocking descriptors, so no read or write ever blocks longer than a step.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import fcntl
import multiprocessing
import multiprocessing.util
import os
import pickle
import resource
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .held_signals import interrupts_held

#: how the child starts: a fork (at once, sharing what is loaded) where that is safe, else a
#: fresh interpreter
START = "fork" if sys.platform == "linux" else "spawn"
#: how often a wait looks whether the other side is still there (seconds)
STEP = 0.1
#: how long the parent waits for a child that is alive but says nothing (seconds)
SILENCE = 120.0
#: how long ``close`` waits for the killed child to be reaped (seconds)
REAP = 5.0

_HEADER = struct.Struct("!Q")  # a message's length, before its bytes
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_F_SETPIPE_SZ = 1031  # <linux/fcntl.h>
#: what the pipe to a child may hold (Linux lets any process ask for up to 1 MiB)
PIPE_BYTES = 1 << 20


class ChildLost(Exception):
    """The other side went away (or, for the parent, the child fell silent or was closed)
    before a message was whole. ``code``: the child's exit code, if known; ``silent``: the
    seconds it said nothing, when that is why the wait ended."""

    def __init__(self, code: int | None = None, *, silent: float | None = None) -> None:
        super().__init__(code, silent)
        self.code = code
        self.silent = silent

    def how(self, *, memory: tuple[int, ...] = (signal.SIGKILL,)) -> str:
        """What happened, for a message: "ended unexpectedly (killed by signal 9; out of
        memory?)" or "gave no sign of life for 120 seconds"."""
        if self.silent is not None:
            return f"gave no sign of life for {self.silent:g} seconds"
        return f"ended unexpectedly ({how_it_ended(self.code, memory=memory)})"


def how_it_ended(code: int | None, *, memory: tuple[int, ...] = (signal.SIGKILL,)) -> str:
    """How a child process ended (its exit code), for a message: "exit 1", "killed by
    signal 9; out of memory?" (``memory``: the signals that say it ran out of it)."""
    if not code or code > 0:
        return f"exit {code}"
    hint = "; out of memory?" if -code in memory else ""
    return f"killed by signal {-code}{hint}"


class End:
    """One end of the pipe between the parent and a child: pickled messages, and waits
    that look every ``STEP`` whether the other side is still there (``gone``)."""

    def __init__(self, connection: Any, gone: Callable[[], bool]) -> None:
        self._connection = connection  # multiprocessing's: it owns the descriptor
        self._fd: int = connection.fileno()
        os.set_blocking(self._fd, False)
        self._gone = gone

    def send(self, message: Any, *, silence: float | None = None) -> None:
        """Hand ``message`` over (``ChildLost`` if the other side goes away first, or takes
        nothing for ``silence`` seconds)."""
        self.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL), silence=silence)

    def send_bytes(self, data: bytes, *, silence: float | None = None) -> None:
        """Hand ``data`` over as one message (``ChildLost`` as for ``recv``)."""
        last = time.monotonic()
        for part in (_HEADER.pack(len(data)), data):
            view = memoryview(part)
            while view:
                try:
                    view = view[os.write(self._fd, view) :]
                    last = time.monotonic()
                except BlockingIOError:
                    if self._wait(select.POLLOUT):
                        continue
                    if self._gone():
                        raise ChildLost from None
                    if silence is not None and time.monotonic() - last >= silence:
                        raise ChildLost(silent=silence) from None
                except OSError:  # the other side closed its end: it is gone
                    raise ChildLost from None

    def recv(self, *, silence: float | None = None, stop: Callable[[], bool] = bool) -> Any:
        """The next message. ``ChildLost`` when the other side goes away (what it sent
        before is read first), when ``stop()`` says to give up (checked each step), or when
        no byte came for ``silence`` seconds."""
        size = _HEADER.unpack(self._read(_HEADER.size, silence, stop))[0]
        return pickle.loads(self._read(size, silence, stop))

    def ready(self, timeout: float = 0) -> bool:
        """Whether a message (or the end of the pipe) is waiting."""
        return self._wait(select.POLLIN, timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._connection.close()

    def _read(self, size: int, silence: float | None, stop: Callable[[], bool]) -> bytearray:
        data = bytearray(size)
        view, got = memoryview(data), 0
        last = time.monotonic()
        while got < size:
            try:
                count = os.readv(self._fd, [view[got:]])
            except BlockingIOError:
                if self._wait(select.POLLIN):
                    last = time.monotonic()
                    continue
                if stop():
                    raise ChildLost from None
                if self._gone() and not self._wait(select.POLLIN, 0):
                    raise ChildLost from None  # e.g. a grandchild holds its end of the pipe
                if silence is not None and time.monotonic() - last >= silence:
                    raise ChildLost(silent=silence) from None
                continue
            except OSError:  # e.g. reset: the other side went with bytes unread
                raise ChildLost from None
            if not count:
                raise ChildLost  # end of file: the other side closed or went away
            got += count
            last = time.monotonic()
        return data

    def _wait(self, event: int, timeout: float = STEP) -> bool:
        """Whether the pipe is ready for ``event`` within ``timeout`` seconds (an end of
        file or an error counts as ready: the next read or write says which)."""
        poller = select.poll()
        poller.register(self._fd, event)
        return bool(poller.poll(timeout * 1000))


class Child:
    """A child process running ``work(end, *args)`` (``work`` a function of a module), and
    this process's ``End`` of the pipe to it (``duplex``: both ways; else from the child
    only). ``quiet``: the child writes nothing to the terminal."""

    def __init__(
        self,
        work: Callable[..., Any],
        *args: Any,
        name: str,
        duplex: bool = False,
        quiet: bool = False,
        start: str = START,
    ) -> None:
        context: Any = multiprocessing.get_context(start)
        ours, theirs = context.Pipe(duplex)
        _widen(ours)
        # the death signal comes when the *thread* that forked ends: only the main one lasts
        deathsig = threading.current_thread() is threading.main_thread()
        self.process = context.Process(
            target=_begin,
            args=(work, theirs, os.getpid(), deathsig, quiet, args),
            name=name,
            daemon=True,  # a daemon may not start one: AssertionError, as multiprocessing does
        )
        try:
            with interrupts_held():
                self.process.start()  # OSError (no process to be had): do without
                # once it runs, the child is killed whatever happens: a Ctrl-C before this
                # constructor returns (the object is dropped), an owner that never closes
                # it, the program's end (before multiprocessing joins its children: it
                # would wait for ever on a child blocked writing to this process)
                self._reaper = multiprocessing.util.Finalize(
                    self, _kill_and_reap, args=(self.process,), exitpriority=100
                )
            self._closed = threading.Event()
            self._reading = threading.Lock()  # held while the descriptor is in use
            self.end = End(ours, self._ended)
        except BaseException:  # once started, the reaper ends the child: no signal comes
            ours.close()  # between the start and it (they are held)
            raise
        finally:
            theirs.close()  # the child's alone now: its death is an end of file here

    def recv(self, *, silence: float | None = SILENCE, stop: Callable[[], bool] = bool) -> Any:
        """The child's next message; ``ChildLost`` (with its exit code) if it ended, fell
        silent for ``silence`` seconds, was closed, or ``stop()`` said to give up."""
        with self._reading:
            try:
                if self.closed:
                    raise ChildLost
                return self.end.recv(silence=silence, stop=lambda: self.closed or stop())
            except ChildLost as lost:
                code = None if lost.silent else self.exitcode()
                raise ChildLost(code, silent=lost.silent) from None
            finally:
                if self.closed:  # closed meanwhile: ``close`` may have left the pipe to us
                    self.end.close()

    def send(self, message: Any) -> None:
        """Send ``message`` to the child (``ChildLost`` if it is gone)."""
        with self._reading:
            try:
                if self.closed:
                    raise ChildLost
                self.end.send(message, silence=SILENCE)
            except ChildLost as lost:
                code = None if lost.silent else self.exitcode()
                raise ChildLost(code, silent=lost.silent) from None

    def ready(self) -> bool:
        """Whether a message (or the end of the pipe) is waiting."""
        try:
            return not self.closed and self.end.ready()
        except (OSError, ValueError):
            return True  # the next read says what

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def exitcode(self) -> int | None:
        """The child's exit code once it has ended, waiting for that a moment."""
        with contextlib.suppress(ValueError):  # closed here already
            self.process.join(timeout=1.0)
            code: int | None = self.process.exitcode
            return code
        return None

    def close(self) -> None:
        """Kill the child and reap it (within ``REAP`` seconds), close the pipe
        (idempotent; from any thread)."""
        self._closed.set()
        self._reaper()  # once: later calls do nothing
        # a read under way sees the end of file or the close within a step and closes
        if self._reading.acquire(timeout=REAP):
            try:
                self.end.close()
            finally:
                self._reading.release()

    def _ended(self) -> bool:
        try:
            return self.process.exitcode is not None
        except ValueError:
            return True  # closed here


def _kill_and_reap(process: Any) -> None:
    """Kill ``process`` if it still runs and reap it (within ``REAP`` seconds)."""
    with contextlib.suppress(ValueError):  # released already
        if process.exitcode is None:
            with contextlib.suppress(OSError):
                process.kill()
        process.join(timeout=REAP)
        with contextlib.suppress(ValueError):  # still not reaped: the OS has it later
            process.close()


@contextlib.contextmanager
def memory_limit(memory: int) -> Iterator[None]:
    """Within: at most ``memory`` bytes of address space more than the process has now (an
    allocation beyond it fails, in this process only). For a child."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space() + memory
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _begin(
    work: Callable[..., Any],
    connection: Any,
    parent: int,
    deathsig: bool,
    quiet: bool,
    args: tuple[Any, ...],
) -> None:
    """The child's first steps, then its ``work``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the run stops
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.set_wakeup_fd(-1)  # a fork's signals must not wake the parent's event loop
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if quiet:
        silent = os.open(os.devnull, os.O_WRONLY)
        os.dup2(silent, 1)  # "memory allocation of … bytes failed" is not for the analyst
        os.dup2(silent, 2)
        os.close(silent)
        faulthandler.disable()  # an abort here is the parent's to tell (pytest enables it)
    if deathsig:
        _die_with_parent()
    if os.getppid() != parent:
        os._exit(0)  # the parent went before the death signal was asked for

    def parent_gone() -> bool:
        return os.getppid() != parent

    work(End(connection, parent_gone), *args)


def _widen(connection: Any) -> None:
    """Let the pipe hold ``PIPE_BYTES`` (Linux; 64 KiB otherwise): a message of megabytes
    then crosses in a few reads and writes instead of hundreds, each after a wait."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError):  # beyond /proc/sys/fs/pipe-max-size: as it is
        fcntl.fcntl(connection.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent ends (elsewhere: the waits notice)."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _address_space() -> int:
    """This process's virtual memory size in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()
