"""A run that ends while its checks still ask the history (``history.Lookup``).

A refused token, a stall or Ctrl-C ends a run while a slice checked ahead is still being
looked up in a thread of this process: the run closes the history under it. Closing an
SQLite connection while another thread reads through it crashes the interpreter
(segmentation fault: seen on CI, a nightly ``inbox`` run with refused credentials). The
close must wait for the lookup under way, and a lookup after the close must fail as an
error, not read a closed connection.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from ..helpers import ROOT

ROWS = 50_000  # three batches of queries

#: in a process of its own: what fails here is the interpreter, not an assertion
_SCRIPT = textwrap.dedent(
    """
    import hashlib, sys, tempfile, threading, time
    from pathlib import Path
    from importer.history import History, Lookup

    path = Path(tempfile.mkdtemp()) / "history.sqlite"
    history = History(path, "https://api.example", "client")
    digest = hashlib.sha256(b"body").digest()
    references = [f"REF-{n:07d}" for n in range(int(sys.argv[2]))]
    history.record_many(((ref, digest, f"A{n}") for n, ref in enumerate(references)), "f.csv")
    history.close()

    outcome = []
    for attempt in range(int(sys.argv[1])):
        lookup = Lookup(path, "https://api.example", "client")
        def ask():
            try:
                outcome.append(len(lookup.unchanged(references, [digest] * len(references))))
            except Exception as err:  # closed under it: an error, not a crash
                outcome.append(type(err).__name__)
        asking = threading.Thread(target=ask)
        asking.start()
        time.sleep(0.002 * attempt)  # somewhere inside the batches of queries
        lookup.close()
        asking.join(30)
        assert not asking.is_alive(), "the lookup never ended"
    print(outcome)
    """
)


def test_closing_the_history_while_a_lookup_reads_it_does_not_crash() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, "25", str(ROWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-2000:]}"
    outcome = eval(done.stdout)  # a list of row counts and error names
    assert len(outcome) == 25
    # each lookup either finished before the close or failed as one error
    assert set(outcome) <= {ROWS, "ReportError"}, outcome
