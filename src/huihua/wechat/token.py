"""The app's WeChat access token: one for every worker and host, fetched from
``stable_token`` (normal mode), kept until a little before it expires.

In memory per process, and with Redis (``HUIHUA_REDIS_URL``) in one key every process
reads first: a process that finds none fetches one and stores it there. Normal mode gives
every caller the same token while it is valid, so two hosts that fetch at once get the same
one; in its last five minutes a call gets the next one, and both work meanwhile (a renewal
:data:`RENEW_BEFORE_S` before expiry is inside that window). A token WeChat refuses (40001,
42001) is forgotten, here and in Redis if Redis still holds that one, and fetched again.
Redis away: each process keeps its own, and says so in the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("huihua.wechat")

RENEW_BEFORE_S = 120  # a token has at least 300 s of life when fetched (stable_token)
MIN_LIFE_S = 30
_FORGET = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"


class AccessToken:
    """The access token: ``get()`` returns a valid one, ``renew(bad)`` replaces it."""

    def __init__(
        self, fetch: Callable[[], Awaitable[tuple[str, int]]], redis_url: str, appid: str
    ) -> None:
        self._fetch = fetch
        self._redis = (
            aioredis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
            if redis_url
            else None
        )
        self._key = f"huihua:wechat:token:{appid}"
        self._token: str | None = None
        self._until = 0.0  # monotonic time after which it is fetched again
        self._lock = asyncio.Lock()
        self.fetches = 0  # stable_token calls this process made

    async def get(self) -> str:
        """Return the token (from memory, Redis, or ``stable_token``)."""
        if self._token is not None and time.monotonic() < self._until:
            return self._token
        async with self._lock:  # one fetch per process at a time; the others wait for it
            if self._token is not None and time.monotonic() < self._until:
                return self._token
            return await self._load()

    async def renew(self, bad: str) -> str:
        """Forget ``bad`` (WeChat refused it) and return another token."""
        async with self._lock:
            if self._token is not None and self._token != bad and time.monotonic() < self._until:
                return self._token  # renewed meanwhile
            self._token = None
            if self._redis is not None:
                try:
                    await self._redis.eval(_FORGET, 1, self._key, bad)
                except RedisError as error:
                    log.warning("wechat: Redis refused the token's key (%s)", type(error).__name__)
            return await self._load(skip=bad)

    async def _load(self, skip: str | None = None) -> str:
        if self._redis is not None:
            try:
                shared, left_ms = await self._shared()
            except RedisError as error:
                log.warning(
                    "wechat: Redis does not answer (%s); the access token is this process's",
                    type(error).__name__,
                )
            else:
                if shared is not None and shared != skip and left_ms > 0:
                    return self._keep(shared, left_ms / 1000)
        token, life = await self._fetch()
        self.fetches += 1
        keep_s = max(life - RENEW_BEFORE_S, MIN_LIFE_S)
        if self._redis is not None:
            try:
                await self._redis.set(self._key, token, px=int(keep_s * 1000))
            except RedisError as error:
                log.warning("wechat: Redis refused the token (%s)", type(error).__name__)
        return self._keep(token, keep_s)

    async def _shared(self) -> tuple[str | None, int]:
        assert self._redis is not None
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._key)
            pipe.pttl(self._key)
            value, left_ms = await pipe.execute()
        return (value.decode() if value is not None else None), int(left_ms)

    def _keep(self, token: str, keep_s: float) -> str:
        self._token = token
        self._until = time.monotonic() + keep_s
        return token

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
