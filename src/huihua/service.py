"""The use cases: what each endpoint does to the store, one unit of work each.

A write is a function of a :class:`~huihua.store.sql.Db` (a connection in a transaction),
wrapped by :func:`_idempotent` so that its idempotency record (API.md §4) is read and
written in the write's own transaction, and run by the store's transaction runner, which
commits. Nothing here commits or knows HTTP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import msgspec

from huihua import timestamps
from huihua.errors import Conflict, Envelope, NotFound
from huihua.ids import new_id
from huihua.schemas import (
    AddChatReply,
    AddUserReply,
    ChatOut,
    DeleteSessionsReply,
    SessionInfoReply,
    SessionNamesReply,
    SessionOut,
)
from huihua.store import Store
from huihua.store import queries as q
from huihua.store.sql import Db
from huihua.validation import AddChatInput, AddUserInput, encode_cursor

TITLE_CHARS = 30
_encode = msgspec.json.Encoder().encode
_encode_sorted = msgspec.json.Encoder(order="sorted").encode
_decode = msgspec.json.Decoder().decode
_rfc3339 = timestamps.rfc3339

USER_NOT_FOUND = "user_id: no such user; call add_user first"
SESSION_NOT_FOUND = "session_id: no such session for this user"


class WriteCall(msgspec.Struct):
    """Who asked for a write: the id echoed, and the client's own id for idempotency."""

    path: str
    request_id: str
    client_request_id: str | None
    request: Any

    def fingerprint(self) -> str:
        """Return a hash of the request as made (its id left out), keys in sorted order."""
        body = self.request
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k != "request_id"}
        else:
            body = msgspec.structs.replace(body, request_id=None)
        digest = hashlib.sha256(self.path.encode() + b"\n" + _encode_sorted(body))
        return digest.hexdigest()


def _idempotent(
    call: WriteCall, user_id: str, work: Callable[[Any, int], Envelope]
) -> Callable[[Any], bytes]:
    """Return a unit of work that runs ``work`` at most once per (user, request id)."""
    rid = call.client_request_id
    fingerprint = call.fingerprint() if rid is not None else ""

    def unit(db: Db) -> bytes:
        now = timestamps.now_ms()
        reused = False
        if rid is not None:
            record = q.get_idempotency(db, user_id, rid)
            if record is not None:
                if record.fingerprint == fingerprint:
                    return record.response.encode()
                reused = True
        reply = work(db, now)  # a not-found answers before a conflict (API.md §1)
        if reused:
            raise Conflict("request_id: already used for a different request")
        body = _encode(reply)
        if rid is not None:
            q.put_idempotency(db, user_id, rid, fingerprint, body.decode(), now)
        return body

    return unit


# -- users --------------------------------------------------------------------------------


async def add_user(store: Store, call: WriteCall, inp: AddUserInput) -> bytes:
    """Create or update a user; return the encoded reply."""

    def work(db: Db, now: int) -> AddUserReply:
        row = q.get_user(db, inp.user_id)
        if row is None:
            q.insert_user(
                db,
                inp.user_id,
                user_name=inp.user_name or "",
                phone=inp.phone or "",
                email=inp.email or "",
                profile=_encode(inp.extra).decode() if inp.extra else None,
                now=now,
            )
            return AddUserReply(request_id=call.request_id, user_id=inp.user_id, created=True)
        profile = None
        if inp.extra:
            profile = _encode((_decode(row.profile) if row.profile else {}) | inp.extra).decode()
        q.update_user(
            db,
            inp.user_id,
            user_name=inp.user_name,
            phone=inp.phone,
            email=inp.email,
            profile=profile,
            now=now,
        )
        return AddUserReply(request_id=call.request_id, user_id=inp.user_id, created=False)

    return await store.write(_idempotent(call, inp.user_id, work))


async def query_user_info(store: Store, request_id: str, user_id: str) -> bytes:
    """Return the encoded profile of a user."""
    row = await store.read(lambda db: q.get_user(db, user_id))
    if row is None:
        raise NotFound(USER_NOT_FOUND)
    reply: dict[str, Any] = {
        "request_id": request_id,
        "ok": 0,
        "failed": "",
        "user_id": row.user_id,
        "user_name": row.user_name,
        "phone": row.phone,
        "email": row.email,
    }
    if row.profile:
        reply.update(_decode(row.profile))
    reply["created_at"] = _rfc3339(row.created_at)
    reply["updated_at"] = _rfc3339(row.updated_at)
    return _encode(reply)


# -- chats --------------------------------------------------------------------------------


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

    return await store.write(_idempotent(call, inp.user_id, work))


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

    def read(db: Db) -> Any:
        session = q.get_session(db, user_id, session_id)
        if session is None:
            raise NotFound(SESSION_NOT_FOUND)
        return session, q.list_messages(db, user_id, session_id, limit + 1, before_seq)

    session, rows = await store.read(read)
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
        session_title=session.session_title or "",
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

    return await store.write(_idempotent(call, user_id, work))


async def delete_sessions(store: Store, call: WriteCall, user_id: str) -> bytes:
    """Delete every session of a user; return the encoded reply with how many."""

    def work(db: Db, now: int) -> DeleteSessionsReply:
        if not q.user_exists(db, user_id):
            raise NotFound(USER_NOT_FOUND)
        deleted = q.delete_all_sessions(db, user_id)
        return DeleteSessionsReply(request_id=call.request_id, deleted=deleted)

    return await store.write(_idempotent(call, user_id, work))
