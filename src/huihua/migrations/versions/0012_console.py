"""The operator's console (docs/api.md §9): when a reply was rated (``rated_at``), and the
indexes its reads across users walk: users newest first, the messages of a day, the rated
replies newest first, the tokens of a day.

A reply rated before this revision is taken as rated at its last change (or its creation).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

RATED_ONLY = sa.text("rated_at IS NOT NULL")


def upgrade() -> None:
    op.add_column("chat_messages", sa.Column("rated_at", sa.BigInteger, nullable=True))
    op.execute(
        "UPDATE chat_messages SET rated_at = COALESCE(updated_at, created_at) "
        "WHERE rating IS NOT NULL"
    )
    op.create_index("ix_users_newest", "users", ["created_at", "user_id", "user_name"])
    op.create_index(
        "ix_chat_messages_day", "chat_messages", ["created_at", "user_id", "role", "status"]
    )
    op.create_index(
        "ix_chat_messages_rated",
        "chat_messages",
        ["rated_at", "user_id", "session_id", "seq", "rating"],
        sqlite_where=RATED_ONLY,
        postgresql_where=RATED_ONLY,
    )
    op.create_index(
        "ix_ai_usage_day", "ai_usage", ["day", "model", "prompt_tokens", "completion_tokens"]
    )


def downgrade() -> None:
    op.drop_index("ix_ai_usage_day", "ai_usage")
    op.drop_index("ix_chat_messages_rated", "chat_messages")
    op.drop_index("ix_chat_messages_day", "chat_messages")
    op.drop_index("ix_users_newest", "users")
    op.drop_column("chat_messages", "rated_at")
