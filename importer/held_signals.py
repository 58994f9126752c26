"""Ctrl-C and SIGTERM held while the program does what a KeyboardInterrupt must not land
in: a fork (``child``), the loading of the commands (``cli``). Python's own hooks that run
there (logging's after a fork, importlib's as a module loads) print an interrupt raised in
them as 'Exception ignored' and drop it. Loads nothing but ``signal``: the command line
imports it before it can catch a Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Within: Ctrl-C and SIGTERM are held, and handled as before once it ends. A
    KeyboardInterrupt raised inside Python's own hooks (logging's at a fork, importlib's
    as a module loads) is printed as 'Exception ignored' and lost: the program would go on
    as if never told to stop. Only the main thread handles signals; elsewhere nothing is
    held."""
    stops = (signal.SIGINT, signal.SIGTERM)
    # a handler set outside Python (None) could not be put back: such a program keeps its own
    if threading.current_thread() is not threading.main_thread() or any(
        signal.getsignal(sig) is None for sig in stops
    ):
        yield
        return
    held: list[int] = []
    before = {sig: signal.signal(sig, lambda signum, _: held.append(signum)) for sig in stops}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        if held:
            handler = before[signal.Signals(held[0])]
            if callable(handler):
                handler(held[0], None)  # Python's own raises KeyboardInterrupt
            elif handler == signal.SIG_DFL:
                signal.raise_signal(held[0])
