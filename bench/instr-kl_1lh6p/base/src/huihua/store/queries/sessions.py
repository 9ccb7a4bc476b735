"""Sessions: taking a message's ``seq``, creating, listing (keyset pages), deleting.

A page of sessions walks the index ``(user_id, updated_at, session_id, …)``, which holds
every column the page shows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, delete, func, literal_column, or_, select, update

from huihua.store.queries._common import insert_row, matches
from huihua.store.sql import Db, Statement
from huihua.store.tables import chat_messages, chat_sessions

_s = chat_sessions.c
_m = chat_messages.c

# A session's key, and the UPDATE that takes its next seq (messages.py builds on both).
SESSION_KEY = and_(matches(_s.user_id), matches(_s.session_id))
BUMP = (
    update(chat_sessions)
    .where(_s.user_id == bindparam("key_user"), _s.session_id == bindparam("key_session"))
    .values(
        chat_count=_s.chat_count + literal_column("1"),
        updated_at=bindparam("now"),
        session_title=func.coalesce(_s.session_title, bindparam("title")),
    )
)
_BUMP_RETURNING = Statement(BUMP.returning(_s.chat_count))
# MySQL/MariaDB have no UPDATE … RETURNING; LAST_INSERT_ID(expr) brings the new count back
# in the UPDATE's own answer, one round trip rather than a second SELECT.
_BUMP_FOR_ID = Statement(
    BUMP.values(chat_count=func.last_insert_id(_s.chat_count + literal_column("1")))
)
_BUMP_PLAIN = Statement(BUMP)
_CHAT_COUNT = Statement(select(_s.chat_count).where(SESSION_KEY))
_INSERT_SESSION = insert_row(chat_sessions)
_LIST_COLUMNS = (_s.session_id, _s.session_title, _s.created_at, _s.updated_at, _s.chat_count)
_ORDER = (_s.updated_at.desc(), _s.session_id.desc())
_LIST_FIRST = Statement(
    select(*_LIST_COLUMNS).where(matches(_s.user_id)).order_by(*_ORDER).limit(bindparam("limit"))
)
# Keyset: rows strictly after (updated_at, session_id) in (desc, desc) order. The first
# term bounds the index range scan on every engine; the second excludes the rows of the
# same timestamp that were already sent.
_LIST_AFTER = Statement(
    select(*_LIST_COLUMNS)
    .where(
        matches(_s.user_id),
        _s.updated_at <= bindparam("after_at"),
        or_(_s.updated_at < bindparam("after_at"), _s.session_id < bindparam("after_id")),
    )
    .order_by(*_ORDER)
    .limit(bindparam("limit"))
)
_DELETE_SESSION_MESSAGES = Statement(
    delete(chat_messages).where(matches(_m.user_id), matches(_m.session_id))
)
_DELETE_SESSION = Statement(delete(chat_sessions).where(SESSION_KEY))
_DELETE_USER_MESSAGES = Statement(delete(chat_messages).where(matches(_m.user_id)))
_DELETE_USER_SESSIONS = Statement(delete(chat_sessions).where(matches(_s.user_id)))


def bump_session(db: Db, user_id: str, session_id: str, now: int, title: str | None) -> Any:
    """Take the next ``seq`` of a session and touch it; return the seq, or None if absent.

    The row update locks the session, so concurrent appends queue up and each gets its own
    seq. ``title`` fills a session that has none yet.
    """
    params = {"key_user": user_id, "key_session": session_id, "now": now, "title": title}
    if db.caps.update_returning:
        return db.scalar(_BUMP_RETURNING, **params)
    if db.caps.bump_returns_last_insert_id:
        touched, seq = db.run_for_id(_BUMP_FOR_ID, **params)
        return seq if touched else None
    if db.run(_BUMP_PLAIN, **params) == 0:
        return None
    return db.scalar(_CHAT_COUNT, user_id=user_id, session_id=session_id)


def insert_session(db: Db, user_id: str, session_id: str, title: str | None, now: int) -> None:
    """Create a session holding one message; a concurrent twin raises an IntegrityError."""
    db.run(
        _INSERT_SESSION,
        user_id=user_id,
        session_id=session_id,
        session_title=title,
        chat_count=1,
        created_at=now,
        updated_at=now,
    )


def list_sessions(db: Db, user_id: str, limit: int, after: tuple[int, str] | None) -> list[Any]:
    """Return up to ``limit`` sessions, most recently active first, after a keyset position:
    tuples of (session_id, session_title, created_at, updated_at, chat_count)."""
    if after is None:
        return db.tuples(_LIST_FIRST, user_id=user_id, limit=limit)
    return db.tuples(
        _LIST_AFTER, user_id=user_id, after_at=after[0], after_id=after[1], limit=limit
    )


def delete_session(db: Db, user_id: str, session_id: str) -> bool:
    """Delete a session and its messages; return whether it existed."""
    db.run(_DELETE_SESSION_MESSAGES, user_id=user_id, session_id=session_id)
    return db.run(_DELETE_SESSION, user_id=user_id, session_id=session_id) > 0


def delete_all_sessions(db: Db, user_id: str) -> int:
    """Delete every session and message of a user; return how many sessions there were."""
    db.run(_DELETE_USER_MESSAGES, user_id=user_id)
    return db.run(_DELETE_USER_SESSIONS, user_id=user_id)
