"""Idempotency records by age: the retention sweep finds the expired ones without a scan.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_INDEX = "ix_idempotency_records_created_at"


def upgrade() -> None:
    op.create_index(_INDEX, "idempotency_records", ["created_at"])


def downgrade() -> None:
    op.drop_index(_INDEX, "idempotency_records")
