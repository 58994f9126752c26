"""The rate gate's promises, checked on its own (behaviour, not wall-clock speed)."""

from __future__ import annotations

import asyncio
import itertools
import math
import selectors
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from importer.rate import AUTO_START, MARGIN_MIN, RateGate

T = TypeVar("T")


def test_a_burst_of_429s_slows_the_pool_once_per_pause():
    async def scenario() -> tuple[float, float]:
        gate = RateGate(100)
        for _ in range(16):  # every request in flight comes back 429 at once
            gate.too_many(1.0)
        first = gate.current
        return first, gate.throttled

    current, throttled = asyncio.run(scenario())
    assert throttled == 16
    assert current == 75  # one cut of a quarter, not sixteen


def test_unlimited_pool_slows_from_the_pace_that_hit_the_limit():
    async def scenario() -> float:
        gate = RateGate(0)
        for _ in range(40):
            await gate.wait()
        gate.too_many(0.0)
        return gate.current

    assert asyncio.run(scenario()) == 30  # 40 starts in the last second, cut by a quarter


def test_never_more_than_rate_starts_in_any_one_second_window():
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        gate = RateGate(20)
        starts: list[float] = []

        async def worker() -> None:
            for _ in range(10):
                await gate.wait()
                starts.append(loop.time())

        await asyncio.gather(*(worker() for _ in range(6)))
        return starts

    # in real time, on a busy machine too (late wake-ups must not add starts); the pace
    # itself, which a late wake-up may bunch, is checked on a virtual clock below
    starts = sorted(asyncio.run(scenario()))
    assert len(starts) == 60
    for i, start in enumerate(starts):
        in_window = [s for s in starts[i:] if s < start + 1.0]
        assert len(in_window) <= 20


def test_retry_after_in_seconds_or_as_an_http_date():
    import datetime as dt
    from email.utils import format_datetime

    from importer.answers import _retry_after

    assert _retry_after("7") == 7.0
    assert _retry_after(" 0 ") == 0.0
    in_ten = format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10), usegmt=True)
    assert 8.0 <= (_retry_after(in_ten) or 0) <= 10.0
    past = format_datetime(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), usegmt=True)
    assert _retry_after(past) == 0.0
    assert _retry_after("soon") is None and _retry_after(None) is None


# --- a virtual clock: the loop's time jumps to the next timer instead of sleeping ------------
#
# RateGate and aiolimiter read time only from the running loop (``loop.time()``) and wait
# with ``asyncio.sleep`` / ``loop.call_at``, so a loop whose clock jumps to the next timer
# runs minutes of pacing in milliseconds, with exact, repeatable timings.

VIRTUAL_START = 1000.0
TURN = 1e-6  # virtual seconds each turn of the loop takes


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, loop: _VirtualTimeLoop) -> None:
        super().__init__()
        self._virtual = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:
            raise RuntimeError("nothing scheduled and nothing to wait for: the scenario is stuck")
        # every turn of the loop takes a microsecond, as real code does: aiolimiter's
        # wake-up may fall due a hair before its bucket has leaked, and asks again
        self._virtual.now += max(timeout, TURN)
        return super().select(0)


class _VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = VIRTUAL_START
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now


def virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a loop with a virtual clock."""
    loop = _VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def test_no_burst_at_the_start_requests_come_one_over_rate_apart():
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        gate = RateGate(20)
        starts: list[float] = []

        async def worker() -> None:
            for _ in range(5):
                await gate.wait()
                starts.append(loop.time())

        await asyncio.gather(*(worker() for _ in range(6)))
        return starts

    starts = sorted(virtual(scenario()))
    # after the bucket's two, requests come 1/rate apart
    assert starts[4] - starts[0] >= 3 / 20 - 0.001


class _Api:
    """The sandbox's budget (``importer/sandbox.py``, ``_put``) without HTTP: at most ``limit``
    admitted arrivals in any sliding ``window``, else 429 with Retry-After; every answer
    announces ``X-RateLimit-Limit`` / ``-Remaining`` (Remaining 0 on a 429) unless
    ``headers`` is off. ``limit`` may be changed mid-run (the server lowers the budget).

    ``fixed``: count as Laravel's limiter does instead: a window opens at the first request
    after the last one closed and lasts ``window`` seconds; Remaining resets with it."""

    def __init__(
        self, limit: int, window: float = 1.0, headers: bool = True, fixed: bool = False
    ) -> None:
        self.limit, self.window, self.headers, self.fixed = limit, window, headers, fixed
        self.arrivals: deque[float] = deque()
        self.throttled = 0
        self.opened = -math.inf  # fixed: when the current window opened

    def answer(self, now: float) -> tuple[int, str | None, str | None, float | None]:
        """(status, Limit, Remaining, Retry-After) for a request arriving at ``now``."""
        arrivals = self.arrivals
        if self.fixed:
            if now >= self.opened + self.window:
                self.opened = now
                arrivals.clear()
        else:
            while arrivals and arrivals[0] <= now - self.window:
                arrivals.popleft()
        limit = str(self.limit) if self.headers else None
        if len(arrivals) >= self.limit:
            self.throttled += 1
            oldest = self.opened if self.fixed else arrivals[0]
            wait = max(1, math.ceil(oldest + self.window - now))
            return 429, limit, "0" if self.headers else None, float(wait)
        arrivals.append(now)
        return 200, limit, str(self.limit - len(arrivals)) if self.headers else None, None


async def _drive(
    gate: RateGate,
    api: _Api,
    seconds: float,
    *,
    workers: int = 16,
    latency: float = 0.02,
    starts: list[float] | None = None,
) -> list[float]:
    """Workers as ``send.Sender._deliver`` uses the gate, for ``seconds`` of virtual time:
    wait, send (arrives at once), answer after ``latency``, then learn, too_many or succeeded.
    Returns the start times."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    starts = [] if starts is None else starts

    async def worker() -> None:
        while True:
            number = await gate.wait()
            now = loop.time()
            if now >= until:
                return
            starts.append(now)
            status, limit, remaining, retry_after = api.answer(now)
            await asyncio.sleep(latency)
            gate.learn(number, limit, remaining)
            if status == 429:
                gate.too_many(retry_after)
            else:
                gate.succeeded()

    await asyncio.gather(*(worker() for _ in range(workers)))
    return starts


def _most_in_any(starts: list[float], window: float) -> int:
    """The most starts in any sliding ``window`` (counted as the sandbox counts: (t - w, t])."""
    ordered = sorted(starts)
    first = most = 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - window:
            first += 1
        most = max(most, last - first + 1)
    return most


async def _starts_at(gate: RateGate, *offsets: float) -> list[int]:
    """Admit one start at each of ``offsets`` (virtual seconds from now); their numbers."""
    loop = asyncio.get_running_loop()
    origin = loop.time()
    numbers = []
    for offset in offsets:
        await asyncio.sleep(origin + offset - loop.time())
        numbers.append(await gate.wait())
        assert loop.time() == pytest.approx(origin + offset), "the gate held a start back"
    return numbers


def test_the_virtual_clock_jumps_instead_of_sleeping():
    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(3600)
        return loop.time()

    began = time.monotonic()
    assert virtual(scenario()) == pytest.approx(VIRTUAL_START + 3600)
    assert time.monotonic() - began < 0.5


# --- learning a budget from X-RateLimit-Limit / -Remaining ------------------------------------


def test_auto_learns_a_per_second_budget_and_paces_under_it():
    api = _Api(100, window=1.0)

    async def scenario() -> tuple[RateGate, list[float]]:
        gate = RateGate.auto()
        return gate, await _drive(gate, api, 6.0)

    gate, starts = virtual(scenario())
    assert gate.budget == (100, 1.0)  # the window found from Remaining
    assert gate.target == gate.current == 100
    assert _most_in_any(starts, 1.0) <= 100
    assert api.throttled == 0
    # with its margin: the 101st start comes at least a second and the margin after the 1st
    ordered = sorted(starts)
    gaps = [b - a for a, b in zip(ordered, ordered[100:], strict=False)]
    assert min(gaps) >= 1.0 + gate.margin - 1e-9
    # found within a second or two, then the budget is used, not beyond it
    late = [s for s in starts if s >= VIRTUAL_START + 3.0]
    assert 0.9 * 300 <= len(late) <= 300


def test_auto_says_a_crawling_budget_only_once_it_lasts():
    """A per-second budget is first read as per-minute (50 per 60 s would crawl): nothing
    is said before the window is measured; one request a minute, kept, is said."""

    async def scenario(api: _Api, seconds: float) -> list[str | None]:
        gate = RateGate.auto()
        said: list[str | None] = []

        async def listen() -> None:  # as the run asks: every half second
            while True:
                await asyncio.sleep(0.5)
                said.append(gate.slow())

        listening = asyncio.ensure_future(listen())
        await _drive(gate, api, seconds)
        listening.cancel()
        return said

    fast = virtual(scenario(_Api(50, window=1.0), 30))
    assert len(fast) >= 50 and set(fast) == {None}
    crawl = virtual(scenario(_Api(1, window=60.0), 30))
    assert crawl[0] is None  # not yet known to last
    assert crawl[-1] is not None and "allows 1 request per 60 s" in crawl[-1]


def test_auto_keeps_a_per_minute_budget_from_the_first_request():
    api = _Api(600, window=60.0)

    async def scenario() -> tuple[RateGate, list[float]]:
        gate = RateGate.auto()
        return gate, await _drive(gate, api, 150.0)

    gate, starts = virtual(scenario())
    assert gate.budget == (600, 60.0)  # a minute, never mistaken for less
    assert gate.target == 10
    assert _most_in_any(starts, 60.0) <= 600
    assert api.throttled == 0  # never started more than the API said remained
    assert len(starts) >= 0.95 * 10 * 150


def test_auto_keeps_a_fixed_per_minute_budget_across_its_resets():
    # Laravel's limiter counts in fixed windows: after a reset the first requests are
    # counted alone though the request just before was a moment earlier; that is a new
    # window, not a window of a moment
    api = _Api(600, window=60.0, fixed=True)

    async def scenario() -> tuple[RateGate, list[float]]:
        gate = RateGate.auto()
        return gate, await _drive(gate, api, 200.0)

    gate, starts = virtual(scenario())
    assert gate.budget == (600, 60.0)
    assert api.throttled == 0
    assert _most_in_any(starts, 60.0) <= 600
    assert len(starts) >= 0.95 * 10 * 200


def test_auto_learns_a_fixed_per_second_budget():
    api = _Api(100, window=1.0, fixed=True)

    async def scenario() -> tuple[RateGate, list[float]]:
        gate = RateGate.auto()
        return gate, await _drive(gate, api, 6.0)

    gate, starts = virtual(scenario())
    assert gate.budget == (100, 1.0)
    assert api.throttled == 0
    assert len([s for s in starts if s >= VIRTUAL_START + 3.0]) >= 0.9 * 300


def test_a_budget_is_assumed_per_minute_until_starts_show_a_shorter_window():
    async def scenario() -> list[tuple[int, float] | None]:
        gate = RateGate.auto()
        seen = [gate.budget]
        first, second, third = await _starts_at(gate, 0.0, 0.6, 1.2)
        gate.learn(first, "100", "99")
        seen.append(gate.budget)
        gate.learn(second, "100", "98")  # both counted: nothing about the window yet
        seen.append(gate.budget)
        gate.learn(third, "100", "98")  # the first is no longer counted, 1.2 s on
        seen.append(gate.budget)
        return seen

    assert virtual(scenario()) == [None, (100, 60.0), (100, 60.0), (100, 1.0)]


def test_answers_that_overtake_each_other_do_not_shrink_a_per_minute_window():
    # the first two starts wait together for the first token and race to the API: the
    # second arrives first, so its answer says it is the only one counted
    async def scenario() -> tuple[int, float] | None:
        gate = RateGate.auto()
        first, second = await _starts_at(gate, 0.0, 0.2)
        gate.learn(second, "600", "599")
        gate.learn(first, "600", "598")
        return gate.budget

    assert virtual(scenario()) == (600, 60.0)


@pytest.mark.xfail(
    strict=True,
    reason="known limit of the inference: a start the API never counted (lost on the way, or"
    " answered 429) is taken for one that left the window; telling them apart needs the gate"
    " to know which starts were counted",
)
def test_a_start_that_never_reached_the_api_is_not_taken_for_one_that_expired():
    # per-minute budget; the first request was lost on the way (no answer, no headers):
    # the API counts the next ones alone, which looks like a window of a second
    async def scenario() -> tuple[int, float] | None:
        gate = RateGate.auto()
        numbers = await _starts_at(gate, 0.0, 0.2, 0.4, 0.6)
        gate.learn(numbers[0], None, None)
        for count, number in enumerate(numbers[1:], start=1):
            gate.learn(number, "600", str(600 - count))
        return gate.budget

    assert virtual(scenario()) == (600, 60.0)


def test_a_429_saying_remaining_0_does_not_shrink_the_window():
    # a 429 announces Remaining 0 but the request it answers was not counted: the start
    # `Limit` places before it is still in the window, not out of it
    async def scenario() -> tuple[int, float] | None:
        gate = RateGate.auto()
        numbers = await _starts_at(gate, *(0.2 * i for i in range(11)))
        gate.learn(numbers[0], "5", "4")
        gate.learn(numbers[1], "5", "3")
        gate.learn(numbers[-1], "5", "0")  # 2 s on: the one 5 places back looks expired
        return gate.budget

    assert virtual(scenario()) == (5, 60.0)


def test_a_window_of_exactly_half_a_second_measured_is_not_taken_as_none():
    # round(0.5) is 0 in Python (half to even): a window measured as 0.5 s must not become
    # the 0.05 s floor, which paced a budget of 100 at 2,000 a second
    async def scenario() -> tuple[int, float] | None:
        gate = RateGate.auto()
        numbers = await _starts_at(gate, 0.0, 0.5)
        gate.learn(numbers[1], "100", "99")  # the start 0.5 s before is not counted
        return gate.budget

    budget = virtual(scenario())
    assert budget is not None
    assert budget[1] >= 0.5
    assert budget[0] / budget[1] <= 200


def test_a_limit_lowered_mid_run_is_followed_promptly():
    api = _Api(100, window=1.0)

    async def scenario() -> tuple[RateGate, list[float], float]:
        loop = asyncio.get_running_loop()
        gate = RateGate.auto()
        starts = await _drive(gate, api, 5.0)
        assert gate.budget == (100, 1.0)
        api.limit = 50  # the server halves the budget
        lowered = loop.time()
        await _drive(gate, api, 5.0, starts=starts)
        return gate, starts, lowered

    gate, starts, lowered = virtual(scenario())
    assert gate.budget == (50, 1.0)
    assert gate.target == 50
    after = [s for s in starts if s >= lowered + 1.0 + 0.04]
    assert _most_in_any(after, 1.0) <= 50
    assert len(after) >= 0.8 * 50 * (5.0 - 1.04)  # it follows the budget, not below it
    assert api.throttled <= 2 * 16  # the requests in flight when it changed, and no spiral


def test_a_limit_lowered_in_a_header_lowers_the_pace_and_the_ceiling_at_once():
    async def scenario() -> tuple[RateGate, list[float]]:
        loop = asyncio.get_running_loop()
        gate = RateGate.auto()
        numbers = await _starts_at(gate, 0.0, 1.2)
        gate.learn(numbers[0], "100", "99")
        gate.learn(numbers[1], "100", "99")  # a per-second budget of 100
        assert gate.budget == (100, 1.0)
        for _ in range(98):  # a full second's worth, at the pace
            await gate.wait()
        changed = loop.time()
        gate.learn(numbers[1], "20", "0")
        starts = []
        for _ in range(40):
            await gate.wait()
            starts.append(loop.time())
        return gate, [changed, *starts]

    gate, (changed, *starts) = virtual(scenario())
    assert gate.budget == (20, 1.0) and gate.current == 20
    # the 20 latest starts stay in the ceiling: none more in the second after them
    assert _most_in_any(starts, 1.0) <= 20
    assert starts[0] >= changed  # no burst of what the old budget had left
    assert starts[-1] - starts[0] >= 37 / 20  # paced at 20/s (the bucket of two aside)


@pytest.mark.parametrize(
    ("limit", "remaining"),
    [
        (None, None),
        (None, "5"),
        ("100", None),
        ("abc", "5"),
        ("100", "abc"),
        ("-5", "0"),
        ("100", "-5"),
        ("", ""),
        ("1e9", "1e9"),
        ("100.5", "50"),
        ("0", "0"),
        ("10", "11"),  # Remaining > Limit
        (str(10**30), str(10**30 - 1)),  # huge
        (str(10**30), "0"),
        ("9" * 5000, "1"),  # more digits than int() takes
        ("\u0661\u0660\u0660", "99"),  # Arabic-Indic digits: a number to int(), fine either way
    ],
)
def test_absent_or_garbage_headers_never_crash_nor_give_an_absurd_pace(limit, remaining):
    async def scenario() -> tuple[RateGate, list[float]]:
        loop = asyncio.get_running_loop()
        gate = RateGate.auto()
        numbers = await _starts_at(gate, 0.0, 0.2, 0.4)
        for number in numbers:
            gate.learn(number, limit, remaining)
        starts = []
        for _ in range(10):
            await gate.wait()
            starts.append(loop.time())
        return gate, starts

    gate, starts = virtual(scenario())
    if gate.budget is None:  # ignored: the documented fallback, the cautious pace and AIMD
        assert gate.current == AUTO_START
    else:  # a budget the API could mean: kept to
        limit_, window = gate.budget
        assert 1 <= limit_ <= 1000 and window >= 0.5
    assert math.isfinite(gate.current) and gate.current > 0
    assert all(b >= a for a, b in itertools.pairwise(starts))  # no negative waits
    assert starts[-1] - starts[0] > 0  # paced: not an infinite rate


def test_learn_never_loosens_a_strict_rate():
    async def scenario() -> tuple[RateGate, list[float]]:
        loop = asyncio.get_running_loop()
        gate = RateGate(100)
        starts: list[float] = []

        async def worker() -> None:
            for _ in range(40):
                number = await gate.wait()
                starts.append(loop.time())
                # an API announcing a budget far above, then with a tiny window
                gate.learn(number, "100000", str(100000 - len(starts)))
                gate.learn(number, "1000", "999")
                await asyncio.sleep(0.001)

        await asyncio.gather(*(worker() for _ in range(16)))
        return gate, starts

    gate, starts = virtual(scenario())
    assert gate.budget is None and gate.target == gate.current == 100
    assert len(starts) == 640
    assert _most_in_any(starts, 1.0) <= 100
    assert _most_in_any(starts, 1.0 + MARGIN_MIN) <= 100  # with its margin


def test_strict_rate_never_exceeds_its_ceiling_after_idle_spells_and_429s():
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        gate = RateGate(50)
        starts: list[float] = []

        async def worker(index: int) -> None:
            for round_ in range(30):
                number = await gate.wait()
                starts.append(loop.time())
                gate.learn(number, "10000", "9999")
                if round_ == 10 and index == 0:
                    gate.too_many(0.5)
                else:
                    gate.succeeded()
                await asyncio.sleep(0.003 if round_ != 20 else 1.5)  # an idle spell

        await asyncio.gather(*(worker(i) for i in range(12)))
        return starts

    starts = virtual(scenario())
    assert len(starts) == 360
    assert _most_in_any(starts, 1.0) <= 50


# --- without headers: a cautious start, climb on success, cut once per 429 burst --------------


def test_auto_without_headers_starts_at_a_cautious_pace():
    async def scenario() -> tuple[RateGate, list[float]]:
        gate = RateGate.auto()
        starts: list[float] = []

        async def no_successes() -> None:  # answers only: nothing to climb on
            loop = asyncio.get_running_loop()
            while loop.time() < VIRTUAL_START + 2.0:
                number = await gate.wait()
                starts.append(loop.time())
                gate.learn(number, None, None)

        await asyncio.gather(*(no_successes() for _ in range(8)))
        return gate, starts

    gate, starts = virtual(scenario())
    assert gate.budget is None and gate.current == AUTO_START == 5
    ordered = sorted(starts)
    assert min(b - a for a, b in itertools.pairwise(ordered)) >= 1 / AUTO_START - 1e-9
    assert len([s for s in starts if s < VIRTUAL_START + 2.0]) <= 2 * AUTO_START + 1


def test_auto_without_headers_climbs_15_percent_every_20_successes():
    async def scenario() -> list[float]:
        gate = RateGate.auto()
        seen = [gate.current]
        for _ in range(3):
            for _ in range(19):
                gate.succeeded()
            seen.append(gate.current)  # not yet
            gate.succeeded()
            seen.append(gate.current)
        return seen

    seen = virtual(scenario())
    assert seen == pytest.approx([5, 5, 5 * 1.15, 5 * 1.15, 5 * 1.15**2, 5 * 1.15**2, 5 * 1.15**3])


def test_auto_without_headers_speeds_up_as_it_climbs():
    api = _Api(10_000, headers=False)

    async def scenario() -> tuple[RateGate, list[float]]:
        gate = RateGate.auto()
        return gate, await _drive(gate, api, 20.0, workers=8, latency=0.01)

    gate, starts = virtual(scenario())
    assert gate.current > 2 * AUTO_START
    first = len([s for s in starts if s < VIRTUAL_START + 5])
    last = len([s for s in starts if s >= VIRTUAL_START + 15])
    assert last > 2 * first
    assert api.throttled == 0


def test_auto_without_headers_cuts_once_per_429_burst_and_honours_retry_after():
    async def scenario() -> tuple[list[float], float, float]:
        loop = asyncio.get_running_loop()
        gate = RateGate.auto()
        await gate.wait()
        at = loop.time()
        pauses = [gate.too_many(2.0) for _ in range(16)]  # one burst: one cut
        assert set(pauses) == {2.0}
        after_burst = gate.current
        await gate.wait()
        resumed = loop.time() - at
        gate.too_many(None)  # a new pause (none given: a second), a new cut
        return [after_burst, gate.current], resumed, gate.throttled

    (after_burst, after_second), resumed, throttled = virtual(scenario())
    assert after_burst == pytest.approx(AUTO_START * 0.75)
    assert after_second == pytest.approx(AUTO_START * 0.75**2)
    assert resumed >= 2.0
    assert throttled == 17


def test_429s_never_slow_the_pace_below_one_a_second():
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        gate = RateGate.auto()
        paces = []
        for _ in range(30):  # 30 separate bursts, each after the last pause ended
            gate.too_many(0.5)
            await asyncio.sleep(0.6)
            paces.append(gate.current)
        starts = []
        for _ in range(4):
            await gate.wait()
            starts.append(loop.time())
        assert starts[-1] - starts[0] <= 3 + 1e-3  # one a second, not slower
        return paces

    paces = virtual(scenario())
    assert paces[0] == pytest.approx(AUTO_START * 0.75)
    assert min(paces) == paces[-1] == 1.0


def test_retry_after_pauses_every_worker_and_a_shorter_one_does_not_cut_it_short():
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        gate = RateGate(100)
        began = loop.time()
        gate.too_many(3.0)
        gate.too_many(1.0)  # another answer of the same burst
        admitted: list[float] = []

        async def worker() -> None:
            await gate.wait()
            admitted.append(loop.time() - began)

        await asyncio.gather(*(worker() for _ in range(5)))
        return admitted

    admitted = virtual(scenario())
    assert min(admitted) >= 3.0
    assert max(admitted) < 3.5  # and then on at the pace


def test_the_gate_pauses_what_it_is_told_and_says_so_max_wait_is_the_callers_bound():
    # the gate obeys the Retry-After it is handed and returns it: it is answers.py that refuses
    # one above --max-wait (default 300 s) and stops the run instead of calling too_many
    # (sending/test_stopping.py: a Retry-After of a day fails the rows within seconds)
    from importer.answers import SendOptions, _retry_after

    day = _retry_after("86400")
    assert day is not None and day > SendOptions("http://127.0.0.1").max_wait

    async def scenario() -> tuple[float, float, float]:
        loop = asyncio.get_running_loop()
        gate = RateGate.auto()
        began = loop.time()
        pause = gate.too_many(30.0)
        await gate.wait()
        waited = loop.time() - began
        return pause, waited, gate.too_many(0.0)

    pause, waited, zero = virtual(scenario())
    assert pause == 30.0
    assert 30.0 <= waited < 30.5  # exactly what it was told, no more
    assert zero == 0.0  # and never a negative or made-up pause
