"""Sessions: taking a message's ``seq``, creating, listing (keyset pages), pinning,
deleting.

The list has two phases: the pinned sessions, most recently pinned first, walk the index
``(user_id, pinned_at, session_id)`` (a few rows a user); then the others, most recently
active first, walk ``(user_id, updated_at, session_id, …, pinned_at)``, which holds every
column the page shows. A keyset position names its phase (:func:`list_position`), so a
page that starts in the pinned phase and is not filled there goes on into the other, and
every page is one or two range scans at any depth.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    null,
    or_,
    select,
    update,
)

from huihua.store.queries._common import insert_row, matches
from huihua.store.queries.replies import forget_replies
from huihua.store.search.rows import delete_digest
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
_SESSION_TITLE = Statement(select(_s.session_title).where(SESSION_KEY))
_SESSION_EXISTS = Statement(select(_s.chat_count).where(SESSION_KEY))
_LOCK_SESSION = Statement(select(_s.last_seq).where(SESSION_KEY).with_for_update())
_TOUCH = Statement(update(chat_sessions).where(SESSION_KEY).values(updated_at=bindparam("now")))
# A message's text changed: the digest no longer holds it (nor any later one of the
# session), and a digest made meanwhile sees the edit (store/search/rows.py).
_TOUCH_EDITED = Statement(
    update(chat_sessions)
    .where(SESSION_KEY)
    .values(
        updated_at=bindparam("now"),
        digested_seq=case(
            (_s.digested_seq >= bindparam("seq"), bindparam("seq") - literal_column("1")),
            else_=_s.digested_seq,
        ),
        search_edits=_s.search_edits + literal_column("1"),
    )
)
_RENAME = Statement(
    update(chat_sessions).where(SESSION_KEY).values(session_title=bindparam("title"))
)
# Pinning again keeps the first pin's time: the session keeps its place among the pinned.
_PIN = Statement(
    update(chat_sessions)
    .where(SESSION_KEY)
    .values(pinned_at=func.coalesce(_s.pinned_at, bindparam("now")))
)
_UNPIN = Statement(update(chat_sessions).where(SESSION_KEY).values(pinned_at=null()))
# (counted as an edit too: a search digest made meanwhile does not claim the session)
_UNCOUNT = Statement(
    update(chat_sessions)
    .where(SESSION_KEY)
    .values(
        chat_count=_s.chat_count - bindparam("deleted"),
        search_edits=_s.search_edits + literal_column("1"),
    )
)
_INSERT_SESSION = insert_row(chat_sessions)
_LIST_COLUMNS = (
    _s.session_id,
    _s.session_title,
    _s.created_at,
    _s.updated_at,
    _s.chat_count,
    _s.pinned_at,
)


def _phase(at: Any, *where: Any) -> tuple[Statement, Statement]:
    """Return one phase of the list, ordered by (``at``, session_id) descending: its first
    page, and its page after a keyset position. In the second, the first term bounds the
    index range scan on every engine; the next excludes the rows of the same time that were
    already sent."""
    order = (at.desc(), _s.session_id.desc())
    base = select(*_LIST_COLUMNS).where(matches(_s.user_id), *where)
    first = base.order_by(*order).limit(bindparam("limit"))
    after = base.where(
        at <= bindparam("after_at"),
        or_(at < bindparam("after_at"), _s.session_id < bindparam("after_id")),
    )
    return Statement(first), Statement(after.order_by(*order).limit(bindparam("limit")))


_PINNED_FIRST, _PINNED_AFTER = _phase(_s.pinned_at, _s.pinned_at.is_not(None))
_LIST_FIRST, _LIST_AFTER = _phase(_s.updated_at, _s.pinned_at.is_(None))
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
        pinned_at=None,
        digested_seq=0,
        search_edits=0,
    )


def session_exists(db: Db, user_id: str, session_id: str) -> bool:
    """Return whether the user has this session."""
    return db.row(_SESSION_EXISTS, user_id=user_id, session_id=session_id) is not None


def session_title(db: Db, user_id: str, session_id: str) -> str | None:
    """Return the session's title ("" when it has none), or None when it does not exist."""
    row = db.row(_SESSION_TITLE, user_id=user_id, session_id=session_id)
    return None if row is None else (row.session_title or "")


def lock_session(db: Db, user_id: str, session_id: str) -> bool:
    """Lock a session's row for the rest of the transaction (before any of its messages, as
    an append does); return whether it exists."""
    return db.row(_LOCK_SESSION, user_id=user_id, session_id=session_id) is not None


def touch_session(
    db: Db, user_id: str, session_id: str, now: int, *, edited_seq: int | None = None
) -> None:
    """Move a session to the top of the list (a message of it changed; ``edited_seq``: the
    text of that message)."""
    if edited_seq is None:
        db.run(_TOUCH, user_id=user_id, session_id=session_id, now=now)
    else:
        db.run(_TOUCH_EDITED, user_id=user_id, session_id=session_id, now=now, seq=edited_seq)


def rename_session(db: Db, user_id: str, session_id: str, title: str) -> bool:
    """Give a session its title (its place in the list stays); return whether it exists."""
    return db.run(_RENAME, user_id=user_id, session_id=session_id, title=title) > 0


def pin_session(db: Db, user_id: str, session_id: str, now: int | None) -> bool:
    """Pin a session at ``now`` (one already pinned keeps its time), or unpin it with None;
    return whether it exists. Its ``updated_at`` stays."""
    if now is None:
        return db.run(_UNPIN, user_id=user_id, session_id=session_id) > 0
    return db.run(_PIN, user_id=user_id, session_id=session_id, now=now) > 0


def uncount_messages(db: Db, user_id: str, session_id: str, deleted: int) -> None:
    """Take ``deleted`` messages off a session's ``chat_count`` (its ``last_seq`` stays)."""
    db.run(_UNCOUNT, user_id=user_id, session_id=session_id, deleted=deleted)


def list_sessions(
    db: Db, user_id: str, limit: int, after: tuple[bool, int, str] | None
) -> list[Any]:
    """Return up to ``limit`` sessions in the list's order after a keyset position (from
    :func:`list_position`): the pinned ones, most recently pinned first, then the others,
    most recently active first. Tuples of (session_id, session_title, created_at,
    updated_at, chat_count, pinned_at)."""
    rows: list[Any] = []
    if after is None or after[0]:
        if after is None:
            rows = db.tuples(_PINNED_FIRST, user_id=user_id, limit=limit)
        else:
            rows = db.tuples(
                _PINNED_AFTER, user_id=user_id, after_at=after[1], after_id=after[2], limit=limit
            )
        if len(rows) >= limit:
            return rows
        after = None  # the pinned phase is done: the others from their first
    if after is None:
        rest = db.tuples(_LIST_FIRST, user_id=user_id, limit=limit - len(rows))
    else:
        rest = db.tuples(
            _LIST_AFTER,
            user_id=user_id,
            after_at=after[1],
            after_id=after[2],
            limit=limit - len(rows),
        )
    return [*rows, *rest]


def list_position(row: Any) -> tuple[bool, int, str]:
    """Return the keyset position of a row of :func:`list_sessions`: (pinned, the time it
    is ordered by in its phase, session_id)."""
    if row[5] is not None:
        return True, row[5], row[0]
    return False, row[3], row[0]


def delete_session(db: Db, user_id: str, session_id: str) -> bool:
    """Delete a session and its messages, and the user's search digest (it holds what they
    held); return whether the session existed."""
    db.run(_DELETE_SESSION_MESSAGES, user_id=user_id, session_id=session_id)
    existed = db.run(_DELETE_SESSION, user_id=user_id, session_id=session_id) > 0
    delete_digest(db, user_id)
    forget_replies(db, user_id, session_id)
    return existed


def delete_all_sessions(db: Db, user_id: str) -> int:
    """Delete every session and message of a user, and their search digest; return how many
    sessions there were."""
    db.run(_DELETE_USER_MESSAGES, user_id=user_id)
    deleted = db.run(_DELETE_USER_SESSIONS, user_id=user_id)
    delete_digest(db, user_id)
    forget_replies(db, user_id)
    return deleted
