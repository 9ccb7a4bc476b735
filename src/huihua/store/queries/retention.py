"""Retention (docs/api.md §7): expired idempotency records and idle sessions, in small batches.

These are the maintenance sweeps that span users. Each function is one batch, meant to be
its own short transaction: a batch deletes at most about ``batch`` rows, so that the
writes of the users being served never wait long for it.

- Idempotency records: the oldest first, by their age index, up to the ``batch``-th
  oldest one's time (records of the same millisecond go together).
- Idle sessions: found a page of users at a time through the session list's index
  ``(user_id, updated_at, …)``; a session's messages are deleted ``batch`` at a time from
  its first, then the session itself, each batch checking first that the session is still
  idle (a message added meanwhile makes it active again, and it is left as it is).
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, select

from huihua.store.queries._common import matches
from huihua.store.queries.sessions import SESSION_KEY
from huihua.store.search.rows import delete_digest
from huihua.store.sql import Db, Statement
from huihua.store.tables import chat_messages, chat_sessions, idempotency_records, users

_i = idempotency_records.c
_s = chat_sessions.c
_m = chat_messages.c
_u = users.c

_IDEMPOTENCY_BOUND = Statement(
    select(_i.created_at)
    .where(_i.created_at < bindparam("before"))
    .order_by(_i.created_at)
    .limit(1)
    .offset(bindparam("skip"))
)
_ANY_EXPIRED = Statement(select(_i.created_at).where(_i.created_at < bindparam("before")).limit(1))
_DELETE_IDEMPOTENCY = Statement(
    delete(idempotency_records).where(
        _i.created_at <= bindparam("upto"), _i.created_at < bindparam("before")
    )
)
_LAST_OF_PAGE = Statement(
    select(_u.user_id)
    .where(_u.user_id > bindparam("after"))
    .order_by(_u.user_id)
    .limit(1)
    .offset(bindparam("skip"))
)
_page = (
    select(_u.user_id)
    .where(_u.user_id > bindparam("after"))
    .order_by(_u.user_id)
    .limit(bindparam("users"))
    .subquery("page")
)
_IDLE_SESSIONS = Statement(
    select(_s.user_id, _s.session_id).join_from(
        _page,
        chat_sessions,
        (_s.user_id == _page.c.user_id) & (_s.updated_at < bindparam("before")),
    )
)
_SESSION_UPDATED = Statement(select(_s.updated_at).where(SESSION_KEY))
_MESSAGE_BOUND = Statement(
    select(_m.seq)
    .where(matches(_m.user_id), matches(_m.session_id))
    .order_by(_m.seq)
    .limit(1)
    .offset(bindparam("skip"))
)
_DELETE_MESSAGES_UPTO = Statement(
    delete(chat_messages).where(
        matches(_m.user_id), matches(_m.session_id), _m.seq <= bindparam("upto")
    )
)
_DELETE_MESSAGES = Statement(
    delete(chat_messages).where(matches(_m.user_id), matches(_m.session_id))
)
_DELETE_SESSION = Statement(delete(chat_sessions).where(SESSION_KEY))


def any_expired_idempotency(db: Db, before: int) -> bool:
    """Return whether any record was made before ``before`` (one index probe)."""
    return db.row(_ANY_EXPIRED, before=before) is not None


def purge_idempotency(db: Db, before: int, batch: int) -> int:
    """Delete about ``batch`` of the oldest records made before ``before`` (ms); return
    how many (fewer than ``batch``: none is left)."""
    upto = db.scalar(_IDEMPOTENCY_BOUND, before=before, skip=batch - 1)
    if upto is None:
        upto = before
    return db.run(_DELETE_IDEMPOTENCY, upto=upto, before=before)


def idle_sessions(
    db: Db, after: str, users: int, before: int
) -> tuple[list[tuple[str, str]], str | None]:
    """Return the sessions idle since before ``before`` of the ``users`` users after
    ``after`` (in the store's order of ids), and the last of those users (None: no more)."""
    last = db.scalar(_LAST_OF_PAGE, after=after, skip=users - 1)
    found = db.tuples(_IDLE_SESSIONS, after=after, users=users, before=before)
    return [(u, s) for u, s in found], last


MORE, DELETED, KEPT = "more", "deleted", "kept"


def purge_session(
    db: Db, user_id: str, session_id: str, before: int, batch: int
) -> tuple[int, str]:
    """Delete up to ``batch`` messages of a session still idle since before ``before``, and
    the session itself once no message is left; return how many messages, and what is
    next: MORE messages to delete, the session DELETED, or KEPT (active again, or gone)."""
    key = {"user_id": user_id, "session_id": session_id}
    updated = db.scalar(_SESSION_UPDATED, **key)
    if updated is None or updated >= before:
        return 0, KEPT
    upto = db.scalar(_MESSAGE_BOUND, **key, skip=batch - 1)
    if upto is not None:
        return db.run(_DELETE_MESSAGES_UPTO, **key, upto=upto), MORE
    deleted = db.run(_DELETE_MESSAGES, **key)
    db.run(_DELETE_SESSION, **key)
    delete_digest(db, user_id)  # it held what the session held
    return deleted, DELETED
