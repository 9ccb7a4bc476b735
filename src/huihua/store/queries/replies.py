"""Replies huihua generates (docs/api.md §8): their leases, the context a question is sent
with, the usage a reply adds to its user's day.

A reply's row in ``ai_replies`` lives while its task generates it: the ask writes it with
the placeholder, every flush moves its lease, the reply's last write deletes it. The sweep
of dead hosts' replies (``expired_replies``) is a maintenance scan across users, by the
index on ``lease_until``, a few rows at a time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select, update

from huihua.store.queries._common import insert_row, matches
from huihua.store.sql import Db, Statement
from huihua.store.tables import ai_replies, ai_usage, chat_messages

_r = ai_replies.c
_u = ai_usage.c
_m = chat_messages.c
_REPLY_KEY = and_(matches(_r.user_id), matches(_r.session_id), matches(_r.seq))

_INSERT_REPLY = insert_row(ai_replies)
_LIVE_OF_USER = Statement(
    select(func.count().label("n"))
    .select_from(ai_replies)
    .where(matches(_r.user_id), _r.lease_until > bindparam("now"))
)
_LIVE_IN_SESSION = Statement(
    select(_r.seq)
    .where(matches(_r.user_id), matches(_r.session_id), _r.lease_until > bindparam("now"))
    .limit(1)
)
_LEASE = Statement(select(_r.lease_until, _r.events, _r.request_id, _r.host).where(_REPLY_KEY))
_MOVE_LEASE = Statement(
    update(ai_replies)
    .where(_REPLY_KEY)
    .values(lease_until=bindparam("lease_until"), events=bindparam("events"))
)
_DELETE_REPLY = Statement(delete(ai_replies).where(_REPLY_KEY))
_DELETE_USER_REPLIES = Statement(delete(ai_replies).where(matches(_r.user_id)))
_DELETE_SESSION_REPLIES = Statement(
    delete(ai_replies).where(matches(_r.user_id), matches(_r.session_id))
)
_DELETE_REPLIES_FROM = Statement(
    delete(ai_replies).where(
        matches(_r.user_id), matches(_r.session_id), _r.seq >= bindparam("seq")
    )
)
_EXPIRED = Statement(
    select(_r.user_id, _r.session_id, _r.seq)
    .where(_r.lease_until < bindparam("now"))
    .order_by(_r.lease_until)
    .limit(bindparam("limit"))
)

_MESSAGE_KEY = and_(matches(_m.user_id), matches(_m.session_id), matches(_m.seq))
_REPLY_STATE = Statement(
    select(_m.role, _m.msg, _m.reasoning, _m.status, _m.meta, _m.updated_at, _m.created_at).where(
        _MESSAGE_KEY
    )
)
_LAST_MESSAGE = Statement(
    select(_m.seq, _m.role, _m.status)
    .where(matches(_m.user_id), matches(_m.session_id))
    .order_by(_m.seq.desc())
    .limit(1)
)
CONTEXT_FIELDS = ("seq", "role", "msg", "parts", "tool_calls", "tool_call_id", "name", "status")
_CONTEXT = Statement(
    select(*(_m[name] for name in CONTEXT_FIELDS))
    .where(matches(_m.user_id), matches(_m.session_id), _m.seq < bindparam("before"))
    .order_by(_m.seq.desc())
    .limit(bindparam("limit"))
)
_SYSTEM = Statement(
    select(_m.msg)
    .where(matches(_m.user_id), matches(_m.session_id), _m.role == "system")
    .order_by(_m.seq)
)

_TOKENS_OF_DAY = Statement(
    select(func.coalesce(func.sum(_u.prompt_tokens + _u.completion_tokens), 0).label("n")).where(
        matches(_u.user_id), matches(_u.day)
    )
)
_ADD_USAGE = Statement(
    update(ai_usage)
    .where(matches(_u.user_id), matches(_u.day), matches(_u.model))
    .values(
        prompt_tokens=_u.prompt_tokens + bindparam("add_prompt"),
        completion_tokens=_u.completion_tokens + bindparam("add_completion"),
    )
)
_INSERT_USAGE = insert_row(ai_usage)
_DELETE_USER_USAGE = Statement(delete(ai_usage).where(matches(_u.user_id)))


def insert_reply(
    db: Db,
    user_id: str,
    session_id: str,
    seq: int,
    *,
    request_id: str | None,
    host: str,
    lease_until: int,
    notify: bool,
    now: int,
) -> None:
    """Record that this host generates the reply at ``seq`` (its first event, ``start``)."""
    db.run(
        _INSERT_REPLY,
        user_id=user_id,
        session_id=session_id,
        seq=seq,
        request_id=request_id,
        host=host,
        lease_until=lease_until,
        events=1,
        notify=int(notify),
        created_at=now,
    )


def live_replies(db: Db, user_id: str, now: int) -> int:
    """Return how many replies of the user are being generated (their lease not run out)."""
    return int(db.scalar(_LIVE_OF_USER, user_id=user_id, now=now) or 0)


def live_reply_in_session(db: Db, user_id: str, session_id: str, now: int) -> int | None:
    """Return the seq of the session's reply being generated, or None."""
    seq = db.scalar(_LIVE_IN_SESSION, user_id=user_id, session_id=session_id, now=now)
    return None if seq is None else int(seq)


def reply_lease(db: Db, user_id: str, session_id: str, seq: int) -> Any:
    """Return (lease_until, events, request_id, host) of a reply being generated, or None."""
    return db.row(_LEASE, user_id=user_id, session_id=session_id, seq=seq)


def move_lease(
    db: Db, user_id: str, session_id: str, seq: int, lease_until: int, events: int
) -> None:
    """Extend a reply's lease, and note how many events it has made."""
    db.run(
        _MOVE_LEASE,
        user_id=user_id,
        session_id=session_id,
        seq=seq,
        lease_until=lease_until,
        events=events,
    )


def delete_reply(db: Db, user_id: str, session_id: str, seq: int) -> None:
    """Forget a reply's lease (it ended, or its message is gone)."""
    db.run(_DELETE_REPLY, user_id=user_id, session_id=session_id, seq=seq)


def forget_replies(
    db: Db, user_id: str, session_id: str | None = None, seq: int = 0, *, later: bool = True
) -> None:
    """Delete the leases of the replies a deletion takes: the user's sessions' (no
    ``session_id``), a session's, or those from ``seq`` on (``later``) or at ``seq``."""
    if session_id is None:
        db.run(_DELETE_USER_REPLIES, user_id=user_id)
    elif later:
        db.run(_DELETE_REPLIES_FROM, user_id=user_id, session_id=session_id, seq=seq)
    else:
        db.run(_DELETE_REPLY, user_id=user_id, session_id=session_id, seq=seq)


def expired_replies(db: Db, now: int, limit: int) -> list[tuple[str, str, int]]:
    """Return up to ``limit`` replies whose lease ran out: (user_id, session_id, seq)."""
    return [(row[0], row[1], int(row[2])) for row in db.tuples(_EXPIRED, now=now, limit=limit)]


def reply_state(db: Db, user_id: str, session_id: str, seq: int) -> Any:
    """Return (role, msg, reasoning, status, meta, updated_at, created_at) of a message, or
    None: no such message."""
    return db.row(_REPLY_STATE, user_id=user_id, session_id=session_id, seq=seq)


def last_message(db: Db, user_id: str, session_id: str) -> Any:
    """Return (seq, role, status) of the session's last message, or None: it has none."""
    return db.row(_LAST_MESSAGE, user_id=user_id, session_id=session_id)


def context_messages(
    db: Db, user_id: str, session_id: str, before: int, limit: int
) -> list[tuple[Any, ...]]:
    """Return up to ``limit`` messages before ``before``, newest first, as tuples of
    :data:`CONTEXT_FIELDS`."""
    return db.tuples(_CONTEXT, user_id=user_id, session_id=session_id, before=before, limit=limit)


def system_messages(db: Db, user_id: str, session_id: str) -> list[str]:
    """Return the text of the session's ``system`` messages, oldest first."""
    return [row[0] for row in db.tuples(_SYSTEM, user_id=user_id, session_id=session_id)]


def tokens_of_day(db: Db, user_id: str, day: str) -> int:
    """Return the tokens the user spent on ``day`` (YYYY-MM-DD), every model together."""
    return int(db.scalar(_TOKENS_OF_DAY, user_id=user_id, day=day) or 0)


def add_usage(
    db: Db, user_id: str, day: str, model: str, prompt_tokens: int, completion_tokens: int
) -> None:
    """Add a reply's tokens to its user's day and model."""
    params = {"user_id": user_id, "day": day, "model": model}
    if db.run(_ADD_USAGE, add_prompt=prompt_tokens, add_completion=completion_tokens, **params):
        return
    db.run(
        _INSERT_USAGE,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        **params,
    )


def delete_user_usage(db: Db, user_id: str) -> None:
    """Delete the user's usage rows (their replies' leases go with their sessions)."""
    db.run(_DELETE_USER_USAGE, user_id=user_id)
