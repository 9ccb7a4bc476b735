"""Rate limits: so many requests per minute per user and per client address.

Each limit is a bucket of ``n`` requests refilled evenly over a minute (GCRA: one stored
time per key, the "theoretical arrival time"), so a client may burst ``n`` requests and then
one every ``60/n`` seconds. Every user and every address has its own bucket: one user's
burst never slows another. A request takes from all of its buckets or from none.

- :class:`LocalLimiter` keeps the buckets in this process (one worker, or a limit per
  worker when there are several).
- :class:`RedisLimiter` keeps them in Redis (``redis_url``), checked and taken in one Lua
  script on Redis's own clock, so the limits hold in sum across workers and hosts. When
  Redis does not answer, requests are let through and a warning is logged (at most every
  10 s): an outage of the limiter is not an outage of the service.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from huihua.config import Settings

log = logging.getLogger("huihua.ratelimit")

WINDOW_US = 60_000_000
REDIS_TIMEOUT_S = 0.5
_WARN_EVERY_S = 10.0
_SWEEP_AT = 10_000  # local buckets kept before the full ones are swept out

# KEYS: the buckets; ARGV[1]: the window in µs, ARGV[i + 1]: the interval of KEYS[i] in µs.
# Returns 0 when every bucket had room (and each is taken from), else the ms to wait.
# Whole microseconds, so that a bucket with exactly one request of room is never refused
# by a rounding error (a double holds every integer below 2^53 µs: 285 years).
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local wait = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local tat = math.floor(tonumber(redis.call('GET', key) or '0'))
  if tat < now then tat = now end
  tats[i] = tat + tonumber(ARGV[i + 1])
  if tats[i] - now - window > wait then wait = tats[i] - now - window end
end
if wait > 0 then return math.ceil(wait / 1000) end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%d', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000))
end
return 0
"""

Bucket = tuple[str, int]  # (key, requests per minute)


class Limiter(Protocol):
    async def take(self, buckets: Sequence[Bucket]) -> float:
        """Take one request from every bucket; return 0, or the seconds to wait (none taken)."""
        ...

    async def aclose(self) -> None: ...


class LocalLimiter:
    """Buckets in this process's memory (the event loop is the only caller: no lock)."""

    def __init__(self) -> None:
        self._tats: dict[str, int] = {}

    async def take(self, buckets: Sequence[Bucket]) -> float:
        now = time.monotonic_ns() // 1000  # whole µs: no rounding refuses a request
        wait = 0
        tats = []
        for key, per_minute in buckets:
            tat = max(self._tats.get(key, now), now) + WINDOW_US // per_minute
            tats.append(tat)
            wait = max(wait, tat - now - WINDOW_US)
        if wait > 0:
            return wait / 1_000_000
        for (key, _), tat in zip(buckets, tats, strict=True):
            self._tats[key] = tat
        if len(self._tats) > _SWEEP_AT:
            self._tats = {k: t for k, t in self._tats.items() if t > now}
        return 0.0

    async def aclose(self) -> None:
        self._tats.clear()


class RedisLimiter:
    """Buckets in Redis, shared by every worker and host that names the same Redis."""

    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self._script = self._redis.register_script(_SCRIPT)
        self._warned = -math.inf

    async def take(self, buckets: Sequence[Bucket]) -> float:
        keys = [key for key, _ in buckets]
        args = [WINDOW_US] + [WINDOW_US // per_minute for _, per_minute in buckets]
        try:
            wait_ms = await self._script(keys=keys, args=args)
        except (RedisError, OSError, TimeoutError) as error:
            now = time.monotonic()
            if now - self._warned > _WARN_EVERY_S:
                self._warned = now
                log.warning(
                    "rate limits: Redis does not answer (%s); not limiting", type(error).__name__
                )
            return 0.0
        return int(wait_ms) / 1000

    async def ping(self) -> bool:
        """Return whether Redis answers."""
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError, TimeoutError):
            return False

    async def aclose(self) -> None:
        await self._redis.aclose()


def open_limiter(settings: Settings) -> LocalLimiter | RedisLimiter:
    """Return the limiter the settings name: Redis when ``redis_url`` is set."""
    if settings.redis_url:
        return RedisLimiter(settings.redis_url)
    return LocalLimiter()
