"""The one way the importer forks (``importer/child.py``): the child dies with its parent and
leaves the stopping to it; no wait for the child lasts for ever.

The checking child (``validating/test_checked_ahead.py``) and the loading child
(``reading/test_aside.py``) are tested through their own behaviour; here, what both rely on
and cannot show themselves.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

import pytest

from importer.child import Child, ChildLost, End

from ..helpers import gone

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="prctl and /proc: Linux")


def what_it_was_given(end: End) -> None:
    """Tell the parent the child's parent-death signal and its SIGINT/SIGTERM handlers."""
    death = ctypes.c_int()
    ctypes.CDLL(None).prctl(2, ctypes.byref(death), 0, 0, 0)  # PR_GET_PDEATHSIG
    handlers = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
    end.send((death.value, handlers == [signal.SIG_IGN, signal.SIG_IGN]))


def test_the_child_dies_with_the_thread_that_forked_it_only_if_that_is_the_main_one():
    child = Child(what_it_was_given, name="test")
    try:
        assert child.recv(silence=30) == (signal.SIGKILL, True)
    finally:
        child.close()
    # Linux sends the death signal when the *thread* that forked ends: a child started from
    # a worker thread would die with it, so it relies on its waits noticing the parent instead
    started: list[Child] = []
    worker = threading.Thread(target=lambda: started.append(Child(what_it_was_given, name="t")))
    worker.start()
    worker.join()
    try:
        assert started[0].recv(silence=30) == (0, True)
    finally:
        started[0].close()


def never_answers(end: End) -> None:
    end.recv()  # until the parent closes the pipe or goes away


def test_a_stopped_child_is_given_up_after_the_silence_and_closed_at_once():
    child = Child(never_answers, name="test")
    pid = child.process.pid
    os.kill(pid, signal.SIGSTOP)  # alive, and silent for ever
    try:
        started = time.monotonic()
        with pytest.raises(ChildLost) as lost:
            child.recv(silence=0.5)
        assert 0.5 <= time.monotonic() - started < 10
        assert lost.value.how() == "gave no sign of life for 0.5 seconds"
    finally:
        child.close()  # SIGKILL ends a stopped process too; reaped here
    assert gone(pid)
    with pytest.raises(ChildLost):  # closed: no read of a descriptor that is no longer ours
        child.recv()


# --- a child nobody closes: Ctrl-C while it starts, an owner that forgets ----------------

#: a child that writes for ever (the pipe fills; it waits for a reader that never comes);
#: then either its start is interrupted once it forked (``interrupted``) or nobody closes
#: it (``forgotten``), and the program ends: multiprocessing joins its children at exit
_UNCLOSED = """
import os, sys, time
from importer import child as module

def chatters(end):
    while True:
        end.send(b"x" * 65536)

parent = os.getpid()
if sys.argv[1] == "interrupted":
    real = module.End
    def interrupted(*args, **kwargs):  # Ctrl-C just after the fork, in this process only
        if os.getpid() == parent:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    module.End = interrupted
    try:
        module.Child(chatters, name="test")
    except KeyboardInterrupt:
        pass
else:
    kept = module.Child(chatters, name="test")
time.sleep(0.3)  # the child fills the pipe
"""


@pytest.mark.parametrize("how", ["interrupted", "forgotten"])
def test_a_child_nobody_closes_does_not_keep_the_program_from_ending(how: str) -> None:
    import subprocess

    from ..helpers import ROOT, children_of

    proc = subprocess.Popen(
        [sys.executable, "-c", _UNCLOSED, how],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    children: list[int] = []
    while not children and time.monotonic() < deadline and proc.poll() is None:
        children = children_of(proc.pid)
        time.sleep(0.01)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"{how}: the program never ended: it waits for its child")
    assert proc.returncode == 0, err
    assert all(gone(pid) for pid in children)


_CTRL_C_IN_THE_FORK = """
import os, signal, sys
from importer.child import Child

def quiet(end):
    end.recv()

# Ctrl-C lands while the fork's own hooks run (logging's, right after it): as there, a
# KeyboardInterrupt raised in such a hook would be printed and lost
os.register_at_fork(after_in_parent=lambda: os.kill(os.getpid(), signal.SIGINT))
try:
    child = Child(quiet, name="test")
except KeyboardInterrupt:
    print("interrupted")
    sys.exit(0)
child.close()
print("went on")
"""


def test_a_ctrl_c_during_the_fork_is_not_lost() -> None:
    import subprocess

    from ..helpers import ROOT

    done = subprocess.run(
        [sys.executable, "-c", _CTRL_C_IN_THE_FORK],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.strip() == "interrupted", done.stdout + done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr
