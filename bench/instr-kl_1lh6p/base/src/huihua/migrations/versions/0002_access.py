"""Access: users.token_nonce (user tokens die with their user) and login_codes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from huihua.store.tables import MYSQL_TABLE_OPTIONS, Identifier

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the users made before: a token is never valid for them until they log in.
    op.add_column("users", sa.Column("token_nonce", sa.String(32), nullable=True))
    op.create_table(
        "login_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("claimed_at", sa.BigInteger(), nullable=False),
        sa.Column("user_id", Identifier(128), nullable=True),
        sa.Column("token_nonce", sa.String(32), nullable=True),
        sa.Column("created", sa.Integer(), nullable=True),
        sa.Column("issued_at", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name="pk_login_codes"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_login_codes_user_id", "login_codes", ["user_id"])
    op.create_index("ix_login_codes_claimed_at", "login_codes", ["claimed_at"])


def downgrade() -> None:
    op.drop_index("ix_login_codes_claimed_at", "login_codes")
    op.drop_index("ix_login_codes_user_id", "login_codes")
    op.drop_table("login_codes")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_nonce")
