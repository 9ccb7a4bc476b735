"""The operator's console (docs/api.md §9): the reads across users, each a walk of an index.

These are the one place where a statement names no user, so on a sharded engine each is a
scan that fans out to every node; on one store each walks an index of its own (tables.py):

- users, newest first: ``ix_users_newest (created_at, user_id, user_name)`` backwards;
  a query's filter (the id's prefix, text in the name) is tested on the index's rows, and
  the walk stops at the page's last match (a query that matches few users reads the whole
  index: an operator's search, not a request's). Each user's counts are scalar subqueries
  on their own keys: the sessions' primary key, the newest message by
  ``ix_chat_messages_search (user_id, created_at, …)``.
- rated replies, newest first: ``ix_chat_messages_rated (rated_at, user_id, session_id,
  seq, rating)`` backwards (only the rated rows where the store has partial indexes); the
  title and the question before each reply are lookups by key.
- a day's figures: ranges of ``ix_chat_messages_day (created_at, user_id, role, status)``,
  ``ix_users_newest``, ``ix_chat_messages_rated`` and ``ix_ai_usage_day (day, model, …)``,
  grouped by the local day. A day is bucketed in SQL as ``t + offset - (t + offset) %
  86400000`` over a range where the zone's offset does not change (the service splits
  the range where it does), so one statement counts every day of a range.

Keyset pages as the session list's: the first term bounds the range, the next ones skip
the rows of the same time already sent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, or_, select
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from huihua.store.sql import Db, Statement
from huihua.store.tables import Identifier, ai_usage, chat_messages, chat_sessions, users

DAY_MS = 86_400_000
USER_COLUMNS = ("user_id", "user_name", "phone", "email", "profile", "created_at", "updated_at")
_u, _m, _a = users.c, chat_messages.c, ai_usage.c
_sessions = chat_sessions.alias("s")
_before = chat_messages.alias("q")

_SESSION_COUNT = (
    select(func.count().label("n"))
    .where(_sessions.c.user_id == _u.user_id)
    .correlate(users)
    .scalar_subquery()
    .label("session_count")
)
_MESSAGE_COUNT = (
    select(func.coalesce(func.sum(_sessions.c.chat_count), 0))
    .where(_sessions.c.user_id == _u.user_id)
    .correlate(users)
    .scalar_subquery()
    .label("message_count")
)
_LAST_ACTIVE = (
    select(func.max(_before.c.created_at))
    .where(_before.c.user_id == _u.user_id)
    .correlate(users)
    .scalar_subquery()
    .label("last_active_at")
)
_USER_MATCH = or_(
    func.substr(_u.user_id, 1, bindparam("prefix_len"))
    == bindparam("prefix", type_=Identifier(128)),
    func.lower(_u.user_name).like(bindparam("pattern"), escape="!"),
)
_USER_AFTER = and_(
    _u.created_at <= bindparam("after_at"),
    or_(_u.created_at < bindparam("after_at"), _u.user_id < bindparam("after_id")),
)


def _users(*where: Any) -> Statement:
    return Statement(
        select(*(_u[name] for name in USER_COLUMNS), _SESSION_COUNT, _MESSAGE_COUNT, _LAST_ACTIVE)
        .where(*where)
        .order_by(_u.created_at.desc(), _u.user_id.desc())
        .limit(bindparam("limit"))
    )


# (query given, cursor given) → statement
_LIST_USERS = {
    (False, False): _users(),
    (False, True): _users(_USER_AFTER),
    (True, False): _users(_USER_MATCH),
    (True, True): _users(_USER_AFTER, _USER_MATCH),
}


def _like_pattern(text: str) -> str:
    """Return ``%text%`` for LIKE … ESCAPE '!', A–Z lowered as SQL's lower() does them."""
    escaped = text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return "%" + escaped.translate(_ASCII_LOWER) + "%"


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def list_users(db: Db, query: str | None, limit: int, after: tuple[int, str] | None) -> list[Any]:
    """Return up to ``limit`` users newest first after a keyset position (created_at,
    user_id), those whose id starts with ``query`` or whose name holds it when one is
    given: tuples of USER_COLUMNS, session_count, message_count, last_active_at."""
    params: dict[str, Any] = {"limit": limit}
    if query:
        # SUBSTR counts bytes of a VARBINARY id (MySQL/MariaDB), characters elsewhere.
        params["prefix_len"] = len(query.encode()) if db.caps.binary_ids else len(query)
        params["prefix"] = query
        params["pattern"] = _like_pattern(query)
    if after is not None:
        params["after_at"], params["after_id"] = after
    return db.tuples(_LIST_USERS[bool(query), after is not None], **params)


_TITLE = (
    select(_sessions.c.session_title)
    .where(_sessions.c.user_id == _m.user_id, _sessions.c.session_id == _m.session_id)
    .correlate(chat_messages)
    .scalar_subquery()
    .label("session_title")
)
_QUESTION = (
    select(_before.c.msg)
    .where(
        _before.c.user_id == _m.user_id,
        _before.c.session_id == _m.session_id,
        _before.c.seq < _m.seq,
        _before.c.role == "user",
    )
    .order_by(_before.c.seq.desc())
    .limit(1)
    .correlate(chat_messages)
    .scalar_subquery()
    .label("question")
)
_RATED_ORDER = (_m.rated_at.desc(), _m.user_id.desc(), _m.session_id.desc(), _m.seq.desc())
_RATED_AFTER = and_(
    _m.rated_at <= bindparam("after_at"),
    or_(
        _m.rated_at < bindparam("after_at"),
        _m.user_id < bindparam("after_user"),
        and_(
            _m.user_id == bindparam("after_user"),
            or_(
                _m.session_id < bindparam("after_session"),
                and_(_m.session_id == bindparam("after_session"), _m.seq < bindparam("after_seq")),
            ),
        ),
    ),
)
_FEEDBACK_COLUMNS = (
    _m.user_id,
    _m.session_id,
    _TITLE,
    _m.seq,
    _m.rating,
    _m.comment,
    _m.msg,
    _QUESTION,
    _m.rated_at,
)
_LIST_FEEDBACK: dict[tuple[bool, bool, bool], Statement] = {}


def _feedback(rating: bool, since: bool, after: bool) -> Statement:
    key = (rating, since, after)
    found = _LIST_FEEDBACK.get(key)
    if found is None:
        where: list[ColumnElement[bool]] = [_m.rated_at.is_not(None)]
        if rating:
            where.append(_m.rating == bindparam("rating"))
        if since:
            where.append(_m.rated_at >= bindparam("since"))
        if after:
            where.append(_RATED_AFTER)
        clause = (
            select(*_FEEDBACK_COLUMNS)
            .where(*where)
            .order_by(*_RATED_ORDER)
            .limit(bindparam("limit"))
        )
        found = _LIST_FEEDBACK[key] = Statement(clause)
    return found


def list_feedback(
    db: Db,
    rating: str | None,
    since: int | None,
    limit: int,
    after: tuple[int, str, str, int] | None,
) -> list[Any]:
    """Return up to ``limit`` rated replies, newest rating first, after a keyset position
    (rated_at, user_id, session_id, seq): tuples of (user_id, session_id, session_title,
    seq, rating, comment, msg, question, rated_at)."""
    params: dict[str, Any] = {"limit": limit}
    if rating:
        params["rating"] = rating
    if since is not None:
        params["since"] = since
    if after is not None:
        keys = ("after_at", "after_user", "after_session", "after_seq")
        params.update(zip(keys, after, strict=True))
    statement = _feedback(bool(rating), since is not None, after is not None)
    return db.tuples(statement, **params)


# -- a day's figures ------------------------------------------------------------------------

_DAY_STATEMENTS: dict[tuple[str, int], Statement] = {}


def _day(column: Any, offset: int) -> Any:
    local = column + literal_column(str(offset))
    return (local - local % literal_column(str(DAY_MS))).label("day")


def _by_day(name: str, offset: int) -> Statement:
    """Return a statement of the figures ``name`` grouped by the local day, for a range of
    times where the zone is ``offset`` ms ahead of UTC (a literal: a few per zone, each
    compiled once, and PostgreSQL groups by the select's own expression)."""
    found = _DAY_STATEMENTS.get((name, offset))
    if found is not None:
        return found
    in_range: tuple[BindParameter[Any], ...] = (bindparam("start"), bindparam("end"))
    if name == "messages":
        day = _day(_m.created_at, offset)
        clause = (
            select(day, func.count().label("n"), func.count(_m.user_id.distinct()).label("users"))
            .where(_m.created_at >= in_range[0], _m.created_at < in_range[1])
            .group_by(day)
        )
    elif name == "replies":
        day = _day(_m.created_at, offset)
        clause = (
            select(day, _m.status, func.count().label("n"))
            .where(_m.created_at >= in_range[0], _m.created_at < in_range[1], _m.role == "ai")
            .group_by(day, _m.status)
        )
    elif name == "new_users":
        day = _day(_u.created_at, offset)
        clause = (
            select(day, func.count().label("n"))
            .where(_u.created_at >= in_range[0], _u.created_at < in_range[1])
            .group_by(day)
        )
    else:  # ratings
        day = _day(_m.rated_at, offset)
        clause = (
            select(day, _m.rating, func.count().label("n"))
            .where(
                _m.rated_at.is_not(None),
                _m.rated_at >= in_range[0],
                _m.rated_at < in_range[1],
            )
            .group_by(day, _m.rating)
        )
    found = _DAY_STATEMENTS[name, offset] = Statement(clause)
    return found


DAY_FIGURES = ("messages", "replies", "new_users", "ratings")


def figures_by_day(db: Db, name: str, offset: int, start: int, end: int) -> list[Any]:
    """Return the figures ``name`` (one of DAY_FIGURES) of the times in [start, end), by
    the local day (ms of its midnight as if the zone were UTC, ``offset`` ms ahead):
    messages (day, count, users), replies (day, status, count), new_users (day, count),
    ratings (day, rating, count)."""
    return db.tuples(_by_day(name, offset), start=start, end=end)


_STREAMING = Statement(
    select(_m.created_at, func.coalesce(_m.updated_at, _m.created_at).label("changed_at")).where(
        _m.created_at >= bindparam("start"),
        _m.created_at < bindparam("end"),
        _m.role == "ai",
        _m.status == "streaming",
    )
)
_ACTIVE_USERS = Statement(
    select(func.count(_m.user_id.distinct()).label("n")).where(
        _m.created_at >= bindparam("start"), _m.created_at < bindparam("end")
    )
)
_TOKENS = Statement(
    select(
        _a.day,
        _a.model,
        func.sum(_a.prompt_tokens).label("prompt"),
        func.sum(_a.completion_tokens).label("completion"),
    )
    .where(_a.day >= bindparam("first"), _a.day <= bindparam("last"))
    .group_by(_a.day, _a.model)
)


def streaming_replies(db: Db, start: int, end: int) -> list[Any]:
    """Return (created_at, last change) of the replies created in [start, end) that are
    stored as ``streaming`` (a few: the service tells the stale ones, which read failed)."""
    return db.tuples(_STREAMING, start=start, end=end)


def active_users(db: Db, start: int, end: int) -> int:
    """Return how many users wrote a message in [start, end), each counted once."""
    return int(db.scalar(_ACTIVE_USERS, start=start, end=end) or 0)


def tokens_by_day(db: Db, first: str, last: str) -> list[Any]:
    """Return (day, model, prompt, completion) summed over users, for the days from
    ``first`` to ``last`` (YYYY-MM-DD, both included)."""
    return db.tuples(_TOKENS, first=first, last=last)
