"""``python -m importer`` in a process of its own, as a scheduler starts it, without paying
again for Python's start and the imports every command makes (about 0.5 s of CPU a
process: most of what the suite's ~60 runs in processes of their own cost).

One server process per pytest worker loads the package and what its commands load as they
go (``_LOADED``), then forks a child for each run. The child takes the run's standard
streams, environment, working folder and arguments, and runs ``python -m importer``
(``runpy``, as ``-m`` does). It is a real process: signals, exit codes, its own children
and its end are those of the program. What differs from
``subprocess.Popen([sys.executable, "-m", "importer", …])``:

- its parent is the server, which passes its exit status back; ``Launched`` gives it as
  ``Popen`` does;
- the modules are loaded before it starts (a test of what happens while Python starts,
  or of which modules a command loads, starts a real process);
- what Python reads from the environment only as it starts (``PYTHON*``, the locale) is the
  server's: a run asking for other values of these gets a real process (``launch``).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import pkgutil
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: read by Python as it starts: a run whose environment differs in one of these from the
#: server's is started as a real process
_AT_START = ("PYTHON", "LANG", "LC_")
_MAX_REQUEST = 1 << 20
#: loaded before the server forks: every module of the package and what its commands load
#: as they go (the HTTP client, pandera's checks, the Excel writers), so that a run pays
#: for none of it. Whether pandera is loaded only for a row that may fail is a fact of a
#: real start: ``tests/validating/test_rules_table.py`` checks it in a process of its own
_LOADED = (
    "aiohttp",
    "pandera.backends.pandas.builtin_checks",
    "xlsxwriter",
    "openpyxl",
)


# --- the server (its own process) -------------------------------------------------------


def serve(control_fd: int) -> str:
    """Fork a child for each request on ``control_fd`` and pass back its pid, then its exit
    status; end once the worker that started the server is gone. Returns only in a child,
    set up for its run (``_become``): the prelude to run before the command."""
    import importer

    for module in pkgutil.walk_packages(importer.__path__, "importer."):
        if not module.name.endswith("__main__"):  # the program itself: runs when a child starts
            importlib.import_module(module.name)
    for name in _LOADED:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # it ends with its worker (the socket)
    control = socket.socket(fileno=control_fd)
    waiting = selectors.DefaultSelector()
    waiting.register(control, selectors.EVENT_READ, None)
    while True:
        for key, _ in waiting.select():
            if key.data is None:
                request = _receive(control)
                if request is None:  # the worker ended: so does the server
                    os._exit(0)
                message, reply, stdio = request
                pid = os.fork()
                if pid == 0:
                    for held in list(waiting.get_map().values()):
                        if held.data is not None:
                            held.data[1].close()
                            os.close(held.fd)
                    waiting.close()
                    control.close()
                    _become(message, stdio)
                    # its pid, once it handles signals as the program does: a Ctrl-C the
                    # test sends from then on is the program's (one sent before would be
                    # lost in the fork, or ignored as the server ignores it)
                    reply.sendall(f"{os.getpid()}\n".encode())
                    reply.close()
                    return str(message["prelude"])
                for fd in stdio:
                    os.close(fd)
                waiting.register(os.pidfd_open(pid), selectors.EVENT_READ, (pid, reply))
            else:
                pid, reply = key.data
                _, status = os.waitpid(pid, 0)
                with contextlib.suppress(OSError):  # the test gave up on the run
                    reply.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
                reply.close()
                waiting.unregister(key.fd)
                os.close(key.fd)


def _receive(control: socket.socket) -> tuple[dict[str, Any], socket.socket, list[int]] | None:
    message, fds, _, _ = socket.recv_fds(control, _MAX_REQUEST, 4)
    if not message:
        return None
    return json.loads(message), socket.socket(fileno=fds[0]), fds[1:]


def _become(message: dict[str, Any], stdio: list[int]) -> None:
    """In the forked child: the run's streams, environment, folder and arguments."""
    for target, fd in enumerate(stdio):
        os.dup2(fd, target)
        os.close(fd)
    # Ctrl-C as in a program started from a terminal or a scheduler, even where the suite
    # itself was started with it ignored (a background job of a script)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(message["cwd"])
    os.environ.clear()
    os.environ.update(message["env"])
    time.tzset()
    sys.path[0] = message["cwd"]  # as ``python -m`` puts the working folder first
    sys.argv = ["-m", *message["argv"]]


def main() -> None:
    """The server's process: serve, and in each child run the command it was given."""
    prelude = serve(int(sys.argv[1]))
    exec(_AS_MAIN.format(prelude=prelude), {"__name__": "__prelude__"})


# --- the test's side ----------------------------------------------------------------------


class _Server:
    """This worker's server process, started at its first use, ended with the worker."""

    def __init__(self) -> None:
        here, there = socket.socketpair()
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(there.fileno())],
            pass_fds=[there.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=self.env,
            cwd=ROOT,
        )
        there.close()
        self.control = here
        atexit.register(self.close)

    def fits(self, env: dict[str, str]) -> bool:
        """Whether a run with ``env`` may be forked: what Python reads as it starts is ours."""
        keys = {k for k in (*env, *self.env) if k.startswith(_AT_START)}
        return all(env.get(k) == self.env.get(k) for k in keys)

    def close(self) -> None:
        self.control.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_server: _Server | None = None


class Launched:
    """A run the server started, seen as ``subprocess.Popen`` shows one (``text=True``,
    standard output and error piped): ``pid``, ``poll``, ``wait``, ``communicate``,
    ``send_signal``, ``terminate``, ``kill``, ``returncode``."""

    def __init__(
        self, server: _Server, argv: list[str], env: dict[str, str], cwd: Path, prelude: str
    ) -> None:
        self.args = [sys.executable, "-m", "importer", *argv]
        self.returncode: int | None = None
        status_here, status_there = socket.socketpair()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        stdin = os.open(os.devnull, os.O_RDONLY)
        request = {"argv": argv, "env": env, "cwd": str(cwd), "prelude": prelude}
        message = json.dumps(request).encode()
        try:
            socket.send_fds(
                server.control, [message], [status_there.fileno(), stdin, out_write, err_write]
            )
        except OSError as gone:
            for fd in (out_read, err_read):
                os.close(fd)
            status_here.close()
            raise RuntimeError(f"the fork server is gone: {self.args}") from gone
        finally:
            for fd in (stdin, out_write, err_write):
                os.close(fd)
            status_there.close()
        self._status = status_here
        self._pending = b""
        self._streams = {out_read: bytearray(), err_read: bytearray()}
        self._open = [out_read, err_read]
        self.pid = int(self._line(timeout=30))

    def _line(self, timeout: float | None) -> str:
        """The next line (the child's pid, then its exit status from the server), waiting
        ``timeout`` seconds (``TimeoutError``)."""
        self._status.settimeout(timeout)
        while b"\n" not in self._pending:
            try:
                chunk = self._status.recv(64)
            except BlockingIOError:  # a timeout of 0
                raise TimeoutError from None
            if not chunk:
                raise RuntimeError(f"the fork server is gone: {self.args}")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode()

    def poll(self) -> int | None:
        if self.returncode is None:
            with contextlib.suppress(TimeoutError):
                self.returncode = int(self._line(timeout=0))
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            try:
                self.returncode = int(self._line(timeout=timeout))
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout) from None
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """All of standard output and error, once the run ended (and its children closed
        them); ``TimeoutExpired`` after ``timeout`` seconds, the output kept for a retry."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with selectors.DefaultSelector() as ready:
            for fd in self._open:
                ready.register(fd, selectors.EVENT_READ)
            while self._open:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout)
                for key, _ in ready.select(left):
                    chunk = os.read(key.fd, 1 << 16)
                    if chunk:
                        self._streams[key.fd] += chunk
                    else:
                        ready.unregister(key.fd)
                        os.close(key.fd)
                        self._open.remove(key.fd)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        self.wait(left)
        self._status.close()
        out, err = (bytes(self._streams[fd]).decode() for fd in self._streams)
        return out, err

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __del__(self) -> None:
        if not hasattr(self, "_open"):  # the server refused the run: nothing was opened
            return
        for fd in self._open:
            os.close(fd)
        self._open = []
        self._status.close()


def launch(
    argv: list[str], env: dict[str, str], cwd: Path, prelude: str = "", *, fresh: bool = False
) -> Launched | subprocess.Popen[str]:
    """``python -m importer *argv`` with ``env`` in ``cwd``, standard input empty, output
    and error piped as text: forked by this worker's server, or a real process where the
    environment asks for what Python reads only as it starts. ``prelude``: Python run in
    the process just before the command (to set a module's constant); ``fresh``: a real
    process whatever the environment (a test of what happens while Python starts)."""
    global _server
    if (_server is None or _server.process.poll() is not None) and not fresh:
        _server = _Server()  # the first run of this worker, or its server died
    if fresh or _server is None or not _server.fits(env):
        command = [sys.executable, "-m", "importer", *argv]
        if prelude:
            command = [sys.executable, "-c", _AS_MAIN.format(prelude=prelude), *argv]
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
    return Launched(_server, argv, env, cwd, prelude)


_SERVER = "from tests.forkserver import main; main()"
#: ``python -m importer`` after a prelude: what a forked child runs, and a real process
#: given a prelude
_AS_MAIN = """{prelude}
import runpy
runpy.run_module("importer", run_name="__main__", alter_sys=True)"""
