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
