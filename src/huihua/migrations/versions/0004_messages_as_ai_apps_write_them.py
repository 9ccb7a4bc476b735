"""Messages as AI apps write them (docs/api.md §5.1): their new fields, and a session's last seq.

``chat_sessions.last_seq`` is the highest seq ever given (until now ``chat_count`` was
both); the sessions stored before take it from ``chat_count``, which equalled it while no
message could be deleted. Every new message column is NULL when not set.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from huihua.store.tables import long_text

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_MESSAGE_COLUMNS = (
    ("parts", sa.Text),
    ("reasoning", long_text),
    ("tool_calls", long_text),
    ("tool_call_id", lambda: sa.String(128)),
    ("name", lambda: sa.String(128)),
    ("status", lambda: sa.String(16)),
    ("updated_at", sa.BigInteger),
)


def upgrade() -> None:
    op.add_column(
        "chat_sessions",
        sa.Column("last_seq", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.execute("UPDATE chat_sessions SET last_seq = chat_count")
    for name, kind in _MESSAGE_COLUMNS:
        op.add_column("chat_messages", sa.Column(name, kind(), nullable=True))


def downgrade() -> None:
    for name, _ in reversed(_MESSAGE_COLUMNS):
        op.drop_column("chat_messages", name)
    op.drop_column("chat_sessions", "last_seq")
