"""The rate gate's promises, checked on its own (behaviour, not wall-clock speed)."""

from __future__ import annotations

import asyncio

from importer.rate import RateGate


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

    starts = sorted(asyncio.run(scenario()))
    assert len(starts) == 60
    for i, start in enumerate(starts):
        in_window = [s for s in starts[i:] if s < start + 1.0]
        assert len(in_window) <= 20
    # and no burst at the start: after the bucket's two, requests come 1/rate apart
    assert starts[4] - starts[0] >= 3 / 20 - 0.005


def test_retry_after_in_seconds_or_as_an_http_date():
    import datetime as dt
    from email.utils import format_datetime

    from importer.send import _retry_after

    assert _retry_after("7") == 7.0
    assert _retry_after(" 0 ") == 0.0
    in_ten = format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10), usegmt=True)
    assert 8.0 <= (_retry_after(in_ten) or 0) <= 10.0
    past = format_datetime(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), usegmt=True)
    assert _retry_after(past) == 0.0
    assert _retry_after("soon") is None and _retry_after(None) is None
