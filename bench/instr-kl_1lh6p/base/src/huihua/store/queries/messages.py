"""Messages: appending one (in one statement where the store can), and a page of them.

A page of messages walks the primary key ``(user_id, session_id, seq)`` backwards.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, String, Text, and_, bindparam, cast, exists, insert, select

from huihua.store.queries._common import insert_row, matches
from huihua.store.queries.sessions import BUMP, SESSION_KEY
from huihua.store.sql import Db, Statement
from huihua.store.tables import chat_messages, chat_sessions, idempotency_records

_i = idempotency_records.c
_s = chat_sessions.c
_m = chat_messages.c

_INSERT_MESSAGE = insert_row(chat_messages)
_MESSAGE_COLUMNS = (_m.role, _m.msg, _m.seq, _m.created_at, _m.meta)


def _append_alone(*, recorded: bool) -> Statement:
    # PostgreSQL's data-modifying CTEs: take the seq, store the message and (``recorded``)
    # the idempotency record whose response is the reply around that seq, all in one
    # statement. When a record of the request id exists, or the session does not, nothing
    # is changed and no row comes back.
    bump = BUMP
    if recorded:
        bump = bump.where(~exists().where(matches(_i.user_id), matches(_i.request_id)))
    bump = bump.returning(_s.chat_count).cte("bump")
    message = (
        insert(chat_messages)
        .from_select(
            ["user_id", "session_id", "seq", "role", "msg", "meta", "created_at"],
            select(
                bindparam("key_user", type_=String),
                bindparam("key_session", type_=String),
                bump.c.chat_count,
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
    (``caps.append_in_one_statement``: PostgreSQL)."""
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
    role: str,
    msg: str,
    meta: str | None,
    now: int,
) -> None:
    """Store one message at its seq."""
    db.run(
        _INSERT_MESSAGE,
        user_id=user_id,
        session_id=session_id,
        seq=seq,
        role=role,
        msg=msg,
        meta=meta,
        created_at=now,
    )


def _messages(*, before: bool) -> Statement:
    where = [matches(_m.user_id), matches(_m.session_id)]
    if before:
        where.append(_m.seq < bindparam("before_seq"))
    return Statement(
        select(*_MESSAGE_COLUMNS).where(*where).order_by(_m.seq.desc()).limit(bindparam("limit"))
    )


def _session_messages(*, before: bool) -> Statement:
    # The session's row joined to its newest messages: one statement answers both "does the
    # session exist" and "its page of messages". The session is one row, so every engine
    # walks the message key backwards, with no sort.
    on = and_(_m.user_id == _s.user_id, _m.session_id == _s.session_id)
    if before:
        on = and_(on, _m.seq < bindparam("before_seq"))
    return Statement(
        select(_s.session_title, *_MESSAGE_COLUMNS)
        .select_from(chat_sessions.outerjoin(chat_messages, on))
        .where(SESSION_KEY)
        .order_by(_m.seq.desc())
        .limit(bindparam("limit"))
    )


_SESSION_TITLE = Statement(select(_s.session_title).where(SESSION_KEY))
_MESSAGES = {before: _messages(before=before) for before in (False, True)}
_SESSION_MESSAGES = {before: _session_messages(before=before) for before in (False, True)}


def session_messages(
    db: Db, user_id: str, session_id: str, limit: int, before_seq: int | None
) -> tuple[str | None, list[Any]] | None:
    """Return the session's title and its newest ``limit`` messages below ``before_seq``,
    newest first, as tuples of (role, msg, seq, created_at, meta); None: no such session.

    Where ``caps.session_page_as_join`` (PostgreSQL) this is one statement, a join (one
    round trip). SQLite, where a statement costs no round trip, and MariaDB, which sorts
    the join's rows in a temporary table, run two (measured here for 50 messages: SQLite
    46 µs against 51 µs for the join; MariaDB 249 µs against 646 µs).
    """
    params: dict[str, Any] = {"user_id": user_id, "session_id": session_id, "limit": limit}
    if before_seq is not None:
        params["before_seq"] = before_seq
    before = before_seq is not None
    if not db.caps.session_page_as_join:
        found = db.row(_SESSION_TITLE, user_id=user_id, session_id=session_id)
        if found is None:
            return None
        return found[0], db.tuples(_MESSAGES[before], **params)
    rows = db.tuples(_SESSION_MESSAGES[before], **params)
    if not rows:
        return None
    if rows[0][3] is None:  # the session, with no message in the range asked for
        return rows[0][0], []
    return rows[0][0], [row[1:] for row in rows]
