"""The chat use cases: append a message, list sessions, read a session, delete sessions."""

from __future__ import annotations

from typing import Any

import msgspec

from huihua import timestamps
from huihua.errors import NotFound
from huihua.ids import new_id
from huihua.service.idempotency import Idempotency, WriteCall
from huihua.service.users import USER_NOT_FOUND
from huihua.store import Store
from huihua.store import queries as q
from huihua.store.sql import Db
from huihua.wire.checks import AddChatInput
from huihua.wire.cursor import encode_cursor
from huihua.wire.replies import (
    AddChatReply,
    ChatOut,
    DeleteSessionsReply,
    Envelope,
    SessionInfoReply,
    SessionNamesReply,
    SessionOut,
    add_chat_reply_around_seq,
)

TITLE_CHARS = 30
_rfc3339 = timestamps.rfc3339

SESSION_NOT_FOUND = "session_id: no such session for this user"


def auto_title(msg: str) -> str:
    """Return a session title from its first user message: white space collapsed, 30 chars."""
    text = " ".join(msg.split())
    return text if len(text) <= TITLE_CHARS else text[:TITLE_CHARS] + "…"


async def add_chat(store: Store, call: WriteCall, inp: AddChatInput) -> bytes:
    """Append one message, creating its session when needed; return the encoded reply."""
    derived = auto_title(inp.msg) if inp.role == "user" else None
    meta = inp.meta.decode() if inp.meta is not None else None

    def work(db: Db, now: int) -> AddChatReply:
        session_id = inp.session_id
        seq = None
        if session_id is not None:
            seq = q.bump_session(db, inp.user_id, session_id, now, derived)
        if seq is None:
            if not q.user_exists(db, inp.user_id):
                raise NotFound(USER_NOT_FOUND)
            session_id = session_id or new_id()
            q.insert_session(db, inp.user_id, session_id, inp.session_title or derived, now)
            seq = 1
        q.insert_message(db, inp.user_id, session_id, seq, inp.role, inp.msg, meta, now)
        return AddChatReply(
            request_id=call.request_id, session_id=session_id, seq=seq, created_at=_rfc3339(now)
        )

    def alone(db: Db, now: int, rid: str | None, fingerprint: str) -> bytes | None:
        # One statement where the store can (PostgreSQL): one round trip, not six.
        if inp.session_id is None or not q.appends_alone(db):
            return None
        head, tail = add_chat_reply_around_seq(call.request_id, inp.session_id, _rfc3339(now))
        seq = q.append_alone(
            db,
            inp.user_id,
            inp.session_id,
            role=inp.role,
            msg=inp.msg,
            meta=meta,
            title=derived,
            now=now,
            request_id=rid,
            fingerprint=fingerprint,
            reply_around_seq=(head.decode(), tail.decode()),
        )
        return None if seq is None else head + str(seq).encode() + tail

    return await store.write(Idempotency(call, inp.user_id, work, alone=alone))


async def query_session_names(
    store: Store, request_id: str, user_id: str, limit: int, after: tuple[int, str] | None
) -> SessionNamesReply:
    """Return a page of the user's sessions, most recently active first."""

    def read(db: Db) -> Any:
        rows = q.list_sessions(db, user_id, limit + 1, after)
        if not rows and not q.user_exists(db, user_id):
            raise NotFound(USER_NOT_FOUND)
        return rows

    rows = await store.read(read)
    more = len(rows) > limit
    rows = rows[:limit]
    sessions = [
        SessionOut(session_id, title or "", _rfc3339(created), _rfc3339(updated), count)
        for session_id, title, created, updated, count in rows
    ]
    cursor = encode_cursor(rows[-1][3], rows[-1][0]) if more else ""
    return SessionNamesReply(request_id=request_id, sessions=sessions, next_cursor=cursor)


async def query_session_info(
    store: Store,
    request_id: str,
    user_id: str,
    session_id: str,
    limit: int,
    before_seq: int | None,
) -> SessionInfoReply:
    """Return the newest ``limit`` messages of a session below ``before_seq``, oldest first."""

    found = await store.read(
        lambda db: q.session_messages(db, user_id, session_id, limit + 1, before_seq)
    )
    if found is None:
        raise NotFound(SESSION_NOT_FOUND)
    title, rows = found
    more = len(rows) > limit
    raw = msgspec.Raw
    chats = [
        ChatOut(role, msg, seq, _rfc3339(at), None if meta is None else raw(meta.encode()))
        for role, msg, seq, at, meta in reversed(rows[:limit])
    ]
    return SessionInfoReply(
        request_id=request_id,
        user_id=user_id,
        session_id=session_id,
        session_title=title or "",
        chats=chats,
        has_more=more,
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
