"""When the next request may start: a strict ceiling, a pace, pauses, and budgets learnt.

Invariants:
- never more than ``limit`` starts in any sliding ``window``: a log of the last ``limit``
  start times holds each new start until the oldest is ``window`` + ``margin`` old. The
  margin covers the time between admitting a start and the request leaving (event-loop
  and scheduling jitter): it is *measured* (``sent``), starting at 40 ms and shrinking to
  twice the spread seen, never under 15 ms (``MARGIN_MIN``);
- aiolimiter paces the starts evenly (a bucket of two: no burst after a pause, and a late
  wake-up is made up by the next start);
- a 429 pauses everyone for ``Retry-After`` and slows the pace once per pause; a run of
  successes climbs back.

``--rate auto`` (``RateGate.auto()``) starts at a conservative pace and learns the API's
budget from the ``X-RateLimit-Limit`` / ``X-RateLimit-Remaining`` headers Laravel-style
APIs send: the limit ``L`` is announced, and the window is found from ``Remaining``: the
server counted ``L - Remaining`` of our requests, so its window began between the start
of the one it no longer counts and the next. Until the window is known it is taken to be a
minute (the common default), so a per-minute budget is kept from the first request, and a
per-second one is found within a second or two. Without such headers it climbs by 15 %
every 20 successes and backs off by a quarter on a 429 (AIMD).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

from aiolimiter import AsyncLimiter

#: the margin before it is measured, and its bounds
MARGIN_START, MARGIN_MIN = 0.040, 0.015
#: the pace of ``--rate auto`` before it knows anything
AUTO_START = 5.0
#: the window assumed for an announced budget until requests show a shorter one
ASSUMED_WINDOW = 60.0
#: a larger announced limit is ignored: no budget to keep to (nor a deque's length)
MAX_BUDGET = 100_000
#: a budget learnt below this many requests a second, and kept this many seconds (a
#: per-second budget first read as per-minute is found within a second or two), is worth
#: a word to the analyst
SLOW_BUDGET, SLOW_KEPT = 1.0, 5.0


class RateGate:
    """Admits request starts: a strict ceiling, a slower pace after 429, and pauses.

    A leaky bucket alone cannot promise "at most N in any sliding second" without losing
    throughput: with capacity N it allows 2N in a second after an idle spell, and with
    capacity 1 every late wake-up of a worker is lost for good (measured: ~91 of 100/s).
    So aiolimiter only paces and a log of start times is the ceiling.
    """

    def __init__(self, rate: float) -> None:
        self.target = rate
        self.current = rate
        self.throttled = 0
        self.margin = MARGIN_START
        self.learning = False  # --rate auto
        self.budget: tuple[int, float] | None = None  # (limit, window) learnt from headers
        self._window = 1.0
        self._limit = max(1, math.floor(rate)) if rate > 0 else 0
        self._starts: deque[float] = deque(maxlen=max(1, self._limit))
        self._pace = AsyncLimiter(2, 2 / rate) if rate > 0 else None
        self._slower: AsyncLimiter | None = None
        self._recent: deque[float] = deque(maxlen=100_000)
        self._pause_until = 0.0
        self._successes = 0
        self._delays: deque[float] = deque(maxlen=256)
        self._log: deque[float] = deque(maxlen=100_000)  # every start, for learning
        self._logged = 0  # starts ever logged: the number of the next one
        self._spanned = 0.0  # the longest time between starts counted together
        self._budget_since = 0.0  # the loop's time when the budget was last changed

    @classmethod
    def auto(cls) -> RateGate:
        """A gate for ``--rate auto``: a cautious start, then what the API announces."""
        gate = cls(0)
        gate.learning = True
        gate.current = AUTO_START
        gate._slower = AsyncLimiter(1, 1 / AUTO_START)
        return gate

    def now(self) -> int | None:
        """Admit a start at once if nothing paces or pauses starts (``--rate 0`` between
        429s): its number, as ``wait`` gives; else None, and ``wait`` must be awaited."""
        if self._pace is not None or self._slower is not None or self._pause_until:
            return None
        return self._admit(asyncio.get_running_loop().time())

    async def wait(self) -> int:
        """Return when one more request may start; its number (for ``learn``)."""
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
                await self._ceiling()
            now = loop.time()
            if self._pause_until <= now:
                return self._admit(now)

    def _admit(self, now: float) -> int:
        """Note a start admitted at ``now``; its number (for ``learn``)."""
        if not self.target:
            self._recent.append(now)
        if self.learning:
            self._log.append(now)
            self._logged += 1
        return self._logged - 1

    async def _ceiling(self) -> None:
        """Hold this start until it is at most the N-th in any sliding window, then log it."""
        loop = asyncio.get_running_loop()
        starts = self._starts
        while len(starts) == self._limit:
            wait = starts[0] + self._window + self.margin - loop.time()
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        starts.append(loop.time())  # no await since the check: no other start slipped in

    def sent(self, delay: float) -> None:
        """A request left ``delay`` s after its start was admitted: keep the margin honest."""
        delays = self._delays
        delays.append(delay)
        if len(delays) >= 64 and len(delays) % 16 == 0:
            spread = max(delays) - min(delays)
            self.margin = min(MARGIN_START, max(MARGIN_MIN, 2 * spread + 0.005))

    def learn(self, number: int, limit: str | None, remaining: str | None) -> None:
        """Headers of the answer to start ``number``: follow the budget they announce.

        Headers that are absent, not whole numbers, a limit under 1 or over ``MAX_BUDGET``,
        or a remaining outside ``0..limit`` are ignored: the pace stays where it was.
        """
        if not self.learning or limit is None or remaining is None:
            return
        try:
            budget, left = int(limit), int(remaining)
        except ValueError:
            return
        if not 1 <= budget <= MAX_BUDGET or not 0 <= left <= budget:
            return
        counted = budget - left  # of our starts, this one and those before it in the window
        window = self.budget[1] if self.budget else ASSUMED_WINDOW
        first = self._logged - len(self._log)  # the number of the oldest start still logged
        position = number - first
        log = self._log
        if 1 <= counted <= position + 1 and position < len(log):
            # the window is at least as long as the latest `counted` starts span
            self._spanned = max(self._spanned, log[position] - log[position - counted + 1])
        if left and 1 <= counted <= position and position < len(log):
            # the start `counted` places before this one is no longer counted: the window
            # is shorter than the time between the two (APIs count in whole seconds, and
            # the nearest whole second absorbs requests that overtook each other). Not
            # from a Remaining of 0: a 429 says so without counting the request it answers;
            # nor when starts counted together spanned longer: a fixed window (Laravel's)
            # that restarted, not a short one
            measured = _whole(log[position] - log[position - counted])
            if measured is not None and measured + 0.5 >= self._spanned:
                window = min(window, measured)
        if self.budget != (budget, window):
            self._follow(budget, max(window, 0.05))

    def _follow(self, limit: int, window: float) -> None:
        """Keep within ``limit`` starts in any ``window`` seconds, paced evenly."""
        if self.budget is None:  # the ceiling counts the starts admitted before it too
            self._starts = deque(self._log, maxlen=limit)
        elif limit != self._limit:
            self._starts = deque(self._starts, maxlen=limit)
        self.budget = (limit, window)
        self._budget_since = asyncio.get_running_loop().time()
        self.target = self.current = limit / window
        self._limit, self._window = limit, window
        self._pace = AsyncLimiter(2, 2 / self.target)
        self._slower = None

    def slow(self) -> str | None:
        """What a budget learnt below ``SLOW_BUDGET`` means to the analyst, else None."""
        if not self.learning or self.budget is None:
            return None
        limit, window = self.budget
        if limit / window >= SLOW_BUDGET:
            return None
        if asyncio.get_running_loop().time() - self._budget_since < SLOW_KEPT:
            return None  # not yet known to last
        return (
            f"the API allows {limit} request{'s' if limit != 1 else ''} per {window:,.0f} s "
            f"(X-RateLimit-Limit): --rate auto keeps to it, about {limit / window * 3600:,.0f} "
            "rows an hour; Ctrl-C stops the run and --resume continues it later"
        )

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


def _whole(seconds: float) -> float | None:
    """A window measured between two starts, as the whole seconds APIs count in (half up:
    ``round`` makes 0.5 s none); None under half a second: requests overtaking each other."""
    return float(math.floor(seconds + 0.5)) if seconds >= 0.5 else None
