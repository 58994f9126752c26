"""Send activities with a pool of workers: rate limit, retries, per-reference ordering.

Invariants:
- never more than ``rate`` requests start in any one-second window, or within the budget
  ``--rate auto`` learns from the API (``rate.RateGate``);
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
import datetime as dt
import json
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple, TypeVar

import aiohttp

from .answers import FINAL, Answer, Decision, SendOptions, Tries, decide
from .auth import TokenSource
from .masking import Masker
from .outcome import Outcome, Status
from .rate import RateGate

__all__ = ["Answer", "Decision", "Delivery", "SendOptions", "Sender", "Tries", "departures"]
T = TypeVar("T")
_NOTHING_TO_MASK = Masker()  # for the answers that never came: only bearer values
_JSON = {"Accept": "application/json", "Content-Type": "application/json"}


#: the error of a row whose request was out when the run ended without its answer
NO_ANSWER_AT_THE_END = (
    "sent, no answer before the run ended: the API may have taken it; --resume sends it "
    "again (its reference keeps it one activity)"
)


class Delivery(NamedTuple):
    """One row to send (tuples: one is made for every row, at the speed of the requests)."""

    source_row: int
    reference: str
    body: dict[str, Any] | bytes  # bytes: the JSON already encoded


class Sender:
    """A pool of ``concurrency`` workers sending deliveries over one aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        tokens: TokenSource,
        options: SendOptions,
        on_result: Callable[[Outcome], None],
    ) -> None:
        self._session = session
        self._tokens = tokens
        self.options = options
        self._on_result = on_result
        self.gate = RateGate.auto() if options.auto_rate else RateGate(options.rate)
        self._queue: asyncio.Queue[Delivery | None] = asyncio.Queue(maxsize=options.concurrency)
        self._busy: dict[str, deque[Delivery]] = {}
        self._stop = asyncio.Event()
        self.requests = 0
        self.in_flight = 0  # requests sent and not yet answered
        self.halted: str | None = None  # why the run stopped itself (a Ctrl-C leaves it None)
        self._unanswered = 0  # requests in a row, across workers, that got no answer
        self._answered_at = 0.0  # the loop's time of the last row answered for good
        self._hurry = False  # a second interrupt: no grace for the requests in flight
        self._failure: BaseException | None = None
        self._headers: tuple[str, dict[str, str]] = ("", {})  # (token, request headers)
        self._traced = bool(session.trace_configs)  # departures() asks for each start's time

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for (Ctrl-C)."""
        return self._stop.is_set()

    def stop(self) -> None:
        """Start no new request; those in flight may finish within the grace period."""
        self._stop.set()

    def interrupt(self) -> None:
        """Ctrl-C or SIGTERM: the first stops (the requests in flight get the grace); a
        second ends the wait for them at once."""
        if self.stopping:
            self._hurry = True
        self.stop()

    def halt(self, reason: str) -> None:
        """Stop because going on is pointless (no answers, a day-long Retry-After)."""
        if self.halted is None:
            self.halted = reason
        self.stop()

    async def run(self, deliveries: AsyncIterator[Delivery]) -> None:
        """Send everything ``deliveries`` yields; after ``stop()``, let go within the grace.

        Every wait here ends: the workers leave when a stop is asked, a stall stops the run
        (``SendOptions.stall``), and workers still busy after the grace are let go.
        """
        loop = asyncio.get_running_loop()
        self._answered_at = loop.time()
        workers = [asyncio.create_task(self._worker()) for _ in range(self.options.concurrency)]
        watch = asyncio.create_task(self._watch_stall()) if self.options.stall > 0 else None
        fed: Exception | None = None  # what stopped the rows coming (a lost checking child)
        try:
            try:
                await self._feed(deliveries)
            except Exception as err:  # a stop as any other: the requests in flight get the
                fed = err  # grace to bring their answers, and are reported as they ended
                self.stop()
            if not self.stopping:
                for _ in workers:
                    await self._put(None)
            pending = set(workers)
            while pending and not self.stopping:
                _, pending = await asyncio.wait(pending, timeout=0.25)
            if pending:
                # stopped: give the requests in flight a moment to bring their answers
                deadline = loop.time() + self.options.grace
                while self.in_flight and loop.time() < deadline and not self._hurry:
                    await asyncio.sleep(0.05)
            if self._failure is not None:
                raise self._failure
            if fed is not None:
                raise fed
        finally:
            for task in (*workers, watch):
                if task is not None:
                    task.cancel()
            # a worker that does not end within the grace is let go: the run must end
            await asyncio.wait([*workers, *([watch] if watch else [])], timeout=self.options.grace)

    async def _feed(self, deliveries: AsyncIterator[Delivery]) -> None:
        """Hand each delivery to the workers, in order; one whose reference is being sent
        waits for the worker on it (rows of a reference go out one after another)."""
        async for delivery in deliveries:
            if self.stopping:
                break
            waiting = self._busy.get(delivery.reference)
            if waiting is not None:
                waiting.append(delivery)  # the worker on this reference sends it next
                continue
            self._busy[delivery.reference] = deque()
            await self._put(delivery)

    async def _watch_stall(self) -> None:
        """Halt the run when rows wait for the API and none got its final answer for
        ``stall`` seconds (an API that throttles or fails without end)."""
        loop = asyncio.get_running_loop()
        stall = self.options.stall
        while not self.stopping:
            await self._pause(min(1.0, stall / 4))
            now = loop.time()
            if not self._busy:
                self._answered_at = now  # nothing waits for the API: nothing stalls
            elif now - self._answered_at >= stall:
                self.halt(
                    f"no row was imported for {_duration(stall)} (--stall-limit): the API "
                    "kept failing or throttling"
                )

    async def unless_stopped(self, work: Awaitable[T]) -> T | None:
        """``work``'s result, or None as soon as a stop is asked (``work`` is cancelled):
        a stop never waits for what feeds the workers (the next slice of rows)."""
        if self.stopping:
            return None
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            done, _ = await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
        return task.result() if task in done else None

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if a stop comes first. (Not ``asyncio.wait_for`` on the
        stop event: on Python 3.11 it can swallow a cancellation that arrives as the event
        is set, and a worker that swallowed its cancellation would never end.)"""
        if self.stopping:
            return
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({stop}, timeout=seconds)
        finally:
            stop.cancel()

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
        while not self.stopping:
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
                    if result.status != Status.FAILED:  # the API's final word: not a stall
                        self._answered_at = asyncio.get_running_loop().time()
                    self._on_result(result)
                waiting = self._busy.get(current.reference)
                if waiting:
                    current = waiting.popleft()
                else:
                    self._busy.pop(current.reference, None)
                    current = None

    async def _deliver(self, delivery: Delivery) -> Outcome | None:
        """Send one row until it has a final outcome; None if stopped before one."""
        tries = Tries()
        while True:
            number = None if self.stopping else await self._admitted()
            if number is None:
                return self._unfinished(delivery, tries)
            token = self._tokens.current() or await self._tokens.bearer()
            try:
                answer = await self._request(delivery, token)
            except asyncio.CancelledError:
                self._let_go(delivery, tries)
                raise
            decision = self._heard(answer, number, token, tries)
            tries = decision.tries
            action = decision.action
            if action in FINAL:
                return Outcome(
                    delivery.source_row,
                    Status(action),
                    delivery.reference,
                    decision.activity_id,
                    tries.last_status,
                    tries.attempts,
                    decision.errors,
                )
            if action == "renew":
                # one renewal shared by all workers; fresh tokens refused again and again
                # raise AuthError, which stops the run (the credentials are refused)
                await self._tokens.renew(token)
            elif action == "throttled":
                self.gate.too_many(decision.wait)
            else:
                await self._pause(random.uniform(0, decision.wait or 0.0))

    async def _admitted(self) -> int | None:
        """Wait for the rate to admit one more request: its number (for the gate's
        ``learn``), or None if a stop came meanwhile."""
        number = self.gate.now()
        if number is None:
            number = await self.gate.wait()
            if self.stopping:
                return None
        return number

    def _heard(self, answer: Answer, number: int, token: str, tries: Tries) -> Decision:
        """What ``answer`` means (``decide``), and what it tells the rate gate, the breaker
        (requests in a row without an answer, across workers) and the token source."""
        self.gate.learn(number, answer.limit, answer.remaining)
        self._unanswered = 0 if answer.status is not None else self._unanswered + 1
        decision = decide(answer, tries, self.options, self._unanswered, dt.datetime.now(dt.UTC))
        if answer.status is not None and answer.status != 401:
            self._tokens.accepted(token)
        if decision.halt is not None:
            self.halt(decision.halt)
        if decision.action == "imported":
            self.gate.succeeded()
        return decision

    def _let_go(self, delivery: Delivery, tries: Tries) -> None:
        """A request let go when the run ended (the grace ran out, a second Ctrl-C): the
        row was sent and whether the API took it is unknown, so it is failed (the retry
        file and --resume send it again; its reference keeps it one activity), never
        'not attempted'."""
        self._on_result(
            Outcome(
                delivery.source_row,
                Status.FAILED,
                delivery.reference,
                None,
                tries.last_status,
                tries.attempts + 1,
                NO_ANSWER_AT_THE_END,
            )
        )

    def _unfinished(self, delivery: Delivery, tries: Tries) -> Outcome | None:
        """A row caught by a stop: failed if the run halted after trying it, else unsent."""
        if self.halted is None or not tries.attempts:
            return None  # reported as not attempted; --resume sends it
        return Outcome(
            delivery.source_row,
            Status.FAILED,
            delivery.reference,
            None,
            tries.last_status,
            tries.attempts,
            f"{tries.problem}; the run stopped: {self.halted}",
        )

    async def _request(self, delivery: Delivery, token: str) -> Answer:
        """One PUT; the answer's text is masked of secrets before anything keeps it."""
        self.requests += 1
        self.in_flight += 1
        departure = (
            {"admitted": asyncio.get_running_loop().time(), "gate": self.gate}
            if self._traced
            else None
        )
        if self._headers[0] != token:
            self._headers = (token, {"Authorization": f"Bearer {token}", **_JSON})
        body = delivery.body
        try:
            async with self._session.put(
                self.options.api_url,
                data=body if isinstance(body, bytes) else json.dumps(body).encode(),
                headers=self._headers[1],
                allow_redirects=False,  # a redirect would hand the rows to another place
                trace_request_ctx=departure,
            ) as resp:
                raw = await resp.read()
                return Answer(
                    resp.status,
                    raw.decode("utf-8", errors="replace"),
                    resp.headers,
                    self._tokens.mask,
                )
        except (aiohttp.ClientError, TimeoutError) as err:
            return Answer(None, "", None, _NOTHING_TO_MASK, _describe(err))
        finally:
            self.in_flight -= 1


def departures(rate: float, auto_rate: bool = False) -> list[aiohttp.TraceConfig]:
    """The session's trace configs for a ``Sender`` with this rate: one telling each
    request's gate when it left (the jitter its ceiling's margin must cover), or none
    when there is no ceiling (``--rate 0``), where tracing would only cost time."""
    if not (rate > 0 or auto_rate):
        return []

    async def headers_sent(
        session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestHeadersSentParams
    ) -> None:
        departure = context.trace_request_ctx
        if isinstance(departure, dict) and "gate" in departure:
            gate: RateGate = departure["gate"]
            gate.sent(asyncio.get_running_loop().time() - departure["admitted"])

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(headers_sent)
    return [trace]


def _describe(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "no answer in time (timeout)"
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without answering"
    if isinstance(err, aiohttp.ClientConnectorError):
        return f"cannot connect to {err.host}:{err.port}"
    return f"connection problem ({err.__class__.__name__})"


def _duration(seconds: float) -> str:
    """``seconds`` as an analyst reads it: "10 minutes", "1 minute", "45 s"."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:,.0f} s" if seconds >= 1 else f"{seconds:.2f} s"
