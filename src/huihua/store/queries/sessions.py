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

# A session's key, and the UPDATE that takes its next seqs (messages.py builds on both):
# ``n`` messages are appended, the last of them at the new ``last_seq``.
SESSION_KEY = and_(matches(_s.user_id), matches(_s.session_id))


def _bump(n: Any) -> Any:
    return (
        update(chat_sessions)
        .where(_s.user_id == bindparam("key_user"), _s.session_id == bindparam("key_session"))
        .values(
            chat_count=_s.chat_count + n,
            last_seq=_s.last_seq + n,
            updated_at=bindparam("now"),
            session_title=func.coalesce(_s.session_title, bindparam("title")),
        )
    )


BUMP = _bump(literal_column("1"))  # one message: no parameter to bind
_BUMPS = {
    1: BUMP,
    None: _bump(bindparam("n")),
}
_BUMP_RETURNING = {n: Statement(b.returning(_s.last_seq)) for n, b in _BUMPS.items()}
# MySQL/MariaDB have no UPDATE … RETURNING; LAST_INSERT_ID(expr) brings the new seq back
# in the UPDATE's own answer, one round trip rather than a second SELECT.
_BUMP_FOR_ID = {
    1: Statement(BUMP.values(last_seq=func.last_insert_id(_s.last_seq + literal_column("1")))),
    None: Statement(
        _BUMPS[None].values(last_seq=func.last_insert_id(_s.last_seq + bindparam("n")))
    ),
}
_BUMP_PLAIN = {n: Statement(b) for n, b in _BUMPS.items()}
_LAST_SEQ = Statement(select(_s.last_seq).where(SESSION_KEY))
_SESSION_EXISTS = Statement(select(_s.chat_count).where(SESSION_KEY))
_LOCK_SESSION = Statement(select(_s.last_seq).where(SESSION_KEY).with_for_update())
_TOUCH = Statement(update(chat_sessions).where(SESSION_KEY).values(updated_at=bindparam("now")))
_RENAME = Statement(
    update(chat_sessions).where(SESSION_KEY).values(session_title=bindparam("title"))
)
_UNCOUNT = Statement(
    update(chat_sessions).where(SESSION_KEY).values(chat_count=_s.chat_count - bindparam("deleted"))
)
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


def bump_session(
    db: Db, user_id: str, session_id: str, now: int, title: str | None, n: int = 1
) -> Any:
    """Take the next ``n`` seqs of a session and touch it; return the last of them, or None
    if the session is absent.

    The row update locks the session, so concurrent appends queue up and each gets its own
    seqs. ``title`` fills a session that has none yet.
    """
    params = {"key_user": user_id, "key_session": session_id, "now": now, "title": title}
    key: int | None = 1
    if n != 1:
        key = None
        params["n"] = n
    if db.caps.update_returning:
        return db.scalar(_BUMP_RETURNING[key], **params)
    if db.caps.bump_returns_last_insert_id:
        touched, seq = db.run_for_id(_BUMP_FOR_ID[key], **params)
        return seq if touched else None
    if db.run(_BUMP_PLAIN[key], **params) == 0:
        return None
    return db.scalar(_LAST_SEQ, user_id=user_id, session_id=session_id)


def insert_session(
    db: Db, user_id: str, session_id: str, title: str | None, now: int, n: int = 1
) -> None:
    """Create a session holding ``n`` messages; a concurrent twin raises an IntegrityError."""
    db.run(
        _INSERT_SESSION,
        user_id=user_id,
        session_id=session_id,
        session_title=title,
        chat_count=n,
        last_seq=n,
        created_at=now,
        updated_at=now,
    )


def session_exists(db: Db, user_id: str, session_id: str) -> bool:
    """Return whether the user has this session."""
    return db.row(_SESSION_EXISTS, user_id=user_id, session_id=session_id) is not None


def lock_session(db: Db, user_id: str, session_id: str) -> bool:
    """Lock a session's row for the rest of the transaction (before any of its messages, as
    an append does); return whether it exists."""
    return db.row(_LOCK_SESSION, user_id=user_id, session_id=session_id) is not None


def touch_session(db: Db, user_id: str, session_id: str, now: int) -> None:
    """Move a session to the top of the list (a message of it changed)."""
    db.run(_TOUCH, user_id=user_id, session_id=session_id, now=now)


def rename_session(db: Db, user_id: str, session_id: str, title: str) -> bool:
    """Give a session its title (its place in the list stays); return whether it exists."""
    return db.run(_RENAME, user_id=user_id, session_id=session_id, title=title) > 0


def uncount_messages(db: Db, user_id: str, session_id: str, deleted: int) -> None:
    """Take ``deleted`` messages off a session's ``chat_count`` (its ``last_seq`` stays)."""
    db.run(_UNCOUNT, user_id=user_id, session_id=session_id, deleted=deleted)


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
