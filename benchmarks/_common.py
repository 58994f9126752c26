"""Shared helpers for the benchmark scripts (not tests: they print figures side by side).

- ``write_csv`` / ``write_xlsx``: N valid activity rows, streamed to disk in blocks;
- ``SandboxProcess``: ``python -m importer sandbox`` as a separate process on 127.0.0.1;
- ``measure``: run one command, return its wall time and peak RSS (of it alone, or of it and
  its child processes together).

Generated data goes to a temporary directory (``workdir``), never into the repository.
Every wait is bounded by a deadline.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = os.environ.get("CG_BENCH_PYTHON") or (sys.executable)
HEADERS = [
    "Reference",
    "Account",
    "Contact",
    "Type",
    "Source",
    "Happened At",
    "Subject",
    "Agent",
    "Priority",
]
DEMO_ENV = {"CG_CLIENT_ID": "demo-client", "CG_CLIENT_SECRET": "demo-secret"}
HOST = "127.0.0.1"

_ACCOUNTS = [
    "Brightlane Logistics",
    "Vantage Health Systems",
    "Northwind Traders",
    "Kestrel Analytics",
    "Bluefin Retail Group",
    "Orchard & Vine",
    "Helios Energy, Inc.",
    "Cobalt Media",
    "Summit Dental Partners",
    "Ironbridge Manufacturing",
    "Lumen Education",
    "Maple Street Bakery",
    "Quantia Insurance",
    "Redwood Legal LLP",
    "Tidewater Shipping",
    "Zenith Software",
]
_DOMAINS = [
    "brightlane.example",
    "vantagehealth.example",
    "northwind.example",
    "kestrel.example",
    "bluefin.example",
    "orchardvine.example",
    "helios.example",
    "cobalt.example",
]
_TYPES = ["Support Ticket", "Call", "Meeting", "Invoice", "Email", "Onboarding Session"]
_SOURCES = ["Zendesk", "Freshdesk", "Salesforce", "HubSpot", "Excel"]
_SUBJECTS = [
    "Dashboard loads slowly",
    "Follow-up on pricing proposal",
    "Cannot export report, error 500",
    'Question about "annual" plan',
    "Password reset",
    "Quarterly business review",
    "Invoice #4471 disputed",
    "Onboarding: step 3 of 5",
    "Feature request \u2013 bulk edit",
    "Renewal discussion",
]
_AGENTS = ["Maria Lopez", "Jonas Weber", "Aiko Tanaka", "Samir Haddad", "Chloé Martin"]
_PRIORITIES = ["Low", "Normal", "High", "Urgent"]
_BASE = dt.datetime(2023, 1, 1, 0, 0, 0)
_SPAN = 2 * 365 * 24 * 3600  # two years of seconds


def row_values(i: int, prefix: str = "BM") -> list[Any]:
    """Row ``i`` (0-based) of the generated data; ``happened_at`` as a naive datetime."""
    return [
        f"{prefix}-{i:08d}",  # distinct references
        _ACCOUNTS[i % len(_ACCOUNTS)],
        f"user{i % 7919}@{_DOMAINS[i % len(_DOMAINS)]}",  # never @unknown.example
        _TYPES[i % len(_TYPES)],
        _SOURCES[(i // 3) % len(_SOURCES)],
        _BASE + dt.timedelta(seconds=(i * 7919 + 13) % _SPAN),
        _SUBJECTS[(i * 7) % len(_SUBJECTS)],
        _AGENTS[(i // 5) % len(_AGENTS)],
        _PRIORITIES[(i * 3) % len(_PRIORITIES)],
    ]


def _text_rows(start: int, stop: int, prefix: str) -> Iterator[list[Any]]:
    for i in range(start, stop):
        values = row_values(i, prefix)
        values[5] = values[5].strftime("%Y-%m-%d %H:%M:%S")  # `2024-03-05 14:22:10` style
        yield values


def write_csv(path: Path, rows: int, prefix: str = "BM", block: int = 50_000) -> Path:
    """Write ``rows`` valid activity rows as UTF-8 CSV, ``block`` rows at a time."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        for start in range(0, rows, block):
            writer.writerows(_text_rows(start, min(rows, start + block), prefix))
    return path


def write_xlsx(path: Path, rows: int, prefix: str = "BM") -> Path:
    """Write ``rows`` valid activity rows as XLSX (openpyxl write-only; dates as date cells)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Activities")
    sheet.append(HEADERS)
    for i in range(rows):
        sheet.append(row_values(i, prefix))
    book.save(path)
    return path


def csv_bodies(path: Path) -> list[dict[str, Any]]:
    """The JSON bodies an importer would send for a generated CSV (for a bare client)."""
    bodies = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for ref, account, contact, kind, source, when, subject, agent, priority in reader:
            bodies.append(
                {
                    "reference": ref,
                    "account": account,
                    "contact": contact,
                    "type": kind,
                    "source": source,
                    "happened_at": when,
                    "additional_information_object": {
                        "Subject": subject,
                        "Agent": agent,
                        "Priority": priority,
                    },
                }
            )
    return bodies


def count_csv_data_lines(path: Path) -> int:
    """Data records of a CSV report (header excluded; quoted newlines handled)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return max(0, sum(1 for _ in csv.reader(handle)) - 1)


# --- temp dir -----------------------------------------------------------------------------


@contextlib.contextmanager
def workdir(keep: bool = False) -> Iterator[Path]:
    """A fresh temporary directory, removed afterwards unless ``keep``."""
    path = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"(kept {path})", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


# --- sandbox ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class SandboxProcess:
    """``python -m importer sandbox`` in a process of its own, on 127.0.0.1."""

    def __init__(
        self,
        log_dir: Path,
        *,
        rate_limit: int = 0,
        rate_limit_window: float = 1.0,
        rate_headers: bool = True,
        latency: float = 0.0,
        start_timeout: float = 30.0,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.api_url = f"{self.base_url}/activities"
        self.token_url = f"{self.base_url}/oauth2/token"
        cmd = [PYTHON, "-m", "importer", "sandbox", "--port", str(self.port)]
        if rate_limit:
            cmd += ["--rate-limit", str(rate_limit), "--rate-limit-window", str(rate_limit_window)]
        if not rate_headers:
            cmd.append("--no-rate-headers")
        if latency:
            cmd += ["--latency", str(latency)]
        self._log_path = log_dir / f"sandbox-{self.port}.log"
        self._log = self._log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + start_timeout
        while True:
            if self.proc.poll() is not None:
                self._log.close()
                raise RuntimeError(
                    f"sandbox exited with {self.proc.returncode}: "
                    + self._log_path.read_text(errors="replace")[-2000:]
                )
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"sandbox did not answer on port {self.port}") from None
                time.sleep(0.05)

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base_url}/_sandbox/stats", timeout=10) as resp:
            data: dict[str, Any] = json.load(resp)
            return data

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT (the sandbox's Ctrl-C), then SIGKILL if it lingers; only this process."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._log.close()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- measuring a child process ------------------------------------------------------------

TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
_MAXRSS = re.compile(r"Maximum resident set size \(kbytes\):\s*(\d+)")


@dataclass
class Measurement:
    """What one child process did."""

    cmd: list[str]
    returncode: int
    wall: float  # seconds
    peak_rss_kb: int | None
    stdout: str = ""
    stderr: str = ""
    method: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def peak_rss_mb(self) -> float | None:
        return None if self.peak_rss_kb is None else self.peak_rss_kb / 1024

    def check(self, allowed: tuple[int, ...] = (0,)) -> Measurement:
        if self.returncode not in allowed:
            raise RuntimeError(
                f"{' '.join(self.cmd)} exited {self.returncode}\n"
                f"stdout: {self.stdout[-2000:]}\nstderr: {self.stderr[-2000:]}"
            )
        return self


def measure(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 3600.0,
    tree: bool = False,
) -> Measurement:
    """Run ``cmd``; its wall time and peak RSS (GNU time -v, else psutil polling).

    ``tree``: the peak of the memory of the process and its children added up, polled
    every 20 ms (GNU time gives the largest single process's peak: a command whose work is
    shared with a child process would look smaller than it is). Where the system tells it
    (Linux), each process's proportional set size: a page a forked child still shares with
    its parent counts once, not twice as in their RSS."""
    full_env = {**os.environ, **(env or {})}
    if TIME_BIN and not tree:
        with tempfile.NamedTemporaryFile("r", suffix=".time", delete=False) as tmp:
            time_file = Path(tmp.name)
        try:
            started = time.perf_counter()
            proc = subprocess.run(
                [TIME_BIN, "-v", "-o", str(time_file), *cmd],
                env=full_env,
                cwd=cwd or ROOT,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
            wall = time.perf_counter() - started
            found = _MAXRSS.search(time_file.read_text(errors="replace"))
        finally:
            time_file.unlink(missing_ok=True)
        return Measurement(
            cmd,
            proc.returncode,
            wall,
            int(found.group(1)) if found else None,
            proc.stdout,
            proc.stderr,
            "GNU time -v",
        )
    return _measure_psutil(cmd, full_env, cwd or ROOT, timeout, proportional=tree)


def _measure_psutil(
    cmd: list[str], env: dict[str, str], cwd: Path, timeout: float, *, proportional: bool = False
) -> Measurement:
    import psutil

    def size(member: Any) -> int:
        if proportional and sys.platform == "linux":
            return int(member.memory_full_info().pss)
        return int(member.memory_info().rss)

    peak = 0
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    out: list[str] = []
    err: list[str] = []
    readers = [
        threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True),  # type: ignore[union-attr]
        threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True),  # type: ignore[union-attr]
    ]
    for reader in readers:
        reader.start()
    watched = psutil.Process(proc.pid)
    deadline = started + timeout
    while proc.poll() is None and time.perf_counter() < deadline:
        with contextlib.suppress(psutil.Error):
            family = [watched, *watched.children(recursive=True)]
            rss = 0
            for member in family:
                with contextlib.suppress(psutil.Error):
                    rss += size(member)
            peak = max(peak, rss)
        time.sleep(0.02)
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    wall = time.perf_counter() - started
    for reader in readers:
        reader.join(10)
    return Measurement(
        cmd,
        proc.returncode,
        wall,
        peak // 1024,
        "".join(out),
        "".join(err),
        "psutil polling (PSS)" if proportional else "psutil polling",
    )


# --- printing -----------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_mb(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:,.0f} MB"


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def importer_command(*args: object, box: SandboxProcess | None = None) -> list[str]:
    """``python -m importer ARGS --quiet``, pointed at ``box``'s API when one is given: how
    every benchmark runs the importer (with ``DEMO_ENV``, the sandbox's credentials)."""
    command = [PYTHON, "-m", "importer", *map(str, args), "--quiet"]
    if box is not None:
        command += ["--api-url", box.api_url, "--token-url", box.token_url]
    return command


def run_importer(
    box: SandboxProcess,
    data: Path,
    report: Path,
    *flags: object,
    timeout: float = 900,
    allowed: tuple[int, ...] = (0,),
) -> tuple[Measurement, dict[str, Any], dict[str, Any]]:
    """``run data`` against ``box``: what the process did, the sandbox's stats after it, and
    the report's summary."""
    command = importer_command("run", data, "--report", report, *flags, box=box)
    result = measure(command, env=DEMO_ENV, timeout=timeout).check(allowed)
    return result, box.stats(), read_summary(report)


def read_summary(report: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        report.with_name(report.name + ".summary.json").read_text(encoding="utf-8")
    )
    return data
