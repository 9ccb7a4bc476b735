"""A follower's frames: a reply's events after the one it has, then the live ones, to ``done``
(docs/api.md §8.3), from wherever they are kept:

1. this host's :class:`~huihua.relay.events.LocalLog` (it generates the reply, or did a few
   minutes ago);
2. the reply's Redis stream (another host generates it);
3. the store, read once a second (no host keeps its events: a reply finished long ago, a
   host without Redis, a placeholder a back end finishes with /update_chat): ``start``,
   one ``delta`` with ``replace: true`` carrying the whole text so far, a ``delta`` of what
   each read adds, then ``done``.

A comment frame (``: ping``) goes out after :data:`PING_EVERY_S` of silence.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from huihua import timestamps
from huihua.relay.events import PING, frame, reply_key
from huihua.relay.hub import Relay
from huihua.store import Store
from huihua.store import queries as q

_encode = msgspec.json.Encoder().encode
PING_EVERY_S = 15.0
POLL_EVERY_S = 1.0
_DONE = b"\nevent: done\n"


def _is_done(data: bytes) -> bool:
    return _DONE in data


async def follow(
    relay: Relay | None,
    store: Store,
    key: tuple[str, str, int],
    after: int,
    *,
    request_id: str,
    streaming_timeout_ms: int,
    start: bytes | None = None,
) -> AsyncIterator[bytes]:
    """Yield the frames of the reply at ``key`` after event ``after`` (module docstring);
    ``start``: the start frame, where the store must stand in for the events (a retried
    ask knows its own). Counted as a follower of the reply while it runs (hub.py)."""
    if relay is not None:
        relay.listen(key)
    try:
        if relay is not None:
            local = relay.logs.get(key)
            if local is not None:
                async for data in _from_log(local, after):
                    yield data
                if local.frames and _is_done(local.frames[-1]):
                    return
                after = max(after, len(local.frames))
            if relay.shared is not None:
                last = after
                async for event_id, data in _from_shared(relay, store, key, after):
                    last = event_id
                    yield data
                    if _is_done(data):
                        return
                after = last
        async for data in _from_store(store, key, after, request_id, streaming_timeout_ms, start):
            yield data
    finally:
        if relay is not None:
            relay.unlisten(key)


async def _from_log(local: Any, after: int) -> AsyncIterator[bytes]:
    sent = min(after, len(local.frames))
    while True:
        frames = local.frames
        if sent < len(frames):  # every frame there, in one write
            have = len(frames)
            yield frames[sent] if have == sent + 1 else b"".join(frames[sent:have])
            sent = have
        if local.done:
            return
        if not await local.wait(sent, PING_EVERY_S):
            yield PING


async def _from_shared(
    relay: Relay, store: Store, key: tuple[str, str, int], after: int
) -> AsyncIterator[tuple[int, bytes]]:
    """Yield (id, frame) from the reply's Redis stream; stop (yielding nothing more) when
    the stream does not hold what comes after ``after``, or the reply ended without one."""
    assert relay.shared is not None
    shared_key = reply_key(*key)
    try:
        events = await relay.shared.read(shared_key, after)
    except Exception:  # Redis away: the store
        return
    if events is None:
        return
    while True:
        for event_id, data in events:
            after = event_id
            yield event_id, data
            if _is_done(data):
                return
        try:
            events = await relay.shared.wait(shared_key, after, PING_EVERY_S)
        except Exception:
            return
        if not events:
            state = await store.read(lambda db: q.reply_state(db, *key))
            if state is None or state.status != "streaming":
                return  # finished with no done in the stream (its host died): the store
            yield after, PING


async def _from_store(
    store: Store,
    key: tuple[str, str, int],
    after: int,
    request_id: str,
    streaming_timeout_ms: int,
    start_frame: bytes | None,
) -> AsyncIterator[bytes]:
    user_id, session_id, seq = key

    def read(db: Any) -> tuple[Any, Any]:
        return q.reply_state(db, user_id, session_id, seq), q.reply_lease(
            db, user_id, session_id, seq
        )

    state, lease = await store.read(read)
    if state is None:
        return
    event_id = after
    if after == 0 and start_frame is not None:
        event_id = 1
        yield start_frame
    elif after == 0:
        start = {
            "request_id": (lease.request_id if lease is not None else None) or request_id,
            "ok": 0,
            "failed": "",
            "session_id": session_id,
            "seqs": [seq],
            "created_at": timestamps.rfc3339(state.created_at),
        }
        event_id = 1
        yield frame(event_id, "start", _encode(start))
    msg, reasoning = state.msg, state.reasoning or ""
    event_id = max(event_id + 1, lease.events if lease is not None else 0)
    text: dict[str, Any] = {"msg": msg, "replace": True}
    if reasoning:
        text["reasoning"] = reasoning
    yield frame(event_id, "delta", _encode(text))
    silent = 0.0
    while True:
        status = state.status or "complete"
        changed = state.updated_at or state.created_at
        if status == "streaming" and timestamps.now_ms() - changed > streaming_timeout_ms:
            status = "failed"
        if status != "streaming":
            meta = msgspec.json.decode(state.meta) if state.meta else {}
            done = {"seq": seq, "status": status, "failed": meta.get("error", ""), "meta": meta}
            if status == "blocked":
                done["msg"] = state.msg
            yield frame(event_id + 1, "done", _encode(done))
            return
        await asyncio.sleep(POLL_EVERY_S)
        silent += POLL_EVERY_S
        new = await store.read(lambda db: q.reply_state(db, user_id, session_id, seq))
        if new is None:
            return  # deleted: the stream ends
        grew = _growth(msg, reasoning, new.msg, new.reasoning or "")
        if grew is not None:
            event_id += 1
            yield frame(event_id, "delta", _encode(grew))
            silent = 0.0
        elif silent >= PING_EVERY_S:
            yield PING
            silent = 0.0
        state, msg, reasoning = new, new.msg, new.reasoning or ""


def _growth(msg: str, reasoning: str, new_msg: str, new_reasoning: str) -> dict[str, Any] | None:
    """Return the delta from one read of a reply to the next (``replace`` when the text
    changed other than by growing), or None when it did not change."""
    if new_msg == msg and new_reasoning == reasoning:
        return None
    if new_msg.startswith(msg) and new_reasoning.startswith(reasoning):
        delta: dict[str, Any] = {}
        if len(new_msg) > len(msg):
            delta["msg"] = new_msg[len(msg) :]
        if len(new_reasoning) > len(reasoning):
            delta["reasoning"] = new_reasoning[len(reasoning) :]
        return delta
    replaced: dict[str, Any] = {"msg": new_msg, "replace": True}
    if new_reasoning:
        replaced["reasoning"] = new_reasoning
    return replaced
