"""The generation task: one per reply, from the model's first byte to the reply's ``done``,
whether or not anyone listens (docs/api.md §8.4).

It reads the model's stream (model.py) in a task of its own and, beside it:
- makes ``delta`` events of what came: the first chunk at once, then at most one event per
  :data:`EMIT_EVERY_S` (the chunks that came meanwhile in one event), so a reply costs a
  few events a second whatever the model's chunk size, and no event is later than that
  behind the model;
- flushes the text to the store every :data:`FLUSH_EVERY_S` (and so moves ``updated_at``
  and its lease even while the model only thinks); a flush that finds the message deleted
  stops the model and writes nothing more; one that finds it ``cancelled`` (a stop through
  the store) stops the model;
- ends: the last write (status, ``meta`` with the model, the finish reason, the usage, an
  error), then ``done``, sent only after that write committed;
- with WeChat's content check on, has its text checked as it grows (guard.py): a risky
  piece stops the model, and the reply ends ``blocked``, its text replaced by the notice
  (a ``delta`` with ``replace``, then ``done``); off, nothing of it runs per chunk;
- with ``notify`` asked and nobody following it at its end, has the subscription message
  sent (docs/api.md §8.7).

A stop (``/stop_reply``), a deletion, or the server stopping cancels the model's task; the
HTTP response to the model closes with it (the model stops billing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import msgspec

from huihua import timestamps
from huihua.relay.chunks import Chunk, Ended
from huihua.relay.context import estimate_tokens
from huihua.relay.events import KEEP_AFTER_DONE_S, LocalLog, frame, reply_key
from huihua.relay.guard import Guard
from huihua.relay.model import ModelError
from huihua.relay.writes import Final, Flushed, finish, flush

if TYPE_CHECKING:
    from huihua.relay.hub import Relay

log = logging.getLogger("huihua.relay")
_encode = msgspec.json.Encoder().encode

EMIT_EVERY_S = 0.05
FLUSH_EVERY_S = 1.0
LEASE_MS = 30_000  # a lease outlives a few missed flushes; the sweep runs every 10 s
FINISH_ATTEMPTS = 5

STOPPED = "cancelled"
BLOCKED = "blocked"
SHUT_DOWN = "the server stopped before the reply was done"
GONE = "gone"


@dataclass(frozen=True)
class Ask:
    """What a reply is generated from."""

    user_id: str
    session_id: str
    seq: int
    model: str
    messages: list[dict[str, Any]]
    prompt_tokens: int  # estimated, for when the model sends no usage
    start: bytes  # the start event's frame
    openid: str | None = None  # whose WeChat check and message (§8.6-8.7)
    notify: bool = False  # the subscription message, if it ends unheard


@dataclass(frozen=True)
class Finished:
    """What the metrics count of a reply that ended."""

    model: str
    status: str
    prompt_tokens: int
    completion_tokens: int
    first_token_s: float | None


class ReplyTask:
    """One reply being generated (see the module docstring)."""

    def __init__(self, relay: Relay, ask: Ask) -> None:
        self.relay = relay
        self.ask = ask
        self.key = (ask.user_id, ask.session_id, ask.seq)
        self.shared_key = reply_key(ask.user_id, ask.session_id, ask.seq)
        self.log = LocalLog(ask.start)
        self.events = 1
        self.started = time.monotonic()
        self.first_token_s: float | None = None
        self._msg: list[str] = []
        self._reasoning: list[str] = []
        self._pending: tuple[list[str], list[str]] = ([], [])
        self._last_emit = 0.0
        self._emit_timer: asyncio.TimerHandle | None = None
        self._stop_as: str | None = None
        self._ended: Ended | None = None
        self._model: asyncio.Task[None] | None = None
        self.finished: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._guard: Guard | None = None
        wechat = relay.wechat
        if wechat is not None and wechat.check is not None:
            self._guard = Guard(
                wechat.check,
                ask.openid,
                refuse_unchecked=wechat.refuse_unchecked,
                on_block=lambda: self.stop(BLOCKED),
            )
            self._take = self._take_guarded  # type: ignore[method-assign]
        if relay.shared is not None:
            relay.shared.publish(self.shared_key, 1, ask.start)

    # -- the model's chunks -------------------------------------------------------------

    async def _consume(self) -> None:
        async for item in self.relay.model.stream(self.ask.model, self.ask.messages):
            if isinstance(item, Chunk):
                self._take(item)
            else:
                self._ended = item

    def _take(self, chunk: Chunk) -> None:
        if self.first_token_s is None:
            self.first_token_s = time.monotonic() - self.started
        if chunk.content:
            self._msg.append(chunk.content)
            self._pending[0].append(chunk.content)
        if chunk.reasoning:
            self._reasoning.append(chunk.reasoning)
            self._pending[1].append(chunk.reasoning)
        if self._emit_timer is None:
            wait = self._last_emit + EMIT_EVERY_S - time.monotonic()
            if wait <= 0:
                self._emit()
            else:
                loop = asyncio.get_running_loop()
                self._emit_timer = loop.call_later(wait, self._emit)

    def _take_guarded(self, chunk: Chunk) -> None:
        ReplyTask._take(self, chunk)
        assert self._guard is not None
        if chunk.content:
            self._guard.grew(0, self._msg, len(chunk.content))
        if chunk.reasoning:
            self._guard.grew(1, self._reasoning, len(chunk.reasoning))

    def _emit(self) -> None:
        """Send what came since the last delta as one ``delta`` event."""
        self._emit_timer = None
        msg, reasoning = self._pending
        if not msg and not reasoning:
            return
        data: dict[str, str] = {}
        if msg:
            data["msg"] = "".join(msg)
        if reasoning:
            data["reasoning"] = "".join(reasoning)
        self._pending = ([], [])
        self._last_emit = time.monotonic()
        self._add("delta", _encode(data))

    def _add(self, name: str, data: bytes, *, last: bool = False) -> None:
        self.events += 1
        made = frame(self.events, name, data)
        self.log.add(made, last=last)
        if self.relay.shared is not None:
            self.relay.shared.publish(self.shared_key, self.events, made, last=last)

    # -- the task's life ------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Stop the model: ``cancelled`` (a stop), ``gone`` (deleted) or a failure reason."""
        if self._stop_as is None:
            self._stop_as = reason
        if self._model is not None:
            self._model.cancel()

    async def run(self) -> None:
        """Generate the reply to its end (module docstring)."""
        status, error = "complete", ""
        try:
            self._model = asyncio.create_task(self._consume())
            if self._stop_as is not None:
                self._model.cancel()
            while True:
                done, _ = await asyncio.wait({self._model}, timeout=FLUSH_EVERY_S)
                if done:
                    break
                outcome = await self._flush()
                if outcome is Flushed.GONE:
                    self.stop(GONE)
                elif outcome is Flushed.STOPPED:
                    self.stop(STOPPED)
            try:
                self._model.result()
            except asyncio.CancelledError:
                stop_as = self._stop_as or SHUT_DOWN
                status = "cancelled" if stop_as == STOPPED else "failed"
                error = "" if stop_as in (STOPPED, BLOCKED) else stop_as
            except ModelError as failure:
                status, error = "failed", str(failure) or type(failure).__name__
            except Exception as failure:  # a bug: the reply fails, the trace goes to the log
                log.exception("reply %s: the model's stream failed", self._name())
                status, error = "failed", f"internal error ({type(failure).__name__})"
            if self._stop_as == GONE:
                if self._guard is not None:
                    self._guard.cancel()
                self.log.end()
                self._done(None)
                return
            if self._guard is not None:
                msg, reasoning = "".join(self._msg), "".join(self._reasoning)
                if await self._guard.finish(msg, reasoning) is not None:
                    status, error = BLOCKED, ""
            if self._emit_timer is not None:
                self._emit_timer.cancel()
            if status == BLOCKED:  # what followers have is replaced by the notice
                self._pending = ([], [])
                self._add("delta", _encode({"msg": self._notice(), "replace": True}))
            else:
                self._emit()
            # Who follows is asked before done goes out: a follower leaves once it has it.
            unheard = self.ask.notify and status == "complete" and not await self.relay.heard(self)
            written = await self._finish(status, error)
            self._done(written)
            if unheard and written == "complete":
                self.relay.answered(self, "".join(self._msg))
        except BaseException:
            if self._guard is not None:
                self._guard.cancel()
            if self._model is not None:
                self._model.cancel()
            self.log.end()
            self._done(None)
            raise

    def _done(self, status: str | None) -> None:
        if not self.finished.done():
            self.finished.set_result(status)
        self.relay.ended(self)

    async def _flush(self) -> Flushed | None:
        now = timestamps.now_ms()
        text = ("".join(self._msg), "".join(self._reasoning))
        try:
            return await self.relay.store.write(
                lambda db: flush(db, self.key, text, now, now + LEASE_MS, self.events)
            )
        except Exception as error:  # the store is away: the next flush tries again
            log.warning("reply %s: flush failed (%s)", self._name(), type(error).__name__)
            return None

    async def _finish(self, status: str, error: str) -> str | None:
        msg, reasoning = "".join(self._msg), "".join(self._reasoning)
        ended = self._ended
        usage = ended.usage if ended is not None else None
        meta: dict[str, Any] = {
            "model": self.ask.model,
            "finish_reason": ended.finish_reason if ended is not None else None,
        }
        if usage is not None:
            prompt, completion = usage.prompt_tokens, usage.completion_tokens
        else:
            prompt = self.ask.prompt_tokens if self.first_token_s is not None else 0
            completion = estimate_tokens(msg) + estimate_tokens(reasoning)
        meta["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "estimated": usage is None,
        }
        if error:
            meta["error"] = error
        if status == BLOCKED:
            assert self._guard is not None and self._guard.blocked is not None
            meta["check"] = self._guard.blocked.note()
            msg, reasoning = self._notice(), ""
        final = Final(
            msg=msg,
            reasoning=reasoning,
            status=status,
            meta=meta,
            usage_day=self.relay.today(),
            model=self.ask.model,
            prompt_tokens=prompt,
            completion_tokens=completion,
        )
        written: str | None = None
        for attempt in range(FINISH_ATTEMPTS):
            try:
                written = await self.relay.store.write(
                    lambda db: finish(db, self.key, final, timestamps.now_ms())
                )
                break
            except Exception as failure:
                log.warning(
                    "reply %s: its last write failed (%s)%s",
                    self._name(),
                    type(failure).__name__,
                    "; trying again" if attempt + 1 < FINISH_ATTEMPTS else "; the sweep fails it",
                )
                await asyncio.sleep(0.2 * 2**attempt)
        if written is None:
            self.log.end()
            return None
        if written != status:  # a stop through the store won
            meta.pop("error", None)
        done: dict[str, Any] = {
            "seq": self.ask.seq,
            "status": written,
            "failed": meta.get("error", ""),
            "meta": meta,
        }
        if written == BLOCKED:
            done["msg"] = msg
        self._add("done", _encode(done), last=True)
        self.relay.count(Finished(self.ask.model, written, prompt, completion, self.first_token_s))
        return written

    def _notice(self) -> str:
        assert self.relay.wechat is not None
        return self.relay.wechat.notice

    def _name(self) -> str:
        return f"{self.ask.session_id}#{self.ask.seq}"


def day_in(zone: ZoneInfo, clock: Callable[[], float] = time.time) -> str:
    """Return today's date (YYYY-MM-DD) in ``zone``."""
    return datetime.fromtimestamp(clock(), zone).strftime("%Y-%m-%d")


def keep_log_for(loop: asyncio.AbstractEventLoop, drop: Callable[[], None]) -> None:
    """Drop a finished reply's local events after :data:`KEEP_AFTER_DONE_S`."""
    with contextlib.suppress(RuntimeError):  # the loop is closing
        loop.call_later(KEEP_AFTER_DONE_S, drop)
