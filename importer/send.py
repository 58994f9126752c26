"""Send activities with a pool of workers: rate limit, retries, per-reference ordering.

Invariants:
- never more than ``rate`` requests start in any one-second window: a log of the last
  ``rate`` start times holds each new start until the oldest is more than a second (plus
  a small margin for network jitter) old; an aiolimiter bucket of two paces the starts
  evenly, so there is no burst after a pause;
- rows that share a reference are sent one after another, in file order (the worker that
  sent one sends the next), so the last row of the file is the state that stays;
- 5xx, timeouts and dropped connections are retried with exponential backoff and full
  jitter up to ``max_attempts``; 429 pauses every worker for ``Retry-After`` and slows
  the pool down, then it climbs back; 401 renews the token once for all workers;
  400/422 (and other 4xx) are final: ``rejected`` with the server's errors.
Resending is safe because every row has a stable reference: the API updates instead of
creating a second activity.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from aiolimiter import AsyncLimiter

from .auth import TokenSource
from .report import ERROR_SEPARATOR

_MAX_THROTTLES = 50


@dataclass(frozen=True)
class Delivery:
    """One row to send."""

    source_row: int
    reference: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Result:
    """The final word on one sent row."""

    source_row: int
    status: str  # imported | rejected | failed
    reference: str
    activity_id: str | None
    http_status: int | None
    attempts: int
    errors: str | None


@dataclass(frozen=True)
class SendOptions:
    """How hard and how fast to send."""

    api_url: str
    rate: float = 10.0
    concurrency: int = 8
    max_attempts: int = 5
    retry_wait: float = 0.5  # first backoff; doubles each attempt
    max_backoff: float = 30.0
    max_wait: float = 300.0  # the longest Retry-After obeyed; a longer one stops the run
    breaker: int = 20  # requests in a row (all workers) without an answer that stop the run
    grace: float = 10.0  # how long a stop waits for requests in flight


class RateGate:
    """Admits request starts: a strict ceiling, a slower pace after 429, and pauses.

    A leaky bucket alone cannot promise "at most N in any sliding second" without losing
    throughput: with capacity N it allows 2N in a second after an idle spell, and with
    capacity 1 every late wake-up of a worker is lost for good (measured: ~91 of 100/s).
    So aiolimiter only paces (N a second, a bucket of two: no burst after a pause, and a
    late wake-up is made up by the next start) and a log of start times is the ceiling.
    """

    #: a start waits until the N-th previous one is this old: one second plus a margin so
    #: that up to 40 ms of network and scheduling jitter cannot put N+1 arrivals into one
    #: of the server's seconds (costs 4 % of the rate; benchmarks/rate.py: 95.7 of 100/s)
    WINDOW = 1.04

    def __init__(self, rate: float) -> None:
        self.target = rate
        self.current = rate
        self.throttled = 0
        self._limit = max(1, math.floor(rate)) if rate > 0 else 0
        self._starts: deque[float] = deque(maxlen=max(1, self._limit))
        self._pace = AsyncLimiter(2, 2 / rate) if rate > 0 else None
        self._slower: AsyncLimiter | None = None
        self._recent: deque[float] = deque(maxlen=100_000)
        self._pause_until = 0.0
        self._successes = 0

    async def wait(self) -> None:
        """Return when one more request may start."""
        loop = asyncio.get_running_loop()
        while True:
            delay = self._pause_until - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            if self._slower is not None:
                await self._slower.acquire()
            if self._pace is not None:
                await self._pace.acquire()
                await self._window()
            now = loop.time()
            if self._pause_until <= now:
                if not self.target:
                    self._recent.append(now)
                return

    async def _window(self) -> None:
        """Hold this start until it is at most the N-th in any sliding window, then log it."""
        loop = asyncio.get_running_loop()
        starts = self._starts
        while len(starts) == self._limit:
            wait = starts[0] + self.WINDOW - loop.time()
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        starts.append(loop.time())  # no await since the check: no other start slipped in

    def too_many(self, retry_after: float | None) -> float:
        """The API said 429: pause everyone, slow down; returns the pause in seconds.

        The requests in flight when the limit was hit all come back 429 together: they
        extend the pause, but the pace is cut once per pause, not once per answer.
        """
        now = asyncio.get_running_loop().time()
        self.throttled += 1
        pause = retry_after if retry_after is not None else 1.0
        already_paused = now < self._pause_until
        self._pause_until = max(self._pause_until, now + pause)
        if not already_paused:
            base = self.current or max(1.0, self._recent_rate(now))
            self.current = max(1.0, base * 0.75)
            self._slower = AsyncLimiter(1, 1 / self.current)
            self._successes = 0
        return pause

    def _recent_rate(self, now: float) -> float:
        """Starts in the last second (for an unlimited pool: the pace that hit the limit)."""
        recent = self._recent
        while recent and recent[0] < now - 1.0:
            recent.popleft()
        return float(len(recent))

    def succeeded(self) -> None:
        """Climb back toward the target rate after a run of successes."""
        if self._slower is None:
            return
        self._successes += 1
        if self._successes >= 20:
            self._successes = 0
            self.current *= 1.15
            if self.target and self.current >= self.target:
                self.current = self.target
                self._slower = None
            elif not self.target and self.current >= 10_000:
                self._slower = None
            else:
                self._slower = AsyncLimiter(1, 1 / self.current)


class Sender:
    """A pool of ``concurrency`` workers sending deliveries over one aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        tokens: TokenSource,
        options: SendOptions,
        on_result: Callable[[Result], None],
    ) -> None:
        self._session = session
        self._tokens = tokens
        self.options = options
        self._on_result = on_result
        self.gate = RateGate(options.rate)
        self._queue: asyncio.Queue[Delivery | None] = asyncio.Queue(maxsize=options.concurrency)
        self._busy: dict[str, deque[Delivery]] = {}
        self._stop = asyncio.Event()
        self.requests = 0
        self.in_flight = 0  # requests sent and not yet answered
        self.halted: str | None = None  # why the run stopped itself (a Ctrl-C leaves it None)
        self._unanswered = 0  # requests in a row, across workers, that got no answer
        self._failure: BaseException | None = None

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for (Ctrl-C)."""
        return self._stop.is_set()

    def stop(self) -> None:
        """Start no new request; those in flight may finish within the grace period."""
        self._stop.set()

    def halt(self, reason: str) -> None:
        """Stop because going on is pointless (no answers, a day-long Retry-After)."""
        if self.halted is None:
            self.halted = reason
        self.stop()

    async def run(self, deliveries: AsyncIterator[Delivery]) -> None:
        """Send everything ``deliveries`` yields; after ``stop()``, let go within the grace."""
        workers = [asyncio.create_task(self._worker()) for _ in range(self.options.concurrency)]
        try:
            async for delivery in deliveries:
                if self.stopping:
                    break
                waiting = self._busy.get(delivery.reference)
                if waiting is not None:
                    waiting.append(delivery)  # the worker on this reference sends it next
                    continue
                self._busy[delivery.reference] = deque()
                await self._put(delivery)
            if not self.stopping:
                for _ in workers:
                    await self._put(None)
            pending = set(workers)
            while pending and not self.stopping:
                _, pending = await asyncio.wait(pending, timeout=0.25)
            if pending:
                # stopped: give the requests in flight a moment to bring their answers
                deadline = asyncio.get_running_loop().time() + self.options.grace
                while self.in_flight and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.05)
            if self._failure is not None:
                raise self._failure
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _put(self, item: Delivery | None) -> None:
        """Queue ``item`` for the workers, unless a stop comes first."""
        if not self._queue.full():
            self._queue.put_nowait(item)  # the common case: no tasks, no extra loop passes
            return
        put = asyncio.ensure_future(self._queue.put(item))
        stop = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({put, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not put.done():
            put.cancel()

    async def _worker(self) -> None:
        try:
            await self._work()
        except Exception as err:
            # e.g. the token endpoint refused the credentials: everyone stops, the run ends
            self._failure = self._failure or err
            self.stop()

    async def _work(self) -> None:
        while True:
            delivery = await self._queue.get()
            if delivery is None:
                return
            current: Delivery | None = delivery
            while current is not None:
                if self.stopping:
                    self._busy.pop(current.reference, None)
                    break
                result = await self._deliver(current)
                if result is not None:
                    self._on_result(result)
                waiting = self._busy.get(current.reference)
                if waiting:
                    current = waiting.popleft()
                else:
                    self._busy.pop(current.reference, None)
                    current = None

    async def _deliver(self, delivery: Delivery) -> Result | None:
        """Send one row until it has a final outcome; None if stopped before one."""
        options = self.options
        attempts = failures = throttles = refused = 0
        last_status: int | None = None
        problem = "not sent"
        while True:
            if self.stopping:
                return self._unfinished(delivery, attempts, last_status, problem)
            await self.gate.wait()
            if self.stopping:
                return self._unfinished(delivery, attempts, last_status, problem)
            token = await self._tokens.bearer()
            attempts += 1
            answer = await self._request(delivery, token)
            status = answer.status
            if status is None:
                problem = answer.problem
                self._unanswered += 1
                if self._unanswered >= options.breaker:
                    self.halt(
                        f"{self._unanswered} requests in a row got no answer (last: {problem})"
                    )
            else:
                self._unanswered = 0
                last_status = status
            final: str | None = None  # the status of a final outcome, if this answer is one
            if status is None:
                pass
            elif 200 <= status < 300:
                activity_id = answer.activity_id()
                if activity_id is not None:
                    self.gate.succeeded()
                    return Result(
                        delivery.source_row,
                        "imported",
                        delivery.reference,
                        activity_id,
                        status,
                        attempts,
                        None,
                    )
                # a proxy or captive portal answers 200 too: without data.id nothing proves
                # the import, so the row is tried again and, failing that, resent later
                problem = f"HTTP {status} without the API's data.id: {answer.snippet()}"
            elif 300 <= status < 400:
                final = "failed"
                problem = (
                    f"HTTP {status}: the API redirected to {answer.location or '(no Location)'}; "
                    "redirects are never followed (the row was not sent there): check --api-url"
                )
            elif status == 401:
                refused += 1
                if refused < options.max_attempts:
                    await self._tokens.renew(token)  # one renewal shared by all workers
                    continue
                final = "failed"
                problem = "the API kept refusing fresh tokens (401)"
            elif status == 429:
                throttles += 1
                wait = _retry_after(answer.retry_after)
                if wait is not None and wait > options.max_wait:
                    final = "failed"
                    problem = (
                        f"HTTP 429: the API asked to wait {wait:,.0f} s (Retry-After: "
                        f"{answer.retry_after}), more than --max-wait {options.max_wait:,.0f} "
                        "s; run it again later with --resume"
                    )
                    self.halt(f"the API asked to wait {wait:,.0f} s (Retry-After)")
                elif throttles <= _MAX_THROTTLES:
                    self.gate.too_many(wait)
                    continue
                else:
                    final = "failed"
                    problem = "HTTP 429: still throttled after many waits"
            elif 400 <= status < 500:
                return Result(
                    delivery.source_row,
                    "rejected",
                    delivery.reference,
                    None,
                    status,
                    attempts,
                    answer.errors(),
                )
            else:
                problem = f"HTTP {status}: {answer.errors()}"
            if final is None:
                failures += 1
                if failures >= options.max_attempts:
                    final = "failed"
            if final is not None:
                return Result(
                    delivery.source_row,
                    final,
                    delivery.reference,
                    None,
                    last_status,
                    attempts,
                    f"gave up after {attempts} attempts: {problem}" if attempts > 1 else problem,
                )
            wait = min(options.max_backoff, options.retry_wait * 2 ** (failures - 1))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=random.uniform(0, wait))

    def _unfinished(
        self, delivery: Delivery, attempts: int, last_status: int | None, problem: str
    ) -> Result | None:
        """A row caught by a stop: failed if the run halted after trying it, else unsent."""
        if self.halted is None or not attempts:
            return None  # reported as not attempted; --resume sends it
        return Result(
            delivery.source_row,
            "failed",
            delivery.reference,
            None,
            last_status,
            attempts,
            f"{problem}; the run stopped: {self.halted}",
        )

    async def _request(self, delivery: Delivery, token: str) -> _Answer:
        """One PUT; the answer's text is masked of secrets before anything keeps it."""
        self.requests += 1
        self.in_flight += 1
        try:
            async with self._session.put(
                self.options.api_url,
                json=delivery.body,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                allow_redirects=False,  # a redirect would hand the rows to another place
            ) as resp:
                raw = await resp.read()
                return _Answer(
                    resp.status,
                    self._tokens.redact(raw.decode("utf-8", errors="replace")),
                    resp.headers.get("Retry-After"),
                    self._tokens.redact(resp.headers.get("Location", "")),
                )
        except (aiohttp.ClientError, TimeoutError) as err:
            return _Answer(None, "", None, "", _describe(err))
        finally:
            self.in_flight -= 1


@dataclass(frozen=True)
class _Answer:
    """What the API said to one request (``status`` None: no answer, see ``problem``)."""

    status: int | None
    text: str
    retry_after: str | None
    location: str
    problem: str = ""

    @property
    def body(self) -> Any:
        return _json(self.text)

    def activity_id(self) -> str | None:
        """``data.id`` of a JSON body: the proof that the activity was imported."""
        body = self.body
        data = body.get("data") if isinstance(body, dict) else None
        found = data.get("id") if isinstance(data, dict) else None
        return None if found is None or found == "" else str(found)

    def snippet(self) -> str:
        text = " ".join(self.text.split())[:120]
        return f"'{text}'" if text else "an empty body"

    def errors(self) -> str:
        return _server_errors(self.status or 0, self.body, self.text)


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _describe(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "no answer in time (timeout)"
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without answering"
    if isinstance(err, aiohttp.ClientConnectorError):
        return f"cannot connect to {err.host}:{err.port}"
    return f"connection problem ({err.__class__.__name__})"


def _server_errors(status: int, body: Any, text: str) -> str:
    """The API's errors as ``field: message`` entries joined by `` | ``."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, dict) and errors:
            parts: list[str] = []
            for field, messages in errors.items():
                items = messages if isinstance(messages, list) else [messages]
                parts.extend(f"{field}: {message}" for message in items)
            return ERROR_SEPARATOR.join(parts)
        message = body.get("message") or body.get("error")
        if message:
            return f"api: {message}"
    snippet = " ".join(text.split())[:200] if text else ""
    return f"api: HTTP {status}" + (f" {snippet}" if snippet else "")
