"""The statements that read a user's messages for a search: the walk, and the tails.

The walk: one statement reads the user's ``user`` and ``ai`` messages newest first by the
index ``ix_chat_messages_newest`` ``(user_id, created_at, session_id, seq)``, from a keyset
position, keeps those whose text contains the query and stops after ``limit`` of them.
Every row read is the user's: the cost follows their history, never the store's size. The
caller matches each row exactly (for the snippet) and asks for the next batch from the last
one it saw. A search walks when the user has no digest yet, or when the query is a common
one (the digest's slices leave too many candidates): then its page fills within a few
dozen rows.

``tails``: the same search among the messages the user's digest does not hold yet
(rows.py), each session's messages above its ``digested_seq``: the sessions first, each
one's tail by the primary key (:func:`_tail_statement`), the matches sorted.

The containment test is the store's own, on the text as it is, or for a query with a letter
A–Z or a–z, on the text and the query folded: exact on SQLite (``instr``, its ``lower``
folds A–Z only) and PostgreSQL (``strpos``, folded by ``translate``: ``lower`` follows the
locale, which may fold a letter by its neighbours), and on MySQL/MariaDB byte for byte
(``LOCATE`` on binary strings, not by the collation), folded by ``LOWER``, which folds
more than A–Z: a superset, which the caller's match narrows.

How the walk is made to come first, whatever the planner would choose (tests/
test_search_plans.py explains every kind of search on every store): the index is named
(SQLite's ``INDEXED BY``, MySQL/MariaDB's ``FORCE INDEX``) unless the search is in one
session, where the primary key may read that session alone and sort its matches; the
session's title is a scalar subquery, not a join to begin from. The tails read the sessions
first (``CROSS JOIN`` on SQLite, ``STRAIGHT_JOIN`` on MySQL/MariaDB, a ``LATERAL`` read on
PostgreSQL: ``caps.search_reads_lateral``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, literal_column, or_, select, true
from sqlalchemy.sql.elements import BindParameter, ColumnClause

from huihua.store.dialect import (
    MYSQL_NAMES,
    Capabilities,
    ThenJoin,
    folded_position,
    sql_position,
)
from huihua.store.search import signature
from huihua.store.sql import Db, Statement
from huihua.store.tables import chat_messages, chat_sessions

_STATEMENTS: dict[tuple[bool, bool, bool, bool, bool], Statement] = {}
# A candidate: (created_at, session_id, seq, role, msg, session_title).
CANDIDATE_FIELDS = ("created_at", "session_id", "seq", "role", "msg", "session_title")
Candidate = tuple[int, str, int, str, str, "str | None"]
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
WALKED_INDEX = "ix_chat_messages_newest"
_ZERO: ColumnClause[Any] = literal_column("0")


def searched(m: Any) -> Any:
    """The messages a search finds: ``user`` and ``ai`` ones."""
    return m.role.in_([literal_column(f"'{role}'") for role in signature.SEARCHED_ROLES])


def _after(w: Any, *, by_key: bool = False) -> list[Any]:
    """The rows strictly before the keyset position (at, session, seq) in the walk's
    (desc, desc, desc) order; the first term bounds the index range scan on every engine
    (``by_key``: written so that no planner reads the messages by their time instead of by
    the primary key)."""
    at: BindParameter[Any] = bindparam("at")
    sid: BindParameter[Any] = bindparam("sid")
    created_at = w.created_at + _ZERO if by_key else w.created_at
    return [
        created_at <= at,
        or_(
            created_at < at,
            w.session_id < sid,
            and_(w.session_id == sid, w.seq < bindparam("seq")),
        ),
    ]


def _contains(m: Any, folded: bool) -> Any:
    position = folded_position if folded else sql_position
    return position(m.msg, bindparam("query")) > _ZERO


def _title(s: Any, m: Any) -> Any:
    return (
        select(s.session_title)
        .where(s.user_id == m.user_id, s.session_id == m.session_id)
        .scalar_subquery()
        .label("session_title")
    )


def _tail_statement(folded: bool, after: bool, in_session: bool, lateral: bool) -> Statement:
    """The search of what the user's digest does not hold: the messages above each
    session's ``digested_seq``, read session by session by the primary key, and sorted (a
    tail is what was written since the digest was last added to: a few messages). The
    sessions come first (``CROSS JOIN``, ``STRAIGHT_JOIN``, a ``LATERAL`` read on
    PostgreSQL), and the messages are read by the primary key (named on MySQL/MariaDB;
    elsewhere the keyset's time is written ``created_at + 0``, which no index serves)."""
    session = chat_sessions.alias("session")
    message = chat_messages.alias("message")
    s, m = session.c, message.c
    where = [s.user_id == bindparam("user_id"), s.last_seq > s.digested_seq]
    if in_session:
        where.append(s.session_id == bindparam("session_id"))
    inner = [searched(m), _contains(m, folded), *(_after(m, by_key=True) if after else ())]
    same = and_(m.user_id == s.user_id, m.session_id == s.session_id, m.seq > s.digested_seq)
    if lateral:
        read: Any = (
            select(m.created_at, m.session_id, m.seq, m.role, m.msg)
            .where(same, *inner)
            .offset(_ZERO)
            .lateral("message")
        )
        source = session.join(read, true())
    else:
        read = message
        source = ThenJoin(session, message, same)
        where += inner
    r = read.c
    found = (
        select(r.created_at, r.session_id, r.seq, r.role, r.msg, s.session_title)
        .select_from(source)
        .where(*where)
        .order_by(r.created_at.desc(), r.session_id.desc(), r.seq.desc())
        .limit(bindparam("limit"))
    )
    for dialect in MYSQL_NAMES:
        found = found.with_hint(message, "FORCE INDEX (PRIMARY)", dialect)
    return Statement(found)


def _walk_statement(folded: bool, after: bool, in_session: bool) -> Statement:
    """The walk of the user's messages newest first by ``ix_chat_messages_newest``."""
    message = chat_messages.alias("message")
    session = chat_sessions.alias("session")
    m = message.c
    where = [m.user_id == bindparam("user_id")]
    if in_session:
        where.append(m.session_id == bindparam("session_id"))
    if after:
        where += _after(m)
    where += [searched(m), _contains(m, folded)]
    found = (
        select(m.created_at, m.session_id, m.seq, m.role, m.msg, _title(session.c, m))
        .where(*where)
        .order_by(m.created_at.desc(), m.session_id.desc(), m.seq.desc())
        .limit(bindparam("limit"))
    )
    if not in_session:  # in one session, the primary key may read that session alone
        found = found.with_hint(message, f"INDEXED BY {WALKED_INDEX}", "sqlite")
        for dialect in MYSQL_NAMES:
            found = found.with_hint(message, f"FORCE INDEX ({WALKED_INDEX})", dialect)
    return Statement(found)


def search_statement(
    caps: Capabilities,
    user_id: str,
    query: str,
    limit: int,
    after: tuple[int, str, int] | None = None,
    session_id: str | None = None,
    *,
    tails: bool = False,
) -> tuple[Statement, dict[str, Any]]:
    """Return the statement :func:`search_candidates` runs, and its parameters."""
    folded = not _LETTERS.isdisjoint(query)
    key = (folded, after is not None, session_id is not None, caps.search_reads_lateral, tails)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _tail_statement(*key[:4]) if tails else _walk_statement(*key[:3])
        _STATEMENTS[key] = statement
    params: dict[str, Any] = {"user_id": user_id, "query": query, "limit": limit}
    if session_id is not None:
        params["session_id"] = session_id
    if after is not None:
        params["at"], params["sid"], params["seq"] = after
    return statement, params


def search_candidates(
    db: Db,
    user_id: str,
    query: str,
    limit: int,
    after: tuple[int, str, int] | None = None,
    session_id: str | None = None,
    *,
    tails: bool = False,
) -> list[Candidate]:
    """Return up to ``limit`` of the user's ``user`` and ``ai`` messages (of one session,
    when given) that contain ``query``, newest first, from after the keyset position
    ``after`` (created_at, session_id, seq). On MySQL/MariaDB a few may not contain it as
    §5.3 says (``LOWER`` folds more than A–Z): the caller matches. ``tails``: only among the
    messages the user's search digest does not hold (those above each session's
    ``digested_seq``)."""
    statement, params = search_statement(
        db.caps, user_id, query, limit, after, session_id, tails=tails
    )
    return db.tuples(statement, **params)
