"""A whole turn appended in one statement, where the store can (PostgreSQL).

/add_chat into an existing session is one statement on PostgreSQL (messages.append_alone);
/add_chats, the usual turn of a chat back end, took the general way: BEGIN, the bump, the
INSERT of its messages, its idempotency record, COMMIT, five round trips. This is the same
as one statement of data-modifying CTEs, one round trip, in autocommit: the session's
``last_seq`` is moved by the turn's length, the messages are numbered from the new value,
and the record's reply is built around the seqs, ``string_agg``-ed in the statement.
Nothing is done, and no row comes back, when the session does not exist or a record of the
request id does (the caller then takes the general way).

Written as SQL text, one per turn length (up to 100), since SQLAlchemy's Core has no
bound-parameter ``VALUES`` list that stays one compiled statement.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from huihua.store.queries.messages import EXTRA_FIELDS
from huihua.store.sql import Db, Statement

# A message's fields, as insert_messages takes them; each VALUES cell is cast to its
# column's type (an untyped NULL would otherwise be taken for text).
_FIELDS = ("role", "msg", "meta", *EXTRA_FIELDS)
_VARCHAR = frozenset({"role", "tool_call_id", "name", "status"})
_TURNS: dict[tuple[int, bool], Statement] = {}


def _type(field: str) -> str:
    return "varchar" if field in _VARCHAR else "text"


def _statement(n: int, recorded: bool) -> Statement:
    rows = ", ".join(
        "(" + ", ".join([str(i + 1)] + [f"CAST(:{f}_{i} AS {_type(f)})" for f in _FIELDS]) + ")"
        for i in range(n)
    )
    unused = (
        " AND NOT EXISTS (SELECT 1 FROM idempotency_records"
        " WHERE user_id = :key_user AND request_id = :request_id)"
        if recorded
        else ""
    )
    columns = ", ".join(_FIELDS)
    values = ", ".join(f"v.{f}" for f in _FIELDS)
    sql = (
        "WITH bump AS (UPDATE chat_sessions SET chat_count = chat_count + :n,"
        " last_seq = last_seq + :n, updated_at = :now,"
        " session_title = coalesce(session_title, CAST(:title AS varchar))"
        f" WHERE user_id = :key_user AND session_id = :key_session{unused} RETURNING last_seq),"
        f" turn AS (INSERT INTO chat_messages (user_id, session_id, seq, created_at, {columns})"
        f" SELECT :key_user, :key_session, bump.last_seq - :n + v.i, :now, {values}"
        f" FROM bump, (VALUES {rows}) AS v(i, {columns}) RETURNING seq)"
    )
    if recorded:
        sql += (
            ", record AS (INSERT INTO idempotency_records (user_id, request_id, fingerprint,"
            " response, created_at) SELECT :key_user, :request_id, :fingerprint,"
            " :reply_head || (SELECT string_agg(CAST(seq AS text), ',' ORDER BY seq)"
            " FROM turn) || :reply_tail, :now WHERE EXISTS (SELECT 1 FROM turn))"
        )
    sql += " SELECT min(seq) FROM turn"
    return Statement(text(sql))


def append_turn_alone(
    db: Db,
    user_id: str,
    session_id: str,
    messages: list[dict[str, Any]],
    *,
    title: str | None,
    now: int,
    request_id: str | None,
    fingerprint: str,
    reply_around_seqs: tuple[str, str],
) -> int | None:
    """Append ``messages`` (mappings as messages.insert_messages takes them) to an existing
    session in one statement (where ``caps.append_in_one_statement``); return the first
    seq, or None when nothing was done: no such session, or a record of this request id
    exists. With a request id, its record is stored with the reply
    ``reply_around_seqs[0] + "first,…,last" + reply_around_seqs[1]``."""
    n = len(messages)
    recorded = request_id is not None
    statement = _TURNS.get((n, recorded))
    if statement is None:
        statement = _TURNS[n, recorded] = _statement(n, recorded)
    params: dict[str, Any] = {
        "key_user": user_id,
        "key_session": session_id,
        "n": n,
        "now": now,
        "title": title,
    }
    for i, message in enumerate(messages):
        for field in _FIELDS:
            params[f"{field}_{i}"] = message.get(field)
    if recorded:
        params |= {
            "request_id": request_id,
            "fingerprint": fingerprint,
            "reply_head": reply_around_seqs[0],
            "reply_tail": reply_around_seqs[1],
        }
    rows = db.alone(statement, **params)
    first = rows[0][0] if rows else None
    return first
