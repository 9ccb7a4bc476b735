"""Messages: appending (in one statement where the store can), a page of them (backwards
or forwards); changes.py changes one or deletes one or a tail.

A page of messages walks the primary key ``(user_id, session_id, seq)``, backwards from
``before_seq`` or forwards from ``after_seq``. A row of a page is the tuple
:data:`MESSAGE_FIELDS` names.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    exists,
    insert,
    null,
    select,
)

from huihua.store.dialect import json_list
from huihua.store.queries._common import matches
from huihua.store.queries.sessions import BUMP, SESSION_KEY
from huihua.store.sql import Db, Statement
from huihua.store.tables import chat_messages, chat_sessions, idempotency_records

_i = idempotency_records.c
_s = chat_sessions.c
_m = chat_messages.c

# A message with only the seed's fields is stored by the statement of before the fields of
# docs/api.md §5.1 (fewer parameters to bind on the hot path); others by insert_messages.
_SEED_FIELDS = ("user_id", "session_id", "seq", "role", "msg", "meta", "created_at")
_INSERT_SEED_MESSAGE = Statement(
    insert(chat_messages).values({name: bindparam(name) for name in _SEED_FIELDS})
)
# The fields a message may have besides the seed's, and those /update_chat may change.
EXTRA_FIELDS = ("parts", "reasoning", "tool_calls", "tool_call_id", "name", "status")
CHANGEABLE = ("msg", "parts", "reasoning", "tool_calls", "meta", "status")
# Set by /rate_chat only, read with the others.
FEEDBACK_FIELDS = ("rating", "comment")
MESSAGE_FIELDS = ("role", "msg", "seq", "created_at", "meta", *EXTRA_FIELDS, "updated_at")
# What a page reads: the seed's fields, and the others packed as one JSON array of
# EXTRA_FIELDS, updated_at and FEEDBACK_FIELDS, NULL when all are NULL (most messages).
# Each column a row has costs the driver a call per row (with SQLite, a mutex too): seven
# columns read one by one made a page of 50 messages cost 28% more instructions.
PAGE_FIELDS = ("role", "msg", "seq", "created_at", "meta", "extras")


_EXTRA_COLUMNS = [_m[name] for name in (*EXTRA_FIELDS, "updated_at", *FEEDBACK_FIELDS)]
_PAGE_COLUMNS = (
    *(_m[name] for name in PAGE_FIELDS[:5]),
    case(
        (and_(*(c.is_(None) for c in _EXTRA_COLUMNS)), null()),
        else_=json_list(*_EXTRA_COLUMNS),
    ).label("extras"),
)


def _append_alone(*, recorded: bool) -> Statement:
    # PostgreSQL's data-modifying CTEs: take the seq, store the message and (``recorded``)
    # the idempotency record whose response is the reply around that seq, all in one
    # statement. When a record of the request id exists, or the session does not, nothing
    # is changed and no row comes back.
    bump = BUMP
    if recorded:
        bump = bump.where(~exists().where(matches(_i.user_id), matches(_i.request_id)))
    bump = bump.returning(_s.last_seq).cte("bump")
    message = (
        insert(chat_messages)
        .from_select(
            ["user_id", "session_id", "seq", "role", "msg", "meta", "created_at"],
            select(
                bindparam("key_user", type_=String),
                bindparam("key_session", type_=String),
                bump.c.last_seq,
                bindparam("role", type_=String),
                bindparam("msg", type_=Text),
                bindparam("meta", type_=Text),
                bindparam("now", type_=BigInteger),
            ),
        )
        .returning(_m.seq)
        .cte("message")
    )
    query = select(message.c.seq)
    if recorded:
        record = (
            insert(idempotency_records)
            .from_select(
                ["user_id", "request_id", "fingerprint", "response", "created_at"],
                select(
                    bindparam("key_user", type_=String),
                    bindparam("request_id", type_=String),
                    bindparam("fingerprint", type_=String),
                    bindparam("reply_head", type_=Text)
                    + cast(message.c.seq, Text)
                    + bindparam("reply_tail", type_=Text),
                    bindparam("now", type_=BigInteger),
                ),
            )
            .cte("record")
        )
        query = query.add_cte(record)
    return Statement(query)


_APPEND_ALONE = {recorded: _append_alone(recorded=recorded) for recorded in (False, True)}


def appends_alone(db: Db) -> bool:
    """Return whether :func:`append_alone` can append on this store
    (``caps.append_in_one_statement``: PostgreSQL). It stores the seed's fields only."""
    return db.caps.append_in_one_statement


def append_alone(
    db: Db,
    user_id: str,
    session_id: str,
    *,
    role: str,
    msg: str,
    meta: str | None,
    title: str | None,
    now: int,
    request_id: str | None,
    fingerprint: str,
    reply_around_seq: tuple[str, str],
) -> int | None:
    """Append a message to an existing session in one statement (where
    :func:`appends_alone`); return its seq, or None when nothing was done: no such session,
    or a record of this request id exists. With a request id, its record is stored with
    the reply ``reply_around_seq[0] + str(seq) + reply_around_seq[1]``."""
    params = {
        "key_user": user_id,
        "key_session": session_id,
        "now": now,
        "title": title,
        "role": role,
        "msg": msg,
        "meta": meta,
    }
    if request_id is None:
        rows = db.alone(_APPEND_ALONE[False], **params)
    else:
        head, tail = reply_around_seq
        params |= {
            "user_id": user_id,
            "request_id": request_id,
            "fingerprint": fingerprint,
            "reply_head": head,
            "reply_tail": tail,
        }
        rows = db.alone(_APPEND_ALONE[True], **params)
    return rows[0][0] if rows else None


def insert_message(
    db: Db,
    user_id: str,
    session_id: str,
    seq: int,
    now: int,
    role: str,
    msg: str,
    meta: str | None,
) -> None:
    """Store one message with the seed's fields only (role, msg, meta) at its seq; any
    other goes through :func:`insert_messages`."""
    db.run(
        _INSERT_SEED_MESSAGE,
        user_id=user_id,
        session_id=session_id,
        seq=seq,
        role=role,
        msg=msg,
        meta=meta,
        created_at=now,
    )


_ROW_FIELDS = ("seq", "role", "msg", "meta", *EXTRA_FIELDS)
_INSERT_MANY: dict[int, Statement] = {}


def insert_messages(
    db: Db,
    user_id: str,
    session_id: str,
    first_seq: int,
    now: int,
    messages: list[dict[str, Any]],
) -> None:
    """Store messages at ``first_seq``, ``first_seq + 1``… in one statement (one round trip
    on a server store, whatever their number); each a mapping of ``role``, ``msg``,
    ``meta`` and :data:`EXTRA_FIELDS`."""
    n = len(messages)
    statement = _INSERT_MANY.get(n)
    if statement is None:
        rows: list[dict[str, Any]] = [
            {
                "user_id": bindparam("user_id"),
                "session_id": bindparam("session_id"),
                "created_at": bindparam("now"),
                **{name: bindparam(f"{name}_{i}") for name in _ROW_FIELDS},
            }
            for i in range(n)
        ]
        statement = _INSERT_MANY[n] = Statement(insert(chat_messages).values(rows))
    params: dict[str, Any] = {"user_id": user_id, "session_id": session_id, "now": now}
    for i, message in enumerate(messages):
        params[f"seq_{i}"] = first_seq + i
        for name in _ROW_FIELDS[1:]:
            params[f"{name}_{i}"] = message.get(name)
    db.run(statement, **params)


def _range(on: Any, direction: str | None) -> tuple[Any, Any]:
    """Return the condition and order of a page: ``before`` (newest first, below
    ``before_seq``), ``after`` (oldest first, above ``after_seq``) or None (newest first)."""
    if direction == "after":
        return and_(on, _m.seq > bindparam("after_seq")), _m.seq.asc()
    if direction == "before":
        return and_(on, _m.seq < bindparam("before_seq")), _m.seq.desc()
    return on, _m.seq.desc()


def _messages(direction: str | None) -> Statement:
    where, order = _range(and_(matches(_m.user_id), matches(_m.session_id)), direction)
    return Statement(select(*_PAGE_COLUMNS).where(where).order_by(order).limit(bindparam("limit")))


def _session_messages(direction: str | None) -> Statement:
    # The session's row joined to its page of messages: one statement answers both "does
    # the session exist" and "its page of messages". The session is one row, so every
    # engine walks the message key in order, with no sort.
    on, order = _range(and_(_m.user_id == _s.user_id, _m.session_id == _s.session_id), direction)
    return Statement(
        select(_s.session_title, *_PAGE_COLUMNS)
        .select_from(chat_sessions.outerjoin(chat_messages, on))
        .where(SESSION_KEY)
        .order_by(order)
        .limit(bindparam("limit"))
    )


_DIRECTIONS = (None, "before", "after")
_SESSION_TITLE = Statement(select(_s.session_title).where(SESSION_KEY))
_MESSAGES = {d: _messages(d) for d in _DIRECTIONS}
_SESSION_MESSAGES = {d: _session_messages(d) for d in _DIRECTIONS}


def _page_params(
    user_id: str, session_id: str, limit: int, before_seq: int | None, after_seq: int | None
) -> tuple[str | None, dict[str, Any]]:
    params: dict[str, Any] = {"user_id": user_id, "session_id": session_id, "limit": limit}
    if after_seq is not None:
        params["after_seq"] = after_seq
        return "after", params
    if before_seq is not None:
        params["before_seq"] = before_seq
        return "before", params
    return None, params


def session_messages(
    db: Db,
    user_id: str,
    session_id: str,
    limit: int,
    before_seq: int | None = None,
    after_seq: int | None = None,
) -> tuple[str | None, list[Any]] | None:
    """Return the session's title and a page of ``limit`` messages: the newest below
    ``before_seq`` (newest first), or the oldest above ``after_seq`` (oldest first), as
    tuples of :data:`PAGE_FIELDS` (``extras``: the JSON array of the other fields, or None
    when none is set); None: no such session.

    Where ``caps.session_page_as_join`` (PostgreSQL) this is one statement, a join (one
    round trip). SQLite, where a statement costs no round trip, and MariaDB, which sorts
    the join's rows in a temporary table, run two (measured here for 50 messages: SQLite
    46 µs against 51 µs for the join; MariaDB 249 µs against 646 µs).
    """
    direction, params = _page_params(user_id, session_id, limit, before_seq, after_seq)
    if not db.caps.session_page_as_join:
        found = db.row(_SESSION_TITLE, user_id=user_id, session_id=session_id)
        if found is None:
            return None
        return found[0], db.tuples(_MESSAGES[direction], **params)
    rows = db.tuples(_SESSION_MESSAGES[direction], **params)
    if not rows:
        return None
    if rows[0][3] is None:  # the session, with no message in the range asked for
        return rows[0][0], []
    return rows[0][0], [row[1:] for row in rows]


def messages_page(
    db: Db,
    user_id: str,
    session_id: str,
    limit: int,
    before_seq: int | None = None,
    after_seq: int | None = None,
) -> list[Any]:
    """Return a page of messages as :func:`session_messages` does, without the session
    (for the next batch of a page read in batches)."""
    direction, params = _page_params(user_id, session_id, limit, before_seq, after_seq)
    return db.tuples(_MESSAGES[direction], **params)
