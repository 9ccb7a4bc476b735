"""Search writes nothing with a message: the signature columns and their index go.

From 0008 each ``user`` and ``ai`` message stored its search signature (16 integer
columns) in the row and in the index ``(user_id, created_at, session_id, seq, search_0 …
search_15)``: 140,000 of add_chat's 540,000 instructions a request (bench/instructions.py).
Since this revision the signatures live only in each user's search digest, bit-sliced,
made by searches off the request (store/search/), and the walk's index holds the key and
the time alone. The digests are deleted (and every session's ``digested_seq`` with them):
their slices are now rows of 8,192 messages (store/search/slices.py), and searches make
them again. ``downgrade`` adds the columns back and makes every signature again (and
deletes the digests of this format). On SQLite each column's drop rewrites the table: the
sixteen took 5 s for 500,000 messages here, some 100 s for 10 million, once.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from huihua.migrations import backfill

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

NEWEST = "ix_chat_messages_newest"
NEWEST_COLUMNS = ["user_id", "created_at", "session_id", "seq"]


def _forget_digests() -> None:
    op.execute("DELETE FROM search_digests")
    op.execute("UPDATE chat_sessions SET digested_seq = 0 WHERE digested_seq > 0")


def upgrade() -> None:
    _forget_digests()
    op.drop_index(backfill.INDEX, "chat_messages")
    for name in reversed(backfill.NAMES):
        op.drop_column("chat_messages", name)
    op.create_index(NEWEST, "chat_messages", NEWEST_COLUMNS)


def downgrade() -> None:
    _forget_digests()
    op.drop_index(NEWEST, "chat_messages")
    for name in backfill.NAMES:
        op.add_column("chat_messages", sa.Column(name, sa.BigInteger(), nullable=True))
    backfill.signatures(op.get_bind(), backfill.columns)
    op.create_index(backfill.INDEX, "chat_messages", backfill.INDEX_COLUMNS)
