"""Search (docs/api.md §5.3, /search_chats): each message's search signature, and the index a
search walks, ``(user_id, created_at, session_id, seq, search_0 … search_15)``.

The columns are NULL here; 0009 makes the signatures of the messages stored before.
(Until 0009, this migration made them itself, in a form 0009 replaces.)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from huihua.migrations import backfill
from huihua.migrations.backfill import INDEX, INDEX_COLUMNS

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name in backfill.NAMES:
        op.add_column("chat_messages", sa.Column(name, sa.BigInteger(), nullable=True))
    op.create_index(INDEX, "chat_messages", INDEX_COLUMNS)


def downgrade() -> None:
    op.drop_index(INDEX, "chat_messages")
    for name in reversed(backfill.NAMES):
        op.drop_column("chat_messages", name)
