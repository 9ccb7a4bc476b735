"""The use cases: what each endpoint does to the store, one unit of work each.

A write is a function of a :class:`~huihua.store.sql.Db` (a connection in a transaction),
wrapped by :func:`_idempotent` so that its idempotency record (API.md §4) is read and
written in the write's own transaction, and run by the store's transaction runner, which
commits. Nothing here commits or knows HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from huihua import timestamps
from huihua.errors import (
    Conflict,
    Envelope,
    HuihuaError,
    NotFound,
    StorageUnavailable,
    TooLarge,
)
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

if TYPE_CHECKING:
    from huihua.wechat import WeChat

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


AloneWork = Callable[[Db, int, "str | None", str], "bytes | None"]


def _idempotent(
    call: WriteCall,
    user_id: str,
    work: Callable[[Any, int], Envelope],
    alone: AloneWork | None = None,
) -> Callable[[Any], bytes]:
    """Return a unit of work that runs ``work`` at most once per (user, request id).

    The record of a request id is not looked up first: a request id is almost always new,
    so the write runs and stores its record, and only when that insert fails (the id was
    used: a retry, a twin in flight, or another request) does the runner run the unit
    again, which then looks the record up before anything else. One statement (a round
    trip on a server store) less per write. A write that fails looks the record up too: a
    retry is answered what was recorded even when the request would fail now. So ``work``
    must raise a HuihuaError only before its first change (each one here does).

    ``alone(db, now, request_id, fingerprint)``, when given, is tried first: the whole write
    as one statement that also stores the record, and does nothing when a record of the
    request id exists; it returns the reply, or None to take the general way.
    """
    rid = call.client_request_id
    fingerprint = call.fingerprint() if rid is not None else ""
    look_up_first = False

    def recorded(db: Db) -> bytes | None:
        """The recorded reply of this request; Conflict for another request's id."""
        record = q.get_idempotency(db, user_id, rid)
        if record is None:
            return None
        if record.fingerprint == fingerprint:
            return record.response.encode()
        raise Conflict("request_id: already used for a different request")

    def unit(db: Db) -> bytes:
        nonlocal look_up_first
        now = timestamps.now_ms()
        if alone is not None and not look_up_first:
            try:
                done = alone(db, now, rid, fingerprint)
            except Exception:
                look_up_first = True  # most likely a twin's record: look it up next time
                raise
            if done is not None:
                return done
        if rid is None:
            return _encode(work(db, now))
        if look_up_first:
            try:
                found = recorded(db)
            except Conflict:
                work(db, now)  # a not-found answers before a conflict (API.md §1)
                raise
            if found is not None:
                return found
        try:
            reply = work(db, now)
        except HuihuaError:
            if not look_up_first:
                with contextlib.suppress(Conflict):  # the failure answers before a conflict
                    found = recorded(db)
                    if found is not None:
                        return found
            raise
        body = _encode(reply)
        try:
            q.put_idempotency(db, user_id, rid, fingerprint, body.decode(), now)
        except Exception:
            look_up_first = True  # the runner runs the unit again (an integrity error)
            raise
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
            merged = _encode((_decode(row.profile) if row.profile else {}) | inp.extra)
            if len(merged) > inp.profile_max:  # the limit holds for the fields kept in all
                raise TooLarge(f"profile fields: must be at most {inp.profile_max} bytes in all")
            profile = merged.decode()
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

    def alone(db: Db, now: int, rid: str | None, fingerprint: str) -> bytes | None:
        # One statement where the store can (PostgreSQL): one round trip, not six.
        if inp.session_id is None or not q.appends_alone(db):
            return None
        template = AddChatReply(
            request_id=call.request_id, session_id=inp.session_id, created_at=_rfc3339(now)
        )
        head, _, tail = _encode(template).rpartition(b'"seq":0,')
        head, tail = head + b'"seq":', b"," + tail
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

    return await store.write(_idempotent(call, inp.user_id, work, alone))


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

    return await store.write(_idempotent(call, user_id, work))


async def delete_sessions(store: Store, call: WriteCall, user_id: str) -> bytes:
    """Delete every session of a user; return the encoded reply with how many."""

    def work(db: Db, now: int) -> DeleteSessionsReply:
        if not q.user_exists(db, user_id):
            raise NotFound(USER_NOT_FOUND)
        deleted = q.delete_all_sessions(db, user_id)
        return DeleteSessionsReply(request_id=call.request_id, deleted=deleted)

    return await store.write(_idempotent(call, user_id, work))


# -- access: token nonces, deleting a user, login ------------------------------------------


async def token_nonce(store: Store, user_id: str) -> str | None:
    """Return the user's current token nonce, or None (no such user, or none set yet)."""
    row = await store.read(lambda db: q.get_token_nonce(db, user_id))
    return None if row is None else row.token_nonce


async def delete_user(store: Store, call: WriteCall, user_id: str) -> bytes:
    """Delete a user and every session, message, request and login record of theirs, in one
    transaction; return the encoded reply.

    No idempotency record is left behind (nothing may remain under the user's id), so a
    retry answers ok 2; a request_id already used for a different request is still ok 5.
    """
    rid = call.client_request_id
    fingerprint = call.fingerprint() if rid is not None else ""

    def unit(db: Db) -> bytes:
        record = q.get_idempotency(db, user_id, rid) if rid is not None else None
        if not q.delete_user(db, user_id):
            raise NotFound(USER_NOT_FOUND)
        if record is not None and record.fingerprint != fingerprint:
            raise Conflict("request_id: already used for a different request")
        return _encode(Envelope(request_id=call.request_id))

    return await store.write(unit)


LOGIN_REPLAY_MS = 300_000  # a retried /login within 5 minutes gets the same reply
LOGIN_CLAIM_MS = 15_000  # a claim older than this was left by a server that died mid-login
LOGIN_POLL_S = 0.05


class LoginFacts(msgspec.Struct, frozen=True):
    """What a login gave: the user, the token's nonce and times (epoch seconds)."""

    user_id: str
    token_nonce: str
    created: bool
    issued_at: int
    expires_at: int


def login_code_hash(code: str) -> str:
    """Return the hash a login code is kept under (the code itself is never stored)."""
    return hashlib.sha256(b"huihua login code\n" + code.encode()).hexdigest()


async def login(store: Store, wechat: WeChat, code: str, ttl: int, wait_s: float) -> LoginFacts:
    """Exchange a wx.login code for its user (made on first login); return the login facts.

    The same code within five minutes gives the same facts, on any worker or host: the code
    is claimed in the database (by its hash) before WeChat is called, so a twin in flight
    waits up to ``wait_s`` for the first to finish rather than spending the code again. A
    failed exchange forgets the claim: nothing is stored.
    """
    code_hash = login_code_hash(code)

    def claim(db: Db) -> LoginFacts | bool:
        now = timestamps.now_ms()
        q.purge_login_codes(db, now - LOGIN_REPLAY_MS)
        row = q.get_login_code(db, code_hash)
        if row is not None and row.user_id is not None:
            return LoginFacts(
                user_id=row.user_id,
                token_nonce=row.token_nonce,
                created=bool(row.created),
                issued_at=row.issued_at,
                expires_at=row.expires_at,
            )
        if row is not None and row.claimed_at > now - LOGIN_CLAIM_MS:
            return False  # a twin is talking to WeChat
        if row is not None:
            q.delete_login_code(db, code_hash)
        q.claim_login_code(db, code_hash, now)
        return True

    deadline = time.monotonic() + wait_s
    while True:
        claimed = await store.write(claim)
        if isinstance(claimed, LoginFacts):
            return claimed
        if claimed:
            break
        if time.monotonic() > deadline:
            raise StorageUnavailable("code: a login with this code is still under way; retry")
        await asyncio.sleep(LOGIN_POLL_S)

    def finish(db: Db, openid: str) -> LoginFacts:
        now = timestamps.now_ms()
        row = q.get_token_nonce(db, openid)
        created = row is None
        if row is None:
            nonce = q.insert_user(
                db, openid, user_name="", phone="", email="", profile=None, now=now
            )
        elif row.token_nonce is None:  # a user from before tokens existed
            nonce = q.new_token_nonce()
            q.set_token_nonce(db, openid, nonce)
        else:
            nonce = row.token_nonce
        issued_at = now // 1000
        facts = LoginFacts(
            user_id=openid,
            token_nonce=nonce,
            created=created,
            issued_at=issued_at,
            expires_at=issued_at + ttl,
        )
        q.finish_login_code(
            db,
            code_hash,
            user_id=openid,
            token_nonce=nonce,
            created=created,
            issued_at=issued_at,
            expires_at=facts.expires_at,
        )
        return facts

    try:
        openid = await wechat.openid(code)
        return await store.write(lambda db: finish(db, openid))
    except BaseException:
        with contextlib.suppress(Exception):
            await store.write(lambda db: q.delete_login_code(db, code_hash))
        raise
