"""A reply's events: the frames of its event stream, in memory and (with Redis) shared.

Every event of a reply is one Server-Sent Events frame, numbered from 1 (``start``) with
no gaps: ``id: N``, ``event: start|delta|done``, ``data: {json}``. The generating task
appends each frame to the reply's :class:`LocalLog`, which every follower on this host
reads from the position it has (a follower holds an index, never a copy). With Redis, the
same frames also go to a Redis stream per reply (:class:`SharedEvents`), entry ``0-N`` for
event N, so that a follow on any host reads them; the stream is bounded and expires some
minutes after ``done``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("huihua.relay")
# A Redis stream's entries as XRANGE returns them (bytes: the client does not decode).
_Entries = list[tuple[bytes, dict[bytes, bytes]]]

PING = b": ping\n\n"
KEEP_AFTER_DONE_S = 300  # a finished reply's events stay this long (here and in Redis)
KEEP_WHILE_LIVE_S = 3_600  # a live reply's Redis stream, renewed as it grows
SHARED_MAX_EVENTS = 100_000  # a Redis stream's bound (a reply makes at most ~20 a second)


def frame(event_id: int, name: str, data: bytes) -> bytes:
    """Return one event as the bytes of its frame."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, name.encode(), data)


class LocalLog:
    """The frames of one reply made on this host, in order; ``done`` once the last is in."""

    __slots__ = ("_waiting", "done", "frames")

    def __init__(self, start: bytes) -> None:
        self.frames: list[bytes] = [start]
        self.done = False
        self._waiting: list[asyncio.Future[bool]] = []  # one future a follower waiting

    def add(self, data: bytes, *, last: bool = False) -> None:
        """Append a frame (``last``: the reply's ``done``) and wake the followers."""
        self.frames.append(data)
        self.done = self.done or last
        self._wake()

    def end(self) -> None:
        """End the log without a ``done`` (the reply was deleted): followers stop."""
        self.done = True
        self._wake()

    def _wake(self) -> None:
        waiting, self._waiting = self._waiting, []
        for follower in waiting:
            if not follower.done():
                follower.set_result(True)

    async def wait(self, have: int, timeout: float) -> bool:
        """Wait until there are more than ``have`` frames or the log ended; return False
        when ``timeout`` seconds passed first.

        A future and a timer of its own per follower: asyncio.wait_for around a shared
        future (shielded) cost a relayed event three times as much (bench/relay.py)."""
        if len(self.frames) > have or self.done:
            return True
        loop = asyncio.get_running_loop()
        follower: asyncio.Future[bool] = loop.create_future()
        self._waiting.append(follower)
        timer = loop.call_later(timeout, _time_out, follower)
        try:
            return await follower
        finally:
            timer.cancel()
            if not follower.done():  # cancelled: the follower left
                with contextlib.suppress(ValueError):
                    self._waiting.remove(follower)


def _time_out(follower: asyncio.Future[bool]) -> None:
    if not follower.done():
        follower.set_result(False)


def reply_key(user_id: str, session_id: str, seq: int) -> str:
    """Return the Redis key of a reply's events (the user id's length keeps ids apart)."""
    return f"huihua:reply:{len(user_id)}:{user_id}:{session_id}:{seq}"


class SharedEvents:
    """Replies' events in Redis streams, and the stops and deletions every host hears."""

    STOPS = "huihua:reply-stops"

    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5)
        self._queues: dict[str, asyncio.Queue[tuple[int, bytes, bool] | None]] = {}
        self._senders: set[asyncio.Task[None]] = set()

    def publish(self, key: str, event_id: int, data: bytes, *, last: bool = False) -> None:
        """Send an event to the reply's stream, in order, without waiting for Redis."""
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
            sender = asyncio.create_task(self._send(key, queue))
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        queue.put_nowait((event_id, data, last))

    async def _send(self, key: str, queue: asyncio.Queue[tuple[int, bytes, bool] | None]) -> None:
        try:
            while True:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                last = False
                async with self._redis.pipeline(transaction=False) as pipe:
                    for item in batch:
                        if item is None:
                            continue
                        event_id, data, last = item
                        pipe.xadd(
                            key,
                            {"f": data},
                            id=f"0-{event_id}",
                            maxlen=SHARED_MAX_EVENTS,
                            approximate=True,
                        )
                    keep = KEEP_AFTER_DONE_S if last else KEEP_WHILE_LIVE_S
                    pipe.expire(key, keep)
                    await pipe.execute()
                if last or None in batch:
                    return
        except RedisError as error:
            log.warning(
                "events: Redis refused a reply's events (%s); followers elsewhere poll the store",
                type(error).__name__,
            )
        finally:
            self._queues.pop(key, None)

    async def read(self, key: str, after: int) -> list[tuple[int, bytes]] | None:
        """Return the events after ``after`` that the stream holds, or None when it holds
        none of the reply (never made here, expired, or trimmed past ``after``)."""
        # redis-py types every protocol's shape and decoding; ours is RESP2, bytes.
        entries = cast("_Entries", await self._redis.xrange(key, min=f"0-{after + 1}", max="+"))
        if not entries:
            exists = await self._redis.exists(key)
            if not exists:
                return None
            return []
        first = _event_id(entries[0][0])
        if first != after + 1:
            return None
        return [(_event_id(entry_id), fields[b"f"]) for entry_id, fields in entries]

    async def wait(self, key: str, after: int, timeout: float) -> list[tuple[int, bytes]]:
        """Return the events after ``after`` as they come, waiting up to ``timeout`` s."""
        got = cast(
            "list[tuple[bytes, _Entries]]",
            await self._redis.xread({key: f"0-{after}"}, block=int(timeout * 1000)),
        )
        if not got:
            return []
        return [(_event_id(entry_id), fields[b"f"]) for entry_id, fields in got[0][1]]

    async def count_listener(self, key: tuple[str, str, int], change: int) -> None:
        """Count a follower of the reply in or out, for the host that generates it."""
        name = reply_key(*key) + ":listeners"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incrby(name, change)
                pipe.expire(name, KEEP_WHILE_LIVE_S)
                await pipe.execute()
        except RedisError as error:
            log.warning("events: Redis refused a follower's count (%s)", type(error).__name__)

    async def listeners(self, key: tuple[str, str, int]) -> int:
        """Return how many follow the reply on every host (0 when Redis does not answer)."""
        try:
            count = await self._redis.get(reply_key(*key) + ":listeners")
        except RedisError:
            return 0
        return int(count) if count is not None else 0

    async def announce(self, message: bytes) -> None:
        """Tell every host (a stop, a deletion); a Redis failure is logged, not raised."""
        try:
            await self._redis.publish(self.STOPS, message)
        except RedisError as error:
            log.warning("events: cannot announce a stop through Redis (%s)", type(error).__name__)

    async def listen(self) -> AsyncIterator[bytes]:
        """Yield every announcement, for as long as the caller iterates (reconnecting)."""
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.STOPS)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        yield message["data"]
            except RedisError:
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(RedisError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py's

    async def aclose(self) -> None:
        for queue in list(self._queues.values()):
            queue.put_nowait(None)
        if self._senders:
            await asyncio.wait(set(self._senders), timeout=2)
        await self._redis.aclose()


def _event_id(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[2])
