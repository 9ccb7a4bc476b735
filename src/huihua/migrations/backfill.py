"""The search signatures stored with each message from 0008 to 0012, and making them
again (migrations 0009 and back, and 0013's downgrade). Since 0013 a message stores none:
the digest's slices hold the signatures (store/search/).

User by user, then by (session_id, seq) within the user: range scans of the primary key on
every engine (a row-value comparison over the whole key is not one on MariaDB). Only
``user`` and ``ai`` messages have a signature; the others keep NULL columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from huihua.store.search import signature
from huihua.store.tables import users

BATCH = 2000
NAMES = tuple(f"search_{i}" for i in range(signature.COLUMNS))
INDEX = "ix_chat_messages_search"
INDEX_COLUMNS = ["user_id", "created_at", "session_id", "seq", *NAMES]
# The table as these migrations knew it: the key, role and msg, and the signature columns.
chat_messages = sa.table(
    "chat_messages",
    *(sa.column(name) for name in ("user_id", "session_id", "seq", "role", "msg")),
    *(sa.column(name, sa.BigInteger) for name in NAMES),
)
_m = chat_messages.c
_u = users.c


def columns(role: str, msg: str) -> dict[str, Any]:
    """A message's signature columns by name (all None unless ``user`` or ``ai``), as 0009
    to 0012 stored them."""
    if role not in signature.SEARCHED_ROLES:
        return dict.fromkeys(NAMES)
    return dict(zip(NAMES, signature.signature(msg), strict=True))


def signatures(conn: sa.Connection, columns: Callable[[str, str], dict[str, Any]]) -> None:
    """Set every ``user`` and ``ai`` message's signature columns to ``columns(role, msg)``."""
    users_page = sa.select(_u.user_id).order_by(_u.user_id).limit(BATCH)
    page = (
        sa.select(_m.session_id, _m.seq, _m.role, _m.msg)
        .where(_m.user_id == sa.bindparam("user"), _m.role.in_(signature.SEARCHED_ROLES))
        .order_by(_m.session_id, _m.seq)
        .limit(BATCH)
    )
    later = sa.or_(
        _m.session_id > sa.bindparam("session"),
        sa.and_(_m.session_id == sa.bindparam("session"), _m.seq > sa.bindparam("seq")),
    )
    update = (
        sa.update(chat_messages)
        .where(
            _m.user_id == sa.bindparam("k_user"),
            _m.session_id == sa.bindparam("k_session"),
            _m.seq == sa.bindparam("k_seq"),
        )
        .values({name: sa.bindparam(name) for name in NAMES})
    )
    last_user = None
    while True:
        query = users_page if last_user is None else users_page.where(_u.user_id > last_user)
        ids = conn.execute(query).scalars().all()
        if not ids:
            return
        for user_id in ids:
            params: dict[str, object] = {"user": user_id}
            query = page
            while rows := conn.execute(query, params).all():
                conn.execute(
                    update,
                    [
                        {"k_user": user_id, "k_session": s, "k_seq": n} | columns(role, msg)
                        for s, n, role, msg in rows
                    ],
                )
                params = {"user": user_id, "session": rows[-1][0], "seq": rows[-1][1]}
                query = page.where(later)
        last_user = ids[-1]
