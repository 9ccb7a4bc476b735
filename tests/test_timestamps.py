"""timestamps.rfc3339: the text it always gave, with its seconds kept in a bounded dict."""

from __future__ import annotations

import random
import time

from huihua import timestamps


def _formatted(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def test_rfc3339_as_strftime_gives_it() -> None:
    rnd = random.Random(3)
    values = [0, 999, 1000, 1765000000000, 1765000000999, -1, -1001]
    values += [rnd.randrange(0, 4_102_444_800_000) for _ in range(3000)]
    for ms in values:
        assert timestamps.rfc3339(ms) == _formatted(ms)
        assert timestamps.rfc3339(ms) == _formatted(ms)  # the second from SECONDS now


def test_seconds_stay_bounded() -> None:
    for s in range(timestamps.SECONDS_MAX * 2):
        timestamps.rfc3339(s * 1000)
    assert len(timestamps.SECONDS) <= timestamps.SECONDS_MAX
