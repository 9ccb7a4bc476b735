"""Time as stored (integer milliseconds since the epoch, UTC) and as sent (RFC 3339)."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Return the current time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def rfc3339(ms: int) -> str:
    """Return ``ms`` as an RFC 3339 UTC string with milliseconds, e.g. 2026-11-24T14:15:46.123Z."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
