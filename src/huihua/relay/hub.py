"""The replies of one server process: their tasks, their events, stops, the sweep of dead
hosts' replies, and the process's end.

- :meth:`Relay.start` runs a :class:`~huihua.relay.task.ReplyTask`; the process's tasks are
  kept by reply, so a stop, a deletion or a follow on this host finds its task or its
  events (kept :data:`~huihua.relay.events.KEEP_AFTER_DONE_S` after ``done``).
- With Redis (``shared``), stops and deletions are announced to every host, and each
  host's listener stops its own task of the reply.
- :meth:`sweep_forever` sets ``failed`` the replies whose lease ran out (their host died,
  docs/api.md §8.4): at start and every :data:`SWEEP_EVERY_S`.
- With the subscription message configured (docs/api.md §8.7), followers are counted by
  reply (here, and in Redis for the other hosts'): a reply asked with ``notify`` that ends
  while none follows it has the message sent, once, in the background.
- :meth:`drain` (the server stops): new asks are refused, and the replies in flight get
  until a deadline to finish; then they are failed (their text kept), and :meth:`close`
  waits for their last writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from huihua import timestamps
from huihua.config import Settings
from huihua.relay.events import LocalLog, SharedEvents
from huihua.relay.model import ModelClient, ModelSettings
from huihua.relay.task import SHUT_DOWN, STOPPED, Ask, Finished, ReplyTask, day_in, keep_log_for
from huihua.relay.writes import fail_expired
from huihua.store import Store
from huihua.store import queries as q
from huihua.store.sql import Db
from huihua.wechat.notify import Answered
from huihua.wechat.services import WeChatServices

log = logging.getLogger("huihua.relay")

SWEEP_EVERY_S = 10.0
SWEEP_BATCH = 100
DEAD_HOST = "the server generating this reply stopped before it was done"
Key = tuple[str, str, int]


class Relay:
    """This process's replies (module docstring)."""

    def __init__(
        self,
        store: Store,
        model: ModelClient,
        *,
        shared: SharedEvents | None,
        zone: ZoneInfo,
        host_limit: int,
        on_finish: Callable[[Finished], None] | None = None,
        wechat: WeChatServices | None = None,
    ) -> None:
        self.store = store
        self.model = model
        self.shared = shared
        self.zone = zone
        self.host_limit = host_limit
        self.host_id = f"{socket.gethostname()[:40]}-{secrets.token_hex(4)}"
        self.on_finish = on_finish
        self.wechat = wechat
        self.listeners: dict[Key, int] = {}  # followers on this host, by reply
        self._counts_listeners = wechat is not None and wechat.notifier is not None
        self.tasks: dict[Key, ReplyTask] = {}
        self.logs: dict[Key, LocalLog] = {}
        self._runs: set[asyncio.Task[None]] = set()  # the tasks to wait for at the close
        self._generating: set[asyncio.Task[None]] = set()  # of them, the replies' own
        self.draining = False
        self._drain_timer: asyncio.TimerHandle | None = None
        self._drain_end = 0.0  # the loop's time when the replies still generating fail
        self._listener: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: Store,
        *,
        on_finish: Callable[[Finished], None],
        wechat: WeChatServices | None = None,
    ) -> Relay:
        """Return the relay the settings describe: their model, Redis when configured."""
        model = ModelClient(
            ModelSettings(
                base_url=settings.llm_base_url,
                api_key=settings.llm_api_key,
                connect_timeout_s=float(settings.llm_connect_timeout),
                first_token_timeout_s=float(settings.llm_first_token_timeout),
                idle_timeout_s=float(settings.llm_idle_timeout),
                retry_budget_s=float(settings.llm_retry_budget),
                think_tags=settings.llm_think_tags,
            )
        )
        return cls(
            store,
            model,
            shared=SharedEvents(settings.redis_url) if settings.redis_url else None,
            zone=ZoneInfo(settings.llm_quota_tz),
            host_limit=settings.llm_host_replies,
            on_finish=on_finish,
            wechat=wechat,
        )

    # -- replies ------------------------------------------------------------------------

    def full(self) -> bool:
        """Return whether this process generates as many replies as it may."""
        return len(self.tasks) >= self.host_limit

    def start(self, ask: Ask) -> ReplyTask:
        """Start generating a reply (its placeholder and lease are written)."""
        task = ReplyTask(self, ask)
        self.tasks[task.key] = task
        self.logs[task.key] = task.log
        run = asyncio.create_task(task.run(), name=f"reply {ask.session_id}#{ask.seq}")
        self._runs.add(run)
        run.add_done_callback(self._runs.discard)
        self._generating.add(run)
        run.add_done_callback(self._generating.discard)
        return task

    def ended(self, task: ReplyTask) -> None:
        """A task's reply ended: keep its events a while for followers."""
        if self.tasks.get(task.key) is task:
            del self.tasks[task.key]
        if task.finished.result() is None:  # deleted, or its last write failed: no events
            if self.logs.get(task.key) is task.log:
                del self.logs[task.key]
            return

        def drop() -> None:
            if self.logs.get(task.key) is task.log:
                del self.logs[task.key]

        keep_log_for(asyncio.get_running_loop(), drop)

    # -- who follows, and the message for a reply nobody did (§8.7) ----------------------

    def listen(self, key: Key) -> None:
        """A follower of the reply begins (here; in Redis too, with the message on)."""
        if not self._counts_listeners:
            return
        self.listeners[key] = self.listeners.get(key, 0) + 1
        if self.shared is not None:
            self._background(self.shared.count_listener(key, 1))

    def unlisten(self, key: Key) -> None:
        """A follower of the reply ended."""
        if not self._counts_listeners:
            return
        left = self.listeners.get(key, 0) - 1
        if left > 0:
            self.listeners[key] = left
        else:
            self.listeners.pop(key, None)
        if self.shared is not None:
            self._background(self.shared.count_listener(key, -1))

    async def heard(self, task: ReplyTask) -> bool:
        """Return whether anyone follows the reply, here or (Redis) on another host; True
        when no message could be sent anyway."""
        wechat = self.wechat
        if wechat is None or wechat.notifier is None or task.ask.openid is None:
            return True
        if self.listeners.get(task.key, 0) > 0:
            return True
        return self.shared is not None and await self.shared.listeners(task.key) > 0

    def answered(self, task: ReplyTask, msg: str) -> None:
        """A reply asked with ``notify`` ended complete, unheard: send the message."""
        self._background(self._notify(task.ask, msg))

    async def _notify(self, ask: Ask, msg: str) -> None:
        assert self.wechat is not None and self.wechat.notifier is not None
        assert ask.openid is not None
        try:
            title = await self.store.read(
                lambda db: q.session_title(db, ask.user_id, ask.session_id)
            )
            if title is None:
                return  # deleted meanwhile
            answered = Answered(ask.openid, ask.session_id, ask.seq, title, msg, ask.model)
            await self.wechat.notifier.send(answered)
        except Exception as error:  # the store away, or a bug: logged, never the reply's
            log.warning("replies: the answer-ready message was not sent (%r)", error)

    def _background(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    def count(self, finished: Finished) -> None:
        if self.on_finish is not None:
            self.on_finish(finished)

    def today(self) -> str:
        """Return today's date in the quota's time zone."""
        return day_in(self.zone)

    async def stop_here(self, key: Key) -> str | None:
        """Stop this host's task of a reply; return the status it ended with, or None when
        this host does not generate it."""
        task = self.tasks.get(key)
        if task is None:
            return None
        task.stop(STOPPED)
        return await asyncio.shield(task.finished)

    async def announce_stop(self, key: Key) -> None:
        """Ask every host to stop its task of a reply (Redis)."""
        if self.shared is not None:
            await self.shared.announce(msgspec.json.encode(["stop", *key]))

    def forget(
        self, user_id: str, session_id: str | None = None, seq: int = 0, *, later: bool = True
    ) -> None:
        """Stop, writing nothing more, the replies a deletion took: the user's (no
        session), a session's (``seq`` 0), those of a session from ``seq`` on, or (``later``
        False) the one at ``seq``; and tell the other hosts (Redis)."""
        self._forget_here(user_id, session_id, seq, later)
        if self.shared is not None:
            message = msgspec.json.encode(["forget", user_id, session_id, seq, later])
            task = asyncio.create_task(self.shared.announce(message))
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)

    def _forget_here(self, user_id: str, session_id: str | None, seq: int, later: bool) -> None:
        def taken(key: Key) -> bool:
            mine = key[0] == user_id and (session_id is None or key[1] == session_id)
            return mine and (key[2] >= seq if later else key[2] == seq)

        for key, task in list(self.tasks.items()):
            if taken(key):
                task.stop("gone")
        for key in [k for k in self.logs if taken(k) and k not in self.tasks]:
            del self.logs[key]

    async def _listen(self) -> None:
        assert self.shared is not None
        async for message in self.shared.listen():
            try:
                kind, user_id, session_id, seq, *rest = msgspec.json.decode(message)
            except (msgspec.DecodeError, ValueError):
                continue
            if kind == "stop":
                task = self.tasks.get((user_id, session_id, seq))
                if task is not None:
                    task.stop(STOPPED)
            elif kind == "forget":
                self._forget_here(user_id, session_id, seq, bool(rest and rest[0]))

    # -- a dead host's replies ----------------------------------------------------------

    async def sweep(self) -> int:
        """Set ``failed`` the replies whose lease ran out; return how many."""
        failed = 0
        while True:
            keys = await self.store.read(_expired)
            theirs = [key for key in keys if key not in self.tasks]  # ours: late, going on
            for key in theirs:
                done = await self.store.write(_failing(key))
                failed += int(done)
            if len(keys) < SWEEP_BATCH or not theirs:
                return failed

    async def sweep_forever(self) -> None:
        while True:
            try:
                failed = await self.sweep()
                if failed:
                    log.warning("replies: %d left streaming by a stopped server set failed", failed)
            except Exception as error:
                log.warning("replies: the sweep of dead servers' replies failed (%s)", error)
            await asyncio.sleep(SWEEP_EVERY_S)

    # -- the process's life -------------------------------------------------------------

    def open(self) -> None:
        """Start the sweep and (with Redis) the listener of stops."""
        self._sweeper = asyncio.create_task(self.sweep_forever(), name="replies sweep")
        if self.shared is not None:
            self._listener = asyncio.create_task(self._listen(), name="replies listener")

    def drain(self, within_s: float) -> None:
        """The server is stopping: refuse new asks; fail what is still generating after
        ``within_s`` seconds."""
        if self.draining:
            return
        self.draining = True
        loop = asyncio.get_running_loop()
        self._drain_end = loop.time() + max(within_s, 0.0)
        self._drain_timer = loop.call_later(max(within_s, 0.0), self._fail_all)

    def _fail_all(self) -> None:
        for task in list(self.tasks.values()):
            task.stop(SHUT_DOWN)

    async def close(self, finish_within_s: float, write_within_s: float) -> None:
        """Finish: let the replies still generating end by themselves until the drain's
        deadline (``finish_within_s`` from now if none was set: no connection was open for
        the server to drain), fail those that did not, wait up to ``write_within_s`` for
        their last writes, stop the sweep and the listener."""
        self.drain(finish_within_s)
        loop = asyncio.get_running_loop()
        if self._generating:
            left = self._drain_end - loop.time()
            await asyncio.wait(set(self._generating), timeout=max(left, 0.0))
        self._fail_all()
        runs = set(self._runs)
        if runs:
            await asyncio.wait(runs, timeout=max(write_within_s, 0.1))
        for background in (self._sweeper, self._listener, *self._runs):
            if background is not None:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await background
        await self.model.aclose()
        if self.shared is not None:
            await self.shared.aclose()


def _expired(db: Db) -> list[Key]:
    return q.expired_replies(db, timestamps.now_ms(), SWEEP_BATCH)


def _failing(key: tuple[str, str, int]) -> Callable[[Db], bool]:
    """Return the write that fails the expired reply ``key`` (the time read when it runs)."""
    return lambda db: fail_expired(db, key, timestamps.now_ms(), DEAD_HOST)
