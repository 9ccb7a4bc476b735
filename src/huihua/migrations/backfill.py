"""Making every stored message's search signature again (migrations 0009 and back).

User by user, then by (session_id, seq) within the user: range scans of the primary key on
every engine (a row-value comparison over the whole key is not one on MariaDB). Only
``user`` and ``ai`` messages have a signature; the others keep NULL columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from huihua.store import signature
from huihua.store.tables import chat_messages, users

BATCH = 2000
INDEX = "ix_chat_messages_search"
INDEX_COLUMNS = ["user_id", "created_at", "session_id", "seq", *signature.NAMES]
_m = chat_messages.c
_u = users.c


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
        .values({name: sa.bindparam(name) for name in signature.NAMES})
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
