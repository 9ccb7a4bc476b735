"""Time as stored (integer milliseconds since the epoch, UTC) and as sent (RFC 3339)."""

from __future__ import annotations

import functools
import time


def now_ms() -> int:
    """Return the current time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def rfc3339(ms: int) -> str:
    """Return ``ms`` as an RFC 3339 UTC string with milliseconds, e.g. 2026-11-24T14:15:46.123Z."""
    seconds, millis = divmod(ms, 1000)
    return _second(seconds) + _MILLIS[millis]


_MILLIS = tuple(f".{n:03d}Z" for n in range(1000))
MILLIS = _MILLIS  # for a caller that inlines rfc3339 in a loop (service/pages.py)


@functools.lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    # strftime costs more than the rest of a row; the rows of one reply share few seconds
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


second = _second  # rfc3339's date and time to the second, cached
