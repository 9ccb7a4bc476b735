"""Reading by their keys the messages the search digest's slices let through
(slices.py): each by the primary key, in one statement, on every store: an OR of
each key's terms (SQLite), ``(session_id, seq) IN (…)`` (MySQL/MariaDB), or arrays of the
keys, each read by a ``LATERAL`` lookup (PostgreSQL).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import BindParameter, ColumnClause

from huihua.store.queries._common import padded
from huihua.store.search.walk import searched
from huihua.store.sql import Db, Statement
from huihua.store.tables import chat_messages, chat_sessions

_ZERO: ColumnClause[Any] = literal_column("0")


_BY_KEYS: dict[tuple[int, bool], Statement] = {}


def _by_keys_statement(n: int, row_values: bool) -> Statement:
    statement = _BY_KEYS.get((n, row_values))
    if statement is None:
        message = chat_messages.alias("message")
        session = chat_sessions.alias("session")
        m, s = message.c, session.c
        title = (
            select(s.session_title)
            .where(s.user_id == m.user_id, s.session_id == m.session_id)
            .scalar_subquery()
            .label("session_title")
        )
        user: BindParameter[Any] = bindparam("user_id")
        if row_values:
            given = [tuple_(bindparam(f"sid_{i}"), bindparam(f"seq_{i}")) for i in range(n)]
            keys = and_(m.user_id == user, tuple_(m.session_id, m.seq).in_(given))
        else:
            # Each key whole in its term, the user too: SQLite's OR optimization reads each
            # by the primary key only when every term is indexable by itself.
            keys = or_(
                *(
                    and_(
                        m.user_id == user,
                        m.session_id == bindparam(f"sid_{i}"),
                        m.seq == bindparam(f"seq_{i}"),
                    )
                    for i in range(n)
                )
            )
        statement = _BY_KEYS[(n, row_values)] = Statement(
            select(m.created_at, m.session_id, m.seq, m.role, m.msg, title).where(keys, searched(m))
        )
    return statement


def _by_key_arrays() -> Statement:
    """The messages of the keys given as two arrays, each read by the primary key (a
    ``LATERAL`` read behind ``OFFSET 0``, whatever the statistics say)."""
    message = chat_messages.alias("message")
    session = chat_sessions.alias("session")
    m, s = message.c, session.c
    keys = (
        func.unnest(bindparam("sids", type_=ARRAY(String)), bindparam("seqs", type_=ARRAY(Integer)))
        .table_valued("sid", "seq")
        .render_derived(name="k")
    )
    title = (
        select(s.session_title)
        .where(s.user_id == m.user_id, s.session_id == m.session_id)
        .scalar_subquery()
        .label("session_title")
    )
    read = (
        select(m.created_at, m.session_id, m.seq, m.role, m.msg, title)
        .where(
            m.user_id == bindparam("user_id"),
            m.session_id == keys.c.sid,
            m.seq == keys.c.seq,
            searched(m),
        )
        .offset(_ZERO)
        .lateral("message")
    )
    r = read.c
    return Statement(
        select(r.created_at, r.session_id, r.seq, r.role, r.msg, r.session_title).select_from(
            keys.join(read, true())
        )
    )


_BY_KEY_ARRAYS = _by_key_arrays()


def messages_by_keys(db: Db, user_id: str, keys: list[tuple[str, int]]) -> list[Any]:
    """Return the user's searched (``user`` and ``ai``) messages of these (session_id, seq)
    keys that exist, as search.py's candidates are (CANDIDATE_FIELDS), in no order."""
    if not keys:
        return []
    if db.caps.binds_arrays:
        sids, seqs = [k[0] for k in keys], [k[1] for k in keys]
        return db.tuples(_BY_KEY_ARRAYS, user_id=user_id, sids=sids, seqs=seqs)
    keys = padded(keys)
    params: dict[str, Any] = {"user_id": user_id}
    for i, (session_id, seq) in enumerate(keys):
        params[f"sid_{i}"], params[f"seq_{i}"] = session_id, seq
    return db.tuples(_by_keys_statement(len(keys), db.caps.keys_as_row_values), **params)
