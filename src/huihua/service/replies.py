"""Replies huihua asks a model for (docs/api.md §8): ask, follow, stop.

``ask_ai`` writes, in one transaction with its idempotency record, the question (not for
``regenerate``, which deletes the session's last reply instead), the reply's placeholder
(``ai``, ``streaming``, ``meta.model``) and its lease, and reads the context the model is
sent; then the relay (relay/) generates the reply in a task of its own. A retry of the same
``request_id`` gets the recorded ``start`` and follows the reply it began: the model is
never asked twice. What fails before the placeholder is an ordinary error (the envelope);
with WeChat's content check on, the question is judged first (screening.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec

from huihua import timestamps
from huihua.errors import (
    HuihuaError,
    NotApplicable,
    NotFound,
    RateLimited,
    StorageUnavailable,
)
from huihua.relay.context import build_context
from huihua.relay.events import frame
from huihua.relay.follow import follow
from huihua.relay.hub import Relay
from huihua.relay.task import LEASE_MS, Ask
from huihua.relay.writes import STREAMING
from huihua.service.chats import SESSION_NOT_FOUND, _append, title_of
from huihua.service.idempotency import Idempotency, WriteCall
from huihua.service.screening import openid, screen
from huihua.service.users import USER_NOT_FOUND
from huihua.store import Store
from huihua.store import queries as q
from huihua.store.sql import Db
from huihua.wire.checks import AddChatInput, AskInput
from huihua.wire.messages import MessageIn
from huihua.wire.replies import AskAiReply, StopReplyReply

_encode = msgspec.json.Encoder().encode
CONTEXT_ROWS = 200  # the newest messages read for the context, before its token budget
STOP_WAIT_S = 3.0  # how long a stop waits for another host (Redis) to end the reply

MESSAGE_NOT_FOUND = "seq: no such message in this session"
LIVE_IN_SESSION = (
    "session_id: a reply is being generated in this session (seq {seq}); follow it "
    "(/follow_reply) or stop it (/stop_reply) first"
)
NOT_REGENERABLE = (
    "regenerate: the session's last message must be a finished ai reply (it is {what})"
)
NOT_A_REPLY = 'seq: only an "ai" reply can be {done}; this message is "{role}"'
FINISHED = 'seq: this reply is already finished ("{status}")'


@dataclass(frozen=True)
class Replies:
    """What the reply use cases work with besides the store."""

    relay: Relay
    system_prompt: str
    context_tokens: int
    daily_tokens: int
    user_limit: int
    streaming_timeout_ms: int


@dataclass(frozen=True)
class Asked:
    """An ask's outcome: the ``start`` data, and the reply's events from the first."""

    start: bytes
    frames: AsyncIterator[bytes]


def _seconds_to_midnight(replies: Replies) -> int:
    now = datetime.now(replies.relay.zone)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - now).total_seconds()) + 1)


def _placeholder(model: str) -> MessageIn:
    return MessageIn(
        role="ai", msg="", meta=_encode({"model": model}), status=STREAMING, plain=False
    )


async def ask_ai(store: Store, replies: Replies, call: WriteCall, inp: AskInput) -> Asked:
    """Write the question and the reply's placeholder, start the reply; return the start
    and the stream of its events (a retry: the recorded start, the same reply's events)."""
    relay = replies.relay
    if relay.draining:
        raise StorageUnavailable("server: stopping; ask again (another server will answer)")
    if relay.full():
        raise RateLimited("replies: this server generates as many replies as it may", 5)
    user_id = inp.user_id
    question = inp.question
    user_openid = None
    refusal: HuihuaError | None = None
    wechat = relay.wechat
    if wechat is not None and (
        wechat.check is not None or (wechat.notifier is not None and inp.notify)
    ):
        user_openid = await openid(store, user_id)
        if wechat.check is not None and question is not None:
            question, refusal = await screen(wechat, question, user_openid)
    chats = [*([question] if question is not None else []), _placeholder(inp.model)]
    derived = title_of(chats)
    today = relay.today()
    made: dict[str, Any] = {}

    def work(db: Db, now: int) -> AskAiReply:
        made.clear()
        session_id = inp.session_id
        last = None
        if session_id is not None and q.lock_session(db, user_id, session_id):
            live = q.live_reply_in_session(db, user_id, session_id, now)
            if live is not None:
                raise NotApplicable(LIVE_IN_SESSION.format(seq=live))
            if question is None:
                last = q.last_message(db, user_id, session_id)
                if last is None or last.role != "ai" or last.status == STREAMING:
                    what = "none" if last is None else f'"{last.role}", {last.status or "complete"}'
                    raise NotApplicable(NOT_REGENERABLE.format(what=what))
        elif question is None:
            raise NotFound(SESSION_NOT_FOUND)
        if q.live_replies(db, user_id, now) >= replies.user_limit:
            raise RateLimited(
                f"replies: at most {replies.user_limit} are generated at once for a user", 5
            )
        if replies.daily_tokens:
            used = q.tokens_of_day(db, user_id, today)
            if used >= replies.daily_tokens:
                raise RateLimited(
                    f"quota: {used} of {replies.daily_tokens} tokens used today; the quota "
                    "renews at midnight",
                    _seconds_to_midnight(replies),
                )
        if refusal is not None:  # the content check's verdict, the last rule (docs/api.md §1)
            if not q.user_exists(db, user_id):
                raise NotFound(USER_NOT_FOUND)
            raise refusal
        if last is not None:  # regenerate: the last reply goes, its question is asked again
            assert session_id is not None
            q.delete_messages(db, user_id, session_id, last.seq, later=False)
            q.uncount_messages(db, user_id, session_id, 1)
        appending = AddChatInput(user_id, session_id, inp.session_title, chats)
        session_id, first = _append(db, appending, now, derived)
        seqs = list(range(first, first + len(chats)))
        reply_seq = seqs[-1]
        q.insert_reply(
            db,
            user_id,
            session_id,
            reply_seq,
            request_id=call.client_request_id,
            host=relay.host_id,
            lease_until=now + LEASE_MS,
            notify=inp.notify,
            now=now,
        )
        made["history"] = q.context_messages(db, user_id, session_id, seqs[0], CONTEXT_ROWS)
        made["system"] = q.system_messages(db, user_id, session_id)
        made["key"] = (session_id, seqs[0], reply_seq)
        return AskAiReply(
            request_id=call.request_id,
            session_id=session_id,
            seqs=seqs,
            created_at=timestamps.rfc3339(now),
        )

    idempotency = Idempotency(call, user_id, work)
    body = await store.write(idempotency)
    start = frame(1, "start", body)
    if idempotency.replayed:  # a retry: the reply its first ask began
        recorded = msgspec.json.decode(body, type=AskAiReply)
        key = (user_id, recorded.session_id, recorded.seqs[-1])
        frames = follow(
            relay,
            store,
            key,
            0,
            request_id=call.request_id,
            streaming_timeout_ms=replies.streaming_timeout_ms,
            start=start,
        )
        return Asked(body, frames)
    session_id, first_seq, reply_seq = made["key"]
    question_row = None
    if question is not None:
        parts = question.parts.decode() if question.parts is not None else None
        question_row = (first_seq, "user", question.msg, parts, None, None, None, None)
    messages, prompt_tokens = build_context(
        system_prompt=replies.system_prompt,
        system_messages=made["system"],
        history=made["history"],
        question=question_row,
        budget=replies.context_tokens,
    )
    task = relay.start(
        Ask(
            user_id,
            session_id,
            reply_seq,
            inp.model,
            messages,
            prompt_tokens,
            start,
            openid=user_openid,
            notify=inp.notify,
        )
    )
    return Asked(
        body,
        follow(
            relay,
            store,
            task.key,
            0,
            request_id=call.request_id,
            streaming_timeout_ms=replies.streaming_timeout_ms,
        ),
    )


async def check_reply(store: Store, key: tuple[str, str, int], done: str) -> Any:
    """Return the state of the ``ai`` message at ``key``; ok 2 when there is none, ok 11 when
    it is not an ``ai`` message (``done``: what cannot be done to it)."""
    state = await store.read(lambda db: q.reply_state(db, *key))
    if state is None:
        raise NotFound(MESSAGE_NOT_FOUND)
    if state.role != "ai":
        raise NotApplicable(NOT_A_REPLY.format(done=done, role=state.role))
    return state


async def follow_reply(
    store: Store, replies: Replies, request_id: str, key: tuple[str, str, int], after: int
) -> AsyncIterator[bytes]:
    """Return the reply's events after ``after`` (docs/api.md §8.3); ok 2 or 11 first."""
    await check_reply(store, key, "followed")
    return follow(
        replies.relay,
        store,
        key,
        after,
        request_id=request_id,
        streaming_timeout_ms=replies.streaming_timeout_ms,
    )


async def stop_reply(
    store: Store, replies: Replies, call: WriteCall, key: tuple[str, str, int]
) -> bytes:
    """Stop a reply: its model stops, it keeps its text, ``cancelled``; return the encoded
    reply. Its generating task ends it (this host, or another through Redis); else the
    store says ``cancelled`` and the generating host stops at its next flush."""
    relay = replies.relay
    await check_reply(store, key, "stopped")
    stopped = await relay.stop_here(key) is not None
    if not stopped and relay.shared is not None:
        await relay.announce_stop(key)
        stopped = await _ended_in_store(store, key, STOP_WAIT_S)
    user_id, session_id, seq = key

    def work(db: Db, now: int) -> StopReplyReply:
        if not q.lock_session(db, user_id, session_id):
            raise NotFound(SESSION_NOT_FOUND)
        row = q.message_for_update(db, user_id, session_id, seq)
        if row is None:
            raise NotFound(MESSAGE_NOT_FOUND)
        status = row.status or "complete"
        if status == STREAMING:
            q.update_message(db, user_id, session_id, seq, now, {"status": "cancelled"})
            status = "cancelled"
        elif not (stopped and status == "cancelled"):
            raise NotApplicable(FINISHED.format(status=status))
        return StopReplyReply(request_id=call.request_id, seq=seq, status=status)

    return await store.write(Idempotency(call, user_id, work))


async def _ended_in_store(store: Store, key: tuple[str, str, int], within_s: float) -> bool:
    """Wait (up to ``within_s``) for the reply to be finished in the store; return whether
    it was."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        state = await store.read(lambda db: q.reply_state(db, *key))
        if state is None or state.status != STREAMING:
            return True
        await asyncio.sleep(0.05)
    return False
