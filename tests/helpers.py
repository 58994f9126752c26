"""What the tests share besides fixtures: where things are, ways to run the real CLI, files
to feed it and ways to read what it wrote. Fixtures are in ``conftest.py``; the hand-written
misbehaving APIs in ``servers.py``."""

from __future__ import annotations

import contextlib
import csv
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest

from importer.config import Settings
from importer.errors import InputError
from importer.pipeline import validate_file
from importer.read import ReadOptions
from importer.sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, RunningSandbox

from .forkserver import Launched, launch
from .servers import Handler, Served, api_app, serve

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
PROFILES = ROOT / "schemas" / "profiles"
DATA = Path(__file__).resolve().parent / "data"
SHARED_DATA = ROOT.parent / "shared" / "data"

#: no pacing, no wait between attempts, no progress bar: for runs whose pace is not the point
FAST = ["--rate", "0", "--retry-wait", "0", "--quiet"]
#: a short wait before a retry and no progress bar; the pace is each test's own (most set
#: ``--rate``, two keep the default)
QUICK_RETRIES = ["--retry-wait", "0.01", "--quiet"]
#: ``FAST`` with sixteen workers and a short wait before a retry (not none), for runs of
#: thousands of rows against the sandbox's faults, where retries should still interleave
FAST_WIDE = ["--quiet", "--rate", "0", "--concurrency", "16", "--retry-wait", "0.01"]

#: the options that make ``open_table`` read a workbook with each Excel reader (every test
#: workbook fits calamine's budget of a TiB; a budget of -1 bytes leaves openpyxl); "calamine
#: aside": in a child process wherever the code asks for it (``validate``: every sheet is
#: large enough)
READER_OPTIONS = {
    "calamine": ReadOptions(calamine_max_bytes=1 << 40),
    "calamine aside": ReadOptions(calamine_max_bytes=1 << 40, aside_min_bytes=0),
    "openpyxl": ReadOptions(calamine_max_bytes=-1),
}


def read_report(path: Path) -> list[dict[str, str]]:
    """The report's rows as dicts (first occurrence of a header wins)."""
    header, *rows = read_rows(path)
    result = []
    for row in rows:
        line: dict[str, str] = {}
        for name, value in zip(header, row, strict=True):
            line.setdefault(name, value)
        result.append(line)
    return result


def read_rows(path: Path) -> list[list[str]]:
    """A CSV's rows as lists, header included."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def read_retry(report: Path) -> list[list[str]]:
    """The rows of the retry file beside ``report`` (header first): the workbook
    ``<stem>.retry.xlsx``, or ``<stem>.retry.csv`` written with ``--retry-format csv``."""
    as_csv = report.with_name(f"{report.stem}.retry.csv")
    if as_csv.exists():
        return read_rows(as_csv)
    import openpyxl

    book = openpyxl.load_workbook(report.with_name(f"{report.stem}.retry.xlsx"), read_only=True)
    try:
        return [
            ["" if value is None else str(value) for value in row]
            for row in book.worksheets[0].iter_rows(values_only=True)
        ]
    finally:
        book.close()


def read_by(path: Path, reader: str, **options: object) -> None:
    """Check that ``reader`` (the ``excel_reader`` fixture's choice) reads the workbook."""
    from importer.read import open_table

    table = open_table(path, options=READER_OPTIONS[reader], **options)  # type: ignore[arg-type]
    assert table.reader == reader


def write_csv(
    path: Path, rows: list[list[str]], *, encoding: str = "utf-8", delimiter: str = ","
) -> Path:
    """Write rows (header first) as a CSV file."""
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


HEADER = ["Reference", "Account", "Contact", "Type", "Source", "Happened At", "Subject"]


def activity_rows(count: int, *, prefix: str = "R", start: int = 0) -> list[list[str]]:
    """``count`` distinct valid activity rows (no header)."""
    return [
        [
            f"{prefix}-{i:06d}",
            f"Account {i % 97}",
            f"person{i}@customer{i % 13}.example",
            "Support Ticket",
            "Zendesk",
            f"2024-03-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}",
            f"Subject {i}",
        ]
        for i in range(start, start + count)
    ]


def children_of(pid: int) -> list[int]:
    """The processes ``pid`` started that are still its children (Linux /proc)."""
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


def gone(pid: int) -> bool:
    """The process ended (reaped, or a zombie waiting for its new parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True


def all_gone(pids: Iterable[int], timeout: float = 10.0) -> bool:
    """Whether every one of ``pids`` has ended, waiting up to ``timeout`` seconds."""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return all(gone(pid) for pid in pids)


def read_report_in_columns(path: Path) -> list[dict[str, str]]:
    """``read_report``, and the report starts with the columns SPEC.md names, in its order: the
    delivery tests pin that too. (A repeated header keeps its last value here, not its first:
    no file those tests write repeats one.)"""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames is not None
        assert reader.fieldnames[: len(REPORT_COLUMNS)] == REPORT_COLUMNS
        return list(reader)


REPORT_COLUMNS = [
    "source_row",
    "status",
    "reference",
    "activity_id",
    "http_status",
    "attempts",
    "errors",
]


def statuses(report: Path) -> Counter[str]:
    """How many report lines have each status."""
    return Counter(line["status"] for line in read_report(report))


def assert_every_row(report: Path, rows: int) -> list[dict[str, str]]:
    """The report has one line per input row, in input order."""
    lines = read_report(report)
    assert [int(line["source_row"]) for line in lines] == list(range(2, rows + 2))
    return lines


def assert_all_imported(report: list[dict[str, str]], rows: int) -> None:
    """Every one of ``rows`` lines, in input order, imported with a reference and an id."""
    assert [int(line["source_row"]) for line in report] == list(range(2, rows + 2))
    counts = Counter(line["status"] for line in report)
    assert counts == {"imported": rows}, counts
    assert all(line["reference"] and line["activity_id"] for line in report)


def assert_one_creation_each(box: RunningSandbox) -> None:
    """The sandbox created no activity twice."""
    stats = box.sandbox.stats
    twice = {ref: n for ref, n in box.sandbox.creations.items() if n != 1}
    assert stats.duplicates == 0, f"created more than once: {twice}"
    assert not twice, f"created more than once: {twice}"


def assert_clean(result: CliResult) -> None:
    """No traceback and no 'internal error' (a bug), whatever the exit code."""
    assert "Traceback" not in result.output, result.output
    assert "internal error" not in result.output, result.output


def one_line(err: str) -> str:
    """The one non-blank line of ``err``, which holds no traceback."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def written_bytes(folder: Path) -> dict[Path, bytes]:
    """Every file under ``folder`` (report, retry, summary, journal and its -wal/-shm)."""
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


# --- files to feed the importer --------------------------------------------------------------


def referenced_rows(count: int, *, referenced_every: int = 2, tag: str = "") -> list[list[str]]:
    """``count`` distinct, valid rows; every ``referenced_every``-th has a Reference. Unlike
    ``activity_rows`` (a reference each, one type and source), the rest get derived
    references, and types, sources and months vary: what the delivery tests need."""
    rows = []
    for i in range(count):
        reference = f"REF{tag}-{i:06d}" if referenced_every and i % referenced_every == 0 else ""
        rows.append(
            [
                reference,
                f"Account {i % 97}",
                f"person{i}@customer{i % 13}.example",
                ("Support Ticket", "Call", "Meeting", "Invoice")[i % 4],
                ("Zendesk", "Salesforce", "HubSpot")[i % 3],
                f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} "
                f"{i % 24:02d}:{i % 60:02d}:{(i // 60) % 60:02d}",
                f"Subject {tag} {i}",
            ]
        )
    return rows


def write_file(path: Path, data: bytes | str) -> Path:
    """A file of exactly these bytes (text as UTF-8)."""
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def write_mapping(tmp_path: Path, text: str) -> Path:
    """``mapping.toml`` in ``tmp_path``, holding ``text``."""
    path = tmp_path / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


def source_file(tmp_path: Path, rows: int, name: str = "in.csv") -> Path:
    """A CSV of ``rows`` valid activity rows under ``HEADER``."""
    return write_csv(tmp_path / name, [HEADER, *activity_rows(rows)])


def csv_text(rows: list[list[str]], sep: str = ",", eol: str = "\n") -> str:
    """Rows joined by hand, without the csv module's quoting: to write files it would not."""
    return "".join(sep.join(row) + eol for row in rows)


def save_book(book: openpyxl.Workbook, path: Path) -> Path:
    book.save(path)
    return path


def small_book(tmp_path: Path) -> Path:
    """A workbook of three valid activity rows."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in activity_rows(3):
        sheet.append(row)
    return save_book(book, tmp_path / "book.xlsx")


def fifo(path: Path) -> Path:
    """A named pipe, owner-only, so only "is it a regular file?" can refuse it."""
    os.mkfifo(path, 0o600)
    path.chmod(0o600)
    return path


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- running the real CLI --------------------------------------------------------------------


@dataclass
class CliResult:
    """Exit code and everything the program printed."""

    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


def api_args(box: RunningSandbox) -> list[str]:
    """The flags that point ``run`` at a sandbox."""
    return ["--api-url", box.api_url, "--token-url", box.token_url]


def validated(cli: Callable[..., CliResult], source: Path, tmp_path: Path, *extra: str | Path):
    """``validate`` of ``source`` into ``out/report.csv``: the result, and the report's lines
    when it wrote one."""
    report = tmp_path / "out" / "report.csv"
    result = cli("validate", source, "--report", report, *extra)
    return result, (read_report(report) if result.code in (0, 1) else [])


def validate_in_process(source: Path, tmp_path: Path, **options: object) -> list[dict[str, str]]:
    """``validate_file`` in this process, without the CLI (for settings it has no flag for,
    such as ``chunk_rows``): the report's lines."""
    report = tmp_path / f"{source.stem}-report.csv"
    validate_file(Settings(input=source, report=report, **options))  # type: ignore[arg-type]
    return read_report(report)


def subprocess_env() -> dict[str, str]:
    """This process's environment with the sandbox's demo credentials, output unbuffered."""
    return {
        **os.environ,
        "CG_CLIENT_ID": DEMO_CLIENT_ID,
        "CG_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "PYTHONUNBUFFERED": "1",
    }


def run_subprocess(
    *argv: str | Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    preexec: Callable[[], None] | None = None,
) -> CliResult:
    """Run ``python -m importer`` as a separate process, as a scheduler would (``env`` added to
    this process's; ``preexec`` to set limits in the child, which is then started anew, not
    forked: ``forkserver``); a run still going after ``timeout`` seconds fails the test: it
    hangs."""
    full_env = {**os.environ, **(env or {})}
    args = [str(a) for a in argv]
    if preexec is None:
        proc = launch(args, full_env, cwd or Path.cwd())
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            err = "(its output still held open by a process it started)"
            with contextlib.suppress(subprocess.TimeoutExpired):  # a child holds its pipes
                out, err = proc.communicate(timeout=10)
            hung = f"cg-import {argv[0]} still running after {timeout:.0f} s (it hangs)"
            pytest.fail(f"{hung}:\n{err}")
        assert proc.returncode is not None
        return CliResult(proc.returncode, out, err)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "importer", *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            preexec_fn=preexec,
        )
    except subprocess.TimeoutExpired as hung:
        pytest.fail(
            f"cg-import {argv[0]} still running after {timeout:.0f} s (it hangs):\n{hung.stderr!r}"
        )
    return CliResult(done.returncode, done.stdout, done.stderr)


def run_bounded(
    *argv: str | Path, timeout: float, env: dict[str, str] | None = None
) -> tuple[CliResult, float]:
    """``run_subprocess``, and how many seconds it took: for tests that bound a run's time."""
    started = time.monotonic()
    result = run_subprocess(*argv, env=env, timeout=timeout)
    return result, time.monotonic() - started


def run_file(
    tmp_path: Path,
    put: Handler,
    rows: list[list[str]],
    *flags: str,
    api_url: str | None = None,
    preexec: Callable[[], None] | None = None,
) -> tuple[CliResult, Path, Served]:
    """``run`` of ``rows`` in a separate process (demo credentials, 60 s before it counts as a
    hang) against an API whose ``PUT`` is ``put`` (``api_url`` instead, if given: the token
    URL still answers): what it did, its report, and what the API saw."""
    source = write_csv(tmp_path / "a.csv", [HEADER, *rows])
    report = tmp_path / "a-report.csv"
    with serve(api_app(put)) as server:
        where = server.args()
        if api_url is not None:
            where[1] = api_url
        done = run_subprocess(
            "run", source, "--report", report, *where, *flags,
            env=subprocess_env(), cwd=tmp_path, timeout=60, preexec=preexec,
        )  # fmt: skip
    return done, report, server


def start_run(
    argv: list[str], tmp_path: Path, prelude: str = "", *, fresh: bool = False
) -> Launched | subprocess.Popen[str]:
    """``python -m importer …`` as a separate process, as a scheduler starts it; the test
    goes on while it runs (to kill it, interrupt it, or start another). ``prelude``: Python
    run in that process before the command (to set a module's constant); ``fresh``: started
    anew, not forked by ``forkserver`` (a test of what happens while Python starts)."""
    return launch(argv, subprocess_env(), tmp_path, prelude, fresh=fresh)


def wait_until(
    condition: Callable[[], bool], proc: Launched | subprocess.Popen[str], timeout: float
) -> None:
    """Poll ``condition`` until true; fail if the process ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (exit {proc.returncode}) too early:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail("the run made no progress in time")
        time.sleep(0.01)


def assert_a_broken_file_stops_both_ways_alike(
    checked_all: Callable[..., object], tmp_path: Path
) -> None:
    """A CSV broken further on (a row of more cells than can be read) stops ``checked_all``
    with the same message whether a second process checks it (``child=True``) or not."""
    rows = [HEADER, *activity_rows(2500)]
    rows[2000] = rows[2000] + ["one cell too many"] * 30  # more cells than can be read
    source = write_csv(tmp_path / "broken.csv", rows)
    messages = []
    for child in (False, True):
        with pytest.raises(InputError) as raised:
            checked_all(source, child=child)
        messages.append(str(raised.value))
    assert messages[0] == messages[1]
    assert "row 2,001 has many more cells" in messages[0], messages[0]
