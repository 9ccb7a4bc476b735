"""The first schema: users, chat_sessions, chat_messages, idempotency_records.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from huihua.store.tables import MYSQL_TABLE_OPTIONS, Identifier, long_text

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", Identifier(128), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("profile", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_users"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "chat_sessions",
        sa.Column("user_id", Identifier(128), nullable=False),
        sa.Column("session_id", Identifier(64), nullable=False),
        sa.Column("session_title", sa.String(100), nullable=True),
        sa.Column("chat_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "session_id", name="pk_chat_sessions"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(
        "ix_chat_sessions_user_id_updated_at_session_id",
        "chat_sessions",
        ["user_id", "updated_at", "session_id"],
    )
    op.create_table(
        "chat_messages",
        sa.Column("user_id", Identifier(128), nullable=False),
        sa.Column("session_id", Identifier(64), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("msg", long_text(), nullable=False),
        sa.Column("meta", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "session_id", "seq", name="pk_chat_messages"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "idempotency_records",
        sa.Column("user_id", Identifier(128), nullable=False),
        sa.Column("request_id", Identifier(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "request_id", name="pk_idempotency_records"),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("idempotency_records")
    op.drop_table("chat_messages")
    op.drop_index("ix_chat_sessions_user_id_updated_at_session_id", "chat_sessions")
    op.drop_table("chat_sessions")
    op.drop_table("users")
