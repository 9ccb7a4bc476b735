"""Search digests (digest.py): per user, which characters and character pairs their
messages hold, so that a search no message can match is answered without walking the
user's whole search index; each session's ``digested_seq`` (what of it the digest holds)
and ``search_edits`` (how often its messages' text changed).

Nothing to backfill: a digest is made by the searches that need it, and every session
starts with nothing digested.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from huihua.store.tables import MYSQL_TABLE_OPTIONS, Identifier

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name in ("digested_seq", "search_edits"):
        op.add_column(
            "chat_sessions",
            sa.Column(name, sa.Integer, nullable=False, server_default=sa.text("0")),
        )
    op.create_table(
        "search_digests",
        sa.Column("user_id", Identifier(128), primary_key=True),
        sa.Column("part", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("bits", sa.LargeBinary, nullable=False),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("search_digests")
    op.drop_column("chat_sessions", "search_edits")
    op.drop_column("chat_sessions", "digested_seq")
