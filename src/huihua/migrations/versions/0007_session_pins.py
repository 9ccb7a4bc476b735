"""Pinned sessions (docs/api.md §5.4, /pin_session): when a session was pinned, and the indexes
that list pinned sessions first.

``chat_sessions.pinned_at`` is NULL for a session that is not pinned. The pinned phase of
the list walks ``(user_id, pinned_at, session_id)``; the unpinned phase still reads from the
list index alone, which now holds ``pinned_at`` too (dropped and made again: an index's
columns cannot be changed in place).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_LIST = "ix_chat_sessions_list"
_LIST_COLUMNS = ["user_id", "updated_at", "session_id", "session_title", "created_at", "chat_count"]
_PINNED = ("ix_chat_sessions_user_id_pinned_at_session_id", ["user_id", "pinned_at", "session_id"])


def upgrade() -> None:
    op.add_column("chat_sessions", sa.Column("pinned_at", sa.BigInteger, nullable=True))
    op.create_index(_PINNED[0], "chat_sessions", _PINNED[1])
    op.drop_index(_LIST, "chat_sessions")
    op.create_index(_LIST, "chat_sessions", [*_LIST_COLUMNS, "pinned_at"])


def downgrade() -> None:
    op.drop_index(_LIST, "chat_sessions")
    op.create_index(_LIST, "chat_sessions", _LIST_COLUMNS)
    op.drop_index(_PINNED[0], "chat_sessions")
    op.drop_column("chat_sessions", "pinned_at")
