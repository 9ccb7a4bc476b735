"""Changing stored messages: one locked for /update_chat, its new fields, its rating, and
deleting one or a tail (/delete_chat).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, delete, select, update

from huihua.store.queries._common import matches
from huihua.store.queries.messages import CHANGEABLE, MESSAGE_FIELDS
from huihua.store.queries.replies import forget_replies
from huihua.store.search.rows import delete_digest
from huihua.store.sql import Db, Statement
from huihua.store.tables import chat_messages

_m = chat_messages.c
_MESSAGE_COLUMNS = tuple(_m[name] for name in MESSAGE_FIELDS)
_MESSAGE_KEY = and_(matches(_m.user_id), matches(_m.session_id), matches(_m.seq))
_GET_FOR_UPDATE = Statement(select(*_MESSAGE_COLUMNS).where(_MESSAGE_KEY).with_for_update())
_UPDATES: dict[tuple[str, ...], Statement] = {}
_DELETE_ONE = Statement(delete(chat_messages).where(_MESSAGE_KEY))
_DELETE_FROM = Statement(
    delete(chat_messages).where(
        matches(_m.user_id), matches(_m.session_id), _m.seq >= bindparam("seq")
    )
)


def message_for_update(db: Db, user_id: str, session_id: str, seq: int) -> Any:
    """Return one message (a named row of :data:`MESSAGE_FIELDS`), locked until the
    transaction ends; None: no such message."""
    return db.row(_GET_FOR_UPDATE, user_id=user_id, session_id=session_id, seq=seq)


def update_message(
    db: Db,
    user_id: str,
    session_id: str,
    seq: int,
    now: int,
    values: dict[str, Any],
) -> None:
    """Set the fields ``values`` names (of :data:`CHANGEABLE`) and ``updated_at`` of a
    message."""
    if not set(values) <= set(CHANGEABLE):
        raise ValueError(f"not a field update_chat changes: {sorted(values)}")
    names = tuple(sorted(values))
    statement = _UPDATES.get(names)
    if statement is None:
        statement = _UPDATES[names] = Statement(
            update(chat_messages)
            .where(_MESSAGE_KEY)
            .values({name: bindparam(f"new_{name}") for name in (*names, "updated_at")})
        )
    new = {f"new_{name}": value for name, value in values.items()}
    db.run(statement, user_id=user_id, session_id=session_id, seq=seq, new_updated_at=now, **new)


_ROLE = Statement(select(_m.role).where(_MESSAGE_KEY))
_RATE = Statement(
    update(chat_messages)
    .where(_MESSAGE_KEY)
    .values(
        rating=bindparam("rating"), comment=bindparam("comment"), rated_at=bindparam("rated_at")
    )
)


def message_role(db: Db, user_id: str, session_id: str, seq: int) -> str | None:
    """Return a message's role; None: no such message."""
    role: str | None = db.scalar(_ROLE, user_id=user_id, session_id=session_id, seq=seq)
    return role


def rate_message(
    db: Db,
    user_id: str,
    session_id: str,
    seq: int,
    rating: str | None,
    comment: str | None,
    now: int,
) -> None:
    """Set a message's feedback, rated at ``now`` (None clears it, and its time)."""
    rated_at = None if rating is None else now
    params = {"rating": rating, "comment": comment, "rated_at": rated_at}
    db.run(_RATE, user_id=user_id, session_id=session_id, seq=seq, **params)


def delete_messages(db: Db, user_id: str, session_id: str, seq: int, *, later: bool) -> int:
    """Delete the message at ``seq`` (``later``: and every later one), and the user's search
    digest (it holds what they held: the next searches make it again); return how many."""
    statement = _DELETE_FROM if later else _DELETE_ONE
    deleted = db.run(statement, user_id=user_id, session_id=session_id, seq=seq)
    delete_digest(db, user_id)
    forget_replies(db, user_id, session_id, seq, later=later)
    return deleted
