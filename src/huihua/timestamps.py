"""Time as stored (integer milliseconds since the epoch, UTC) and as sent (RFC 3339)."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Return the current time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def rfc3339(ms: int) -> str:
    """Return ``ms`` as an RFC 3339 UTC string with milliseconds, e.g. 2026-11-24T14:15:46.123Z."""
    seconds, millis = divmod(ms, 1000)
    return (SECONDS.get(seconds) or second(seconds)) + MILLIS[millis]


MILLIS = tuple(f".{n:03d}Z" for n in range(1000))
# The text of each second seen (its date and time), up to SECONDS_MAX of them. A plain
# dict, which a loop reads with SECONDS.get (service/pages.py): cheaper than an lru_cache
# (read 375,884 -> 374,281 instructions).
SECONDS: dict[int, str] = {}
SECONDS_MAX = 4096


def second(seconds: int) -> str:
    """Return the text of a second, as rfc3339 begins, and keep it in SECONDS."""
    # strftime costs more than the rest of a row; the rows of one reply share few seconds
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if len(SECONDS) >= SECONDS_MAX:
        SECONDS.clear()
    SECONDS[seconds] = text
    return text
