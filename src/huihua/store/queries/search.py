"""Search: the user's messages that contain a query, newest first (docs/api.md §5.3).

One statement walks the index ``(user_id, created_at, session_id, seq, search_0 …)``
backwards from a keyset position, keeps the entries whose signature has every bit the
query's does in the (at most three) columns it tests (signature.py), reads the message of
each entry kept, keeps those whose text contains the query, and stops after ``limit`` of
them. Every row read is the user's: the cost follows their history, never the store's size;
a query that matches nothing is one statement however many messages its signature lets
through. The caller matches each row exactly (for the snippet) and asks for the next batch
from the last one it saw.

The containment test is the store's own, on the text as it is, or for a query with a letter
A–Z or a–z, on the text and the query folded: exact on SQLite (``instr``, its ``lower``
folds A–Z only) and PostgreSQL (``strpos``, folded by ``translate``: ``lower`` follows the
locale, which may fold a letter by its neighbours), and on MySQL/MariaDB byte for byte
(``LOCATE`` on binary strings, not by the collation), folded by ``LOWER``, which folds
more than A–Z: a superset, which the caller's match narrows.

How the walk is made to come first, whatever the planner would choose (tests/
test_search_plans.py explains every kind of search on every store): the session's title is
a scalar subquery, not a join to begin from; the message is read by a ``LATERAL``
subquery behind ``OFFSET 0`` on PostgreSQL (``caps.search_reads_lateral``: a prepared
statement's generic plan, which knows neither the user nor the limit, began a flat join
from the sessions and sorted, 50 ms where the walk took 2), joined by ``CROSS JOIN`` on
SQLite and ``STRAIGHT_JOIN`` on MySQL/MariaDB, which keep the order written, with the index
named on MySQL/MariaDB unless the search is in one session (then the primary key may read
that session alone, and its matches are sorted). The signature test is written ``x & b >=
b`` (see :func:`_statement`).

``tails``: the same search among the messages the user's search digest does not hold yet
(queries/digests.py), each session's messages above its ``digested_seq``: the sessions
first, each one's tail by the primary key (:func:`_tail_statement`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, Join, and_, bindparam, func, literal_column, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from huihua.store import signature
from huihua.store.dialect import Capabilities
from huihua.store.sql import Db, Statement
from huihua.store.tables import chat_messages, chat_sessions

_STATEMENTS: dict[tuple[tuple[int, ...], bool, bool, bool, bool, bool, bool], Statement] = {}
# A result: (created_at, session_id, seq, role, msg, session_title).
CANDIDATE_FIELDS = ("created_at", "session_id", "seq", "role", "msg", "session_title")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_FOLD = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'"
_WALKED_INDEX = "ix_chat_messages_search"
_MYSQL = ("mysql", "mariadb")
_ZERO = literal_column("0")


class _position(FunctionElement[int]):
    """Where the query (the second argument) starts in the text (the first), from 1; 0 if
    nowhere."""

    type = Integer()
    inherit_cache = True
    name = "position"


class _folded_position(FunctionElement[int]):
    """:class:`_position` with A–Z folded to a–z in both (on MySQL/MariaDB, what ``LOWER``
    folds)."""

    type = Integer()
    inherit_cache = True
    name = "folded_position"


def _arguments(element: Any, compiler: Any, **kw: Any) -> list[str]:
    return [compiler.process(c, **kw) for c in element.clauses]


@compiles(_position)
def _position_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    text, query = _arguments(element, compiler, **kw)
    return f"instr({text}, {query})"


@compiles(_folded_position)
def _folded_position_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    text, query = _arguments(element, compiler, **kw)
    return f"instr(lower({text}), lower({query}))"


@compiles(_position, "postgresql")
def _position_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    text, query = _arguments(element, compiler, **kw)
    return f"strpos({text}, {query})"


@compiles(_folded_position, "postgresql")
def _folded_position_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    text, query = _arguments(element, compiler, **kw)
    return f"strpos(translate({text}, {_FOLD}), translate({query}, {_FOLD}))"


@compiles(_position, *_MYSQL)
def _position_mysql(element: Any, compiler: Any, **kw: Any) -> str:
    text, query = _arguments(element, compiler, **kw)
    return f"LOCATE(CAST({query} AS BINARY), CAST({text} AS BINARY))"


@compiles(_folded_position, *_MYSQL)
def _folded_position_mysql(element: Any, compiler: Any, **kw: Any) -> str:
    text, query = _arguments(element, compiler, **kw)
    return f"LOCATE(CAST(LOWER({query}) AS BINARY), CAST(LOWER({text}) AS BINARY))"


class _then(Join):
    """A join whose left side is read first, whatever the planner would choose: SQLite's
    ``CROSS JOIN`` and MySQL/MariaDB's ``STRAIGHT_JOIN`` keep their tables in the order
    written (elsewhere a plain ``JOIN``)."""

    inherit_cache = True


_THEN = {"sqlite": " CROSS JOIN ", "mysql": " STRAIGHT_JOIN ", "mariadb": " STRAIGHT_JOIN "}


@compiles(_then)
def _then_sql(element: Any, compiler: Any, asfrom: bool = False, **kw: Any) -> str:
    operator = _THEN.get(compiler.dialect.name, " JOIN ")
    left = element.left._compiler_dispatch(compiler, asfrom=True, **kw)
    right = element.right._compiler_dispatch(compiler, asfrom=True, **kw)
    return f"{left}{operator}{right} ON {element.onclause._compiler_dispatch(compiler, **kw)}"


def _signature_and_position(
    w: Any, tested: tuple[int, ...], after: bool, *, by_key: bool = False
) -> list[Any]:
    """The conditions on a message ``w`` of every search: its signature has the query's
    bits, and (``after``) it comes after the keyset position (``by_key``: written so that
    no planner reads the messages by their time instead of by the primary key)."""
    where = []
    for i, column in enumerate(tested):
        # ``x & b >= b`` is ``x & b = b`` (no column is ever negative), and a planner's
        # guess of how many rows pass it is a third, not the 0.5% of an equality: nearer
        # what a common word's bits let through, so it walks the index rather than sort.
        bits = bindparam(f"bits_{i}")
        where.append(w[signature.NAMES[column]].op("&")(bits) >= bits)
    if after:
        # Rows strictly before (at, session, seq) in the walk's (desc, desc, desc) order; the
        # first term bounds the index range scan on every engine.
        at, sid = bindparam("at"), bindparam("sid")
        created_at = w.created_at + _ZERO if by_key else w.created_at
        where += [
            created_at <= at,
            or_(
                created_at < at,
                w.session_id < sid,
                and_(w.session_id == sid, w.seq < bindparam("seq")),
            ),
        ]
    return where


def _tail_statement(
    tested: tuple[int, ...], folded: bool, after: bool, in_session: bool, lateral: bool
) -> Statement:
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
    position = _folded_position if folded else _position
    inner = [
        *_signature_and_position(m, tested, after, by_key=True),
        position(m.msg, bindparam("query")) > _ZERO,
    ]
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
        source = _then(session, message, same)
        where += inner
    r = read.c
    found = (
        select(r.created_at, r.session_id, r.seq, r.role, r.msg, s.session_title)
        .select_from(source)
        .where(*where)
        .order_by(r.created_at.desc(), r.session_id.desc(), r.seq.desc())
        .limit(bindparam("limit"))
    )
    for dialect in _MYSQL:
        found = found.with_hint(message, "FORCE INDEX (PRIMARY)", dialect)
    return Statement(found)


def _statement(
    tested: tuple[int, ...],
    folded: bool,
    after: bool,
    in_session: bool,
    lateral: bool,
    tails: bool,
    window: bool,
) -> Statement:
    if tails:
        return _tail_statement(tested, folded, after, in_session, lateral)
    walked = chat_messages.alias("walked")
    message = chat_messages.alias("message")
    session = chat_sessions.alias("session")
    w, m, s = walked.c, message.c, session.c
    where = [w.user_id == bindparam("user_id")]
    if in_session:
        where.append(w.session_id == bindparam("session_id"))
    where += _signature_and_position(w, tested, after)
    if window:
        # Only the ``window`` newest entries (after the position): the walk's range ends at
        # the time of the last of them, found by one short scan of the same index.
        recent = chat_messages.alias("recent")
        r = recent.c
        floor = (
            select(r.created_at)
            .where(r.user_id == bindparam("user_id"), *_signature_and_position(r, (), after))
            .order_by(r.created_at.desc(), r.session_id.desc(), r.seq.desc())
            .limit(literal_column("1"))
            .offset(bindparam("window"))
        )
        if in_session:
            floor = floor.where(r.session_id == bindparam("session_id"))
        where.append(w.created_at >= func.coalesce(floor.scalar_subquery(), _ZERO))
    position = _folded_position if folded else _position
    same = and_(m.user_id == w.user_id, m.session_id == w.session_id, m.seq == w.seq)
    contains = position(m.msg, bindparam("query")) > _ZERO
    title = (
        select(s.session_title)
        .where(s.user_id == w.user_id, s.session_id == w.session_id)
        .scalar_subquery()
        .label("session_title")
    )
    if lateral:
        read: Any = select(m.role, m.msg).where(same, contains).offset(_ZERO).lateral("message")
        source = walked.join(read, true())
    else:
        read = message
        source = _then(walked, message, same)
        where.append(contains)
    found = (
        select(w.created_at, w.session_id, w.seq, read.c.role, read.c.msg, title)
        .select_from(source)
        .where(*where)
        .order_by(w.created_at.desc(), w.session_id.desc(), w.seq.desc())
        .limit(bindparam("limit"))
    )
    if not in_session:  # in one session, the primary key may read that session alone
        for dialect in _MYSQL:
            found = found.with_hint(walked, f"FORCE INDEX ({_WALKED_INDEX})", dialect)
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
    window: int | None = None,
) -> tuple[Statement, dict[str, Any]]:
    """Return the statement :func:`search_candidates` runs, and its parameters."""
    mask = signature.query_mask(query)
    tested = tuple(column for column, _ in mask)
    folded = not _LETTERS.isdisjoint(query)
    key = (
        tested,
        folded,
        after is not None,
        session_id is not None,
        caps.search_reads_lateral,
        tails,
        window is not None,
    )
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = _statement(*key)
    params: dict[str, Any] = {"user_id": user_id, "query": query, "limit": limit}
    if window is not None:
        params["window"] = window
    for i, (_, bits) in enumerate(mask):
        params[f"bits_{i}"] = bits
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
    window: int | None = None,
) -> list[Any]:
    """Return up to ``limit`` of the user's ``user`` and ``ai`` messages (of one session,
    when given) that contain ``query``, newest first, from after the keyset position
    ``after`` (created_at, session_id, seq): tuples of :data:`CANDIDATE_FIELDS`. On
    MySQL/MariaDB a few may not contain it as §5.3 says (``LOWER`` folds more than A–Z):
    the caller matches. ``tails``: only among the messages the user's search digest does
    not hold (those above each session's ``digested_seq``); ``window``: only among the
    user's ``window`` newest messages (after ``after``)."""
    statement, params = search_statement(
        db.caps, user_id, query, limit, after, session_id, tails=tails, window=window
    )
    return db.tuples(statement, **params)
