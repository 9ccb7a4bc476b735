"""LocalLimiter's arithmetic on a clock the test sets: exact, whatever the clock reads.

A bucket of n holds exactly n requests at one instant, then one more once the wait it
answered is over (to the microsecond), then one each 60/n s. In float milliseconds,
``tat - now - window`` came out a hair above 0 when adding the window to the clock crossed
a power of two, and the first request under a limit of 1 per minute was refused (ok 7).
"""

from __future__ import annotations

import asyncio
import sys

import pytest

from huihua.access.ratelimit import LocalLimiter

WINDOW_NS = 60_000_000_000
# Monotonic clocks 30 s before a power of two of milliseconds, with odd sub-ms parts: where
# float milliseconds lose the last bits (19 of these 112 refused a first request in floats).
CLOCKS_NS = [
    (2**k - 30_000) * 1_000_000 + part
    for k in range(17, 45)
    for part in (0, 123_457, 500_001, 999_999)
]


class Clock:
    """Stands in for the limiter module's ``time``: both readings give the set time."""

    def __init__(self) -> None:
        self.ns = 0

    def monotonic_ns(self) -> int:
        return self.ns

    def monotonic(self) -> float:
        return self.ns / 1e9


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(sys.modules[LocalLimiter.__module__], "time", clock)
    return clock


def seconds(ns: int) -> object:
    return pytest.approx(ns / 1e9, rel=1e-9, abs=0)


def test_a_limit_of_one_lets_the_first_request_through_at_any_clock(clock: Clock) -> None:
    async def run() -> list[tuple[int, float, float]]:
        answers = []
        for now in CLOCKS_NS:
            clock.ns = now
            limiter = LocalLimiter()
            first = await limiter.take([("k", 1)])
            second = await limiter.take([("k", 1)])
            answers.append((now, first, second))
        return answers

    for now, first, second in asyncio.run(run()):
        assert first == 0, f"first request refused at clock {now} ns (wait {first} s)"
        assert second == seconds(WINDOW_NS), f"second request at clock {now} ns: wait {second} s"


@pytest.mark.parametrize("per_minute", [1, 2, 3, 7, 600, 1_200, 7_001])
def test_a_bucket_of_n_holds_n_at_once_then_one_more_when_the_wait_is_over(
    clock: Clock, per_minute: int
) -> None:
    interval = WINDOW_NS / per_minute / 1e9  # seconds
    bucket = [("k", per_minute)]

    async def run(start: int) -> None:
        clock.ns = start
        limiter = LocalLimiter()
        taken = [await limiter.take(bucket) for _ in range(per_minute)]
        assert taken == [0] * per_minute, f"clock {start} ns"
        wait = await limiter.take(bucket)
        assert 0 < wait <= interval + 1e-6, f"clock {start} ns"
        wait_ns = round(wait * 1e9)  # whole µs or ns, as the limiter counts
        clock.ns = start + wait_ns - 1_000
        assert await limiter.take(bucket) == seconds(1_000), f"clock {start} ns: 1 µs early"
        clock.ns = start + wait_ns
        assert await limiter.take(bucket) == 0, f"clock {start} ns: the wait is over"
        then = await limiter.take(bucket)  # from now on, one each interval
        assert then == pytest.approx(interval, abs=1e-6), f"clock {start} ns"

    for start in CLOCKS_NS[:: 8 if per_minute > 100 else 1]:
        asyncio.run(run(start))


def test_a_request_takes_from_every_bucket_or_from_none(clock: Clock) -> None:
    async def run() -> None:
        clock.ns = CLOCKS_NS[5]
        limiter = LocalLimiter()
        assert await limiter.take([("full", 1)]) == 0
        refused = await limiter.take([("full", 1), ("other", 2)])
        assert refused == seconds(WINDOW_NS)  # by "full"
        # "other" gave nothing to the refused request: its 2 are still there.
        assert await limiter.take([("other", 2)]) == 0
        assert await limiter.take([("other", 2)]) == 0
        assert await limiter.take([("other", 2)]) == seconds(WINDOW_NS // 2)

    asyncio.run(run())
