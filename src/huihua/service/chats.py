"""The chat use cases: append a message or a turn, list sessions, delete sessions.

A session's title (docs/api.md §3) is the one given when the call creates it, else the first
``user`` message that is not blank gives it (:func:`auto_title`); once set it stays.
"""

from __future__ import annotations

from typing import Any

from huihua import timestamps
from huihua.errors import NotFound
from huihua.ids import new_id
from huihua.service.idempotency import Idempotency, WriteCall
from huihua.service.users import USER_NOT_FOUND
from huihua.store import Store
from huihua.store import queries as q
from huihua.store.sql import Db
from huihua.wire.checks import AddChatInput
from huihua.wire.cursor import Position, encode_cursor
from huihua.wire.messages import MessageIn
from huihua.wire.replies import (
    AddChatReply,
    AddChatsReply,
    DeleteSessionsReply,
    Envelope,
    SessionNamesReply,
    SessionOut,
    add_chat_reply_around_seq,
    add_chats_reply_around_seqs,
)

TITLE_CHARS = 30
_rfc3339 = timestamps.rfc3339

SESSION_NOT_FOUND = "session_id: no such session for this user"


def auto_title(msg: str) -> str | None:
    """Return a session title from a user message: white space collapsed, its first 30
    characters and "…" when longer; None when the message is blank (it titles nothing)."""
    text = " ".join(msg.split())
    if not text:
        return None
    return text if len(text) <= TITLE_CHARS else text[:TITLE_CHARS] + "…"


def title_of(chats: list[MessageIn]) -> str | None:
    """Return the title the first ``user`` message that is not blank gives, or None."""
    for chat in chats:
        if chat.role == "user":
            title = auto_title(chat.msg)
            if title is not None:
                return title
    return None


def _stored(m: MessageIn) -> dict[str, Any]:
    """Return a message's fields as the store takes them (its JSON as text)."""
    return {
        "role": m.role,
        "msg": m.msg,
        "meta": m.meta.decode() if m.meta is not None else None,
        "parts": m.parts.decode() if m.parts is not None else None,
        "reasoning": m.reasoning,
        "tool_calls": m.tool_calls.decode() if m.tool_calls is not None else None,
        "tool_call_id": m.tool_call_id,
        "name": m.name,
        "status": m.status,
    }


def _append(db: Db, inp: AddChatInput, now: int, derived: str | None) -> tuple[str, int]:
    """Append the input's messages, creating their session when needed; return the session
    id and the seq of the first message."""
    n = len(inp.chats)
    if inp.session_id is not None and (
        (last := q.bump_session(db, inp.user_id, inp.session_id, now, derived, n)) is not None
    ):
        session_id = inp.session_id
    else:
        if not q.user_exists(db, inp.user_id):
            raise NotFound(USER_NOT_FOUND)
        session_id = inp.session_id or new_id()
        q.insert_session(db, inp.user_id, session_id, inp.session_title or derived, now, n)
        last = n
    first = last - n + 1
    if n == 1 and inp.chats[0].plain:  # the seed's message: the statement it always had
        m = inp.chats[0]
        meta = m.meta.decode() if m.meta is not None else None
        q.insert_message(db, inp.user_id, session_id, first, now, m.role, m.msg, meta)
    else:
        q.insert_messages(db, inp.user_id, session_id, first, now, [_stored(m) for m in inp.chats])
    return session_id, first


async def add_chat(store: Store, call: WriteCall, inp: AddChatInput) -> bytes:
    """Append one message, creating its session when needed; return the encoded reply."""
    (message,) = inp.chats
    derived = title_of(inp.chats)

    def work(db: Db, now: int) -> AddChatReply:
        session_id, seq = _append(db, inp, now, derived)
        return AddChatReply(
            request_id=call.request_id, session_id=session_id, seq=seq, created_at=_rfc3339(now)
        )

    def alone(db: Db, now: int, rid: str | None, fingerprint: str) -> bytes | None:
        # One statement where the store can (PostgreSQL): one round trip, not six.
        if inp.session_id is None or not message.plain or not q.appends_alone(db):
            return None
        head, tail = add_chat_reply_around_seq(call.request_id, inp.session_id, _rfc3339(now))
        seq = q.append_alone(
            db,
            inp.user_id,
            inp.session_id,
            role=message.role,
            msg=message.msg,
            meta=message.meta.decode() if message.meta is not None else None,
            title=derived,
            now=now,
            request_id=rid,
            fingerprint=fingerprint,
            reply_around_seq=(head.decode(), tail.decode()),
        )
        return None if seq is None else head + str(seq).encode() + tail

    return await store.write(Idempotency(call, inp.user_id, work, alone=alone))


async def add_chats(store: Store, call: WriteCall, inp: AddChatInput) -> bytes:
    """Append 1-100 messages in order, all or none; return the encoded reply."""
    derived = title_of(inp.chats)

    def work(db: Db, now: int) -> AddChatsReply:
        session_id, first = _append(db, inp, now, derived)
        return AddChatsReply(
            request_id=call.request_id,
            session_id=session_id,
            seqs=list(range(first, first + len(inp.chats))),
            created_at=_rfc3339(now),
        )

    def alone(db: Db, now: int, rid: str | None, fingerprint: str) -> bytes | None:
        # One statement where the store can (PostgreSQL): one round trip, not five.
        if inp.session_id is None or not q.appends_alone(db):
            return None
        head, tail = add_chats_reply_around_seqs(call.request_id, inp.session_id, _rfc3339(now))
        first = q.append_turn_alone(
            db,
            inp.user_id,
            inp.session_id,
            [_stored(m) for m in inp.chats],
            title=derived,
            now=now,
            request_id=rid,
            fingerprint=fingerprint,
            reply_around_seqs=(head.decode(), tail.decode()),
        )
        if first is None:
            return None
        seqs = ",".join(str(seq) for seq in range(first, first + len(inp.chats)))
        return head + seqs.encode() + tail

    return await store.write(Idempotency(call, inp.user_id, work, alone=alone))


async def query_session_names(
    store: Store, request_id: str, user_id: str, limit: int, after: Position | None
) -> SessionNamesReply:
    """Return a page of the user's sessions: the pinned ones first (most recently pinned
    first), then the others, most recently active first."""

    def read(db: Db) -> Any:
        rows = q.list_sessions(db, user_id, limit + 1, after)
        if not rows and not q.user_exists(db, user_id):
            raise NotFound(USER_NOT_FOUND)
        return rows

    rows = await store.read(read)
    more = len(rows) > limit
    rows = rows[:limit]
    sessions = [session_out(row) for row in rows]
    cursor = ""
    if more:
        pinned, at, session_id = q.list_position(rows[-1])
        cursor = encode_cursor(at, session_id, pinned=pinned)
    return SessionNamesReply(request_id=request_id, sessions=sessions, next_cursor=cursor)


def session_out(row: Any) -> SessionOut:
    """Return a row of ``q.list_sessions`` as query_session_names lists it."""
    session_id, title, created, updated, count, pinned_at = row
    return SessionOut(
        session_id, title or "", _rfc3339(created), _rfc3339(updated), count, pinned_at is not None
    )


async def delete_specific_session(
    store: Store, call: WriteCall, user_id: str, session_id: str
) -> bytes:
    """Delete one session and its messages; return the encoded reply."""

    def work(db: Db, now: int) -> Envelope:
        if not q.delete_session(db, user_id, session_id):
            raise NotFound(SESSION_NOT_FOUND)
        return Envelope(request_id=call.request_id)

    return await store.write(Idempotency(call, user_id, work))


async def delete_sessions(store: Store, call: WriteCall, user_id: str) -> bytes:
    """Delete every session of a user; return the encoded reply with how many."""

    def work(db: Db, now: int) -> DeleteSessionsReply:
        if not q.user_exists(db, user_id):
            raise NotFound(USER_NOT_FOUND)
        deleted = q.delete_all_sessions(db, user_id)
        return DeleteSessionsReply(request_id=call.request_id, deleted=deleted)

    return await store.write(Idempotency(call, user_id, work))
