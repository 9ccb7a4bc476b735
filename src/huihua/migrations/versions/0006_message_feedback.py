"""Feedback on an answer (docs/api.md §5.4, /rate_chat): a message's rating and comment.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("chat_messages", sa.Column("rating", sa.String(8), nullable=True))
    op.add_column("chat_messages", sa.Column("comment", sa.String(1000), nullable=True))


def downgrade() -> None:
    op.drop_column("chat_messages", "comment")
    op.drop_column("chat_messages", "rating")
