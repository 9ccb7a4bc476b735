"""All of huihua's SQL, as functions of a connection. None of them commits.

Every statement names one user, and every read is a range scan on a key that starts with
``user_id``: a page of sessions walks ``(user_id, updated_at, session_id)``, a page of
messages walks the primary key ``(user_id, session_id, seq)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from huihua.store.tables import chat_messages, chat_sessions, idempotency_records, users

# -- idempotency records ------------------------------------------------------------------


def get_idempotency(conn: Connection, user_id: str, request_id: str) -> Row[Any] | None:
    """Return (fingerprint, response) recorded for this request id, or None."""
    t = idempotency_records
    return conn.execute(
        select(t.c.fingerprint, t.c.response).where(
            t.c.user_id == user_id, t.c.request_id == request_id
        )
    ).first()


def put_idempotency(
    conn: Connection, user_id: str, request_id: str, fingerprint: str, response: str, now: int
) -> None:
    """Record the reply to a write; a concurrent twin makes this raise IntegrityError."""
    conn.execute(
        insert(idempotency_records).values(
            user_id=user_id,
            request_id=request_id,
            fingerprint=fingerprint,
            response=response,
            created_at=now,
        )
    )


# -- users --------------------------------------------------------------------------------


def get_user(conn: Connection, user_id: str) -> Row[Any] | None:
    """Return the user's row, or None."""
    return conn.execute(select(users).where(users.c.user_id == user_id)).first()


def user_exists(conn: Connection, user_id: str) -> bool:
    """Return whether the user exists."""
    found = conn.execute(select(users.c.user_id).where(users.c.user_id == user_id)).first()
    return found is not None


def insert_user(conn: Connection, user_id: str, fields: dict[str, Any], now: int) -> None:
    """Create a user; a concurrent twin makes this raise IntegrityError."""
    conn.execute(insert(users).values(user_id=user_id, created_at=now, updated_at=now, **fields))


def update_user(conn: Connection, user_id: str, fields: dict[str, Any], now: int) -> None:
    """Set the given fields of a user."""
    conn.execute(update(users).where(users.c.user_id == user_id).values(updated_at=now, **fields))


# -- sessions -----------------------------------------------------------------------------


def bump_session(
    conn: Connection, user_id: str, session_id: str, now: int, title: str | None
) -> int | None:
    """Take the next ``seq`` of a session and touch it; return the seq, or None if absent.

    The row update locks the session, so concurrent appends queue up and each gets its own
    seq. ``title`` fills an untitled session.
    """
    t = chat_sessions
    where = and_(t.c.user_id == user_id, t.c.session_id == session_id)
    values: dict[str, Any] = {"chat_count": t.c.chat_count + 1, "updated_at": now}
    if title is not None:
        values["session_title"] = func.coalesce(t.c.session_title, title)
    stmt = update(t).where(where).values(**values)
    if conn.dialect.update_returning:
        return conn.execute(stmt.returning(t.c.chat_count)).scalar()
    if conn.execute(stmt).rowcount == 0:
        return None
    return conn.execute(select(t.c.chat_count).where(where)).scalar()


def insert_session(
    conn: Connection, user_id: str, session_id: str, title: str | None, now: int
) -> None:
    """Create a session holding one message; a concurrent twin raises IntegrityError."""
    conn.execute(
        insert(chat_sessions).values(
            user_id=user_id,
            session_id=session_id,
            session_title=title,
            chat_count=1,
            created_at=now,
            updated_at=now,
        )
    )


def get_session(conn: Connection, user_id: str, session_id: str) -> Row[Any] | None:
    """Return the session's row, or None."""
    t = chat_sessions
    return conn.execute(
        select(t).where(t.c.user_id == user_id, t.c.session_id == session_id)
    ).first()


def list_sessions(
    conn: Connection, user_id: str, limit: int, after: tuple[int, str] | None
) -> Sequence[Row[Any]]:
    """Return up to ``limit`` sessions, most recently active first, after a keyset position."""
    t = chat_sessions
    stmt = select(
        t.c.session_id, t.c.session_title, t.c.created_at, t.c.updated_at, t.c.chat_count
    ).where(t.c.user_id == user_id)
    if after is not None:
        updated_at, session_id = after
        stmt = stmt.where(
            or_(
                t.c.updated_at < updated_at,
                and_(t.c.updated_at == updated_at, t.c.session_id < session_id),
            )
        )
    stmt = stmt.order_by(t.c.updated_at.desc(), t.c.session_id.desc()).limit(limit)
    return conn.execute(stmt).all()


def delete_session(conn: Connection, user_id: str, session_id: str) -> bool:
    """Delete a session and its messages; return whether it existed."""
    m, s = chat_messages, chat_sessions
    conn.execute(delete(m).where(m.c.user_id == user_id, m.c.session_id == session_id))
    gone = conn.execute(delete(s).where(s.c.user_id == user_id, s.c.session_id == session_id))
    return gone.rowcount > 0


def delete_all_sessions(conn: Connection, user_id: str) -> int:
    """Delete every session and message of a user; return how many sessions there were."""
    conn.execute(delete(chat_messages).where(chat_messages.c.user_id == user_id))
    return conn.execute(delete(chat_sessions).where(chat_sessions.c.user_id == user_id)).rowcount


# -- messages -----------------------------------------------------------------------------


def insert_message(
    conn: Connection,
    user_id: str,
    session_id: str,
    seq: int,
    role: str,
    msg: str,
    meta: str | None,
    now: int,
) -> None:
    """Store one message at its seq."""
    conn.execute(
        insert(chat_messages).values(
            user_id=user_id,
            session_id=session_id,
            seq=seq,
            role=role,
            msg=msg,
            meta=meta,
            created_at=now,
        )
    )


def list_messages(
    conn: Connection, user_id: str, session_id: str, limit: int, before_seq: int | None
) -> Sequence[Row[Any]]:
    """Return the newest ``limit`` messages below ``before_seq``, newest first."""
    m = chat_messages
    stmt = select(m.c.role, m.c.msg, m.c.seq, m.c.created_at, m.c.meta).where(
        m.c.user_id == user_id, m.c.session_id == session_id
    )
    if before_seq is not None:
        stmt = stmt.where(m.c.seq < before_seq)
    return conn.execute(stmt.order_by(m.c.seq.desc()).limit(limit)).all()
