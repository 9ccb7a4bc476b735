"""The session list's index holds every column a page shows (read from the index alone).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_OLD = ("ix_chat_sessions_user_id_updated_at_session_id", ["user_id", "updated_at", "session_id"])
_NEW = (
    "ix_chat_sessions_list",
    ["user_id", "updated_at", "session_id", "session_title", "created_at", "chat_count"],
)


def upgrade() -> None:
    op.create_index(_NEW[0], "chat_sessions", _NEW[1])
    op.drop_index(_OLD[0], "chat_sessions")


def downgrade() -> None:
    op.create_index(_OLD[0], "chat_sessions", _OLD[1])
    op.drop_index(_NEW[0], "chat_sessions")
