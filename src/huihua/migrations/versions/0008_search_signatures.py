"""Search (API.md §5.3, /search_chats): each message's search signature, and the index a
search walks, ``(user_id, created_at, session_id, seq, search_0 … search_15)``.

The messages stored before get their signature here, a batch of rows at a time in key
order (store/signature.py computes it from role and msg, as every write does), before the
index is built.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from huihua.store import signature
from huihua.store.tables import chat_messages, users

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BATCH = 2000
_INDEX = "ix_chat_messages_search"
_m = chat_messages.c
_u = users.c


def upgrade() -> None:
    for name in signature.NAMES:
        op.add_column("chat_messages", sa.Column(name, sa.BigInteger(), nullable=True))
    _backfill(op.get_bind())
    op.create_index(
        _INDEX, "chat_messages", ["user_id", "created_at", "session_id", "seq", *signature.NAMES]
    )


def _backfill(conn: sa.Connection) -> None:
    # User by user, then by (session_id, seq) within the user: range scans of the primary
    # key on every engine (a row-value comparison over the whole key is not one on MariaDB).
    users = sa.select(_u.user_id).order_by(_u.user_id).limit(BATCH)
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
        query = users if last_user is None else users.where(_u.user_id > last_user)
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
                        {"k_user": user_id, "k_session": s, "k_seq": n}
                        | signature.columns(role, msg)
                        for s, n, role, msg in rows
                    ],
                )
                params = {"user": user_id, "session": rows[-1][0], "seq": rows[-1][1]}
                query = page.where(later)
        last_user = ids[-1]


def downgrade() -> None:
    op.drop_index(_INDEX, "chat_messages")
    for name in reversed(signature.NAMES):
        op.drop_column("chat_messages", name)
