"""Search: the user's messages that may contain a query, newest first (API.md §5.3).

One statement walks the index ``(user_id, created_at, session_id, seq, search_0 …)``
backwards from a keyset position, keeps the entries whose signature has every bit the
query's does in the (at most three) columns it tests (signature.py), and stops after
``limit`` of them; only those are joined to their message and session. The caller matches
each exactly and asks for the next batch from the last one it saw. Every row read is the
user's: the cost follows their history, never the store's size.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, or_, select

from huihua.store import signature
from huihua.store.queries._common import matches
from huihua.store.sql import Db, Statement
from huihua.store.tables import chat_messages, chat_sessions

_m = chat_messages.c
_s = chat_sessions.c
_STATEMENTS: dict[tuple[tuple[int, ...], bool, bool], Statement] = {}
# A candidate: (created_at, session_id, seq, role, msg, session_title).
CANDIDATE_FIELDS = ("created_at", "session_id", "seq", "role", "msg", "session_title")


def _statement(tested: tuple[int, ...], after: bool, in_session: bool) -> Statement:
    where = [matches(_m.user_id)]
    if in_session:
        where.append(matches(_m.session_id))
    for i, column in enumerate(tested):
        bits = bindparam(f"bits_{i}")
        where.append(_m[signature.NAMES[column]].op("&")(bits) == bits)
    if after:
        # Rows strictly before (at, session, seq) in the walk's (desc, desc, desc) order; the
        # first term bounds the index range scan on every engine.
        at, sid = bindparam("at"), bindparam("sid")
        where += [
            _m.created_at <= at,
            or_(
                _m.created_at < at,
                _m.session_id < sid,
                and_(_m.session_id == sid, _m.seq < bindparam("seq")),
            ),
        ]
    order = (_m.created_at.desc(), _m.session_id.desc(), _m.seq.desc())
    found = (
        select(_m.created_at, _m.session_id, _m.seq)
        .where(*where)
        .order_by(*order)
        .limit(bindparam("limit"))
        .subquery("found")
    )
    message = chat_messages.alias("message")
    session = chat_sessions.alias("session")
    f, m, s = found.c, message.c, session.c
    return Statement(
        select(f.created_at, f.session_id, f.seq, m.role, m.msg, s.session_title)
        .select_from(
            found.join(
                message,
                and_(m.user_id == bindparam("user_id"), m.session_id == f.session_id)
                & (m.seq == f.seq),
            ).join(session, and_(s.user_id == bindparam("user_id"), s.session_id == f.session_id))
        )
        .order_by(f.created_at.desc(), f.session_id.desc(), f.seq.desc())
    )


def search_candidates(
    db: Db,
    user_id: str,
    query: str,
    limit: int,
    after: tuple[int, str, int] | None = None,
    session_id: str | None = None,
) -> list[Any]:
    """Return up to ``limit`` of the user's ``user`` and ``ai`` messages (of one session,
    when given) that may contain ``query``, newest first, from after the keyset position
    ``after`` (created_at, session_id, seq): tuples of :data:`CANDIDATE_FIELDS`. Each may
    still not contain it: the caller matches."""
    mask = signature.query_mask(query)
    tested = tuple(column for column, _ in mask)
    key = (tested, after is not None, session_id is not None)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = _statement(*key)
    params: dict[str, Any] = {"user_id": user_id, "limit": limit}
    for i, (_, bits) in enumerate(mask):
        params[f"bits_{i}"] = bits
    if session_id is not None:
        params["session_id"] = session_id
    if after is not None:
        params["at"], params["sid"], params["seq"] = after
    return db.tuples(statement, **params)
