"""proof of disposition: manifested records confirmed deleted or overdue

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dispositions",
        sa.Column("manifest_run_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("manifested_on", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("seen_on", sa.Date(), nullable=False),
        sa.Column("checked_run_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["manifest_run_id"], ["runs.run_id"]),
        sa.PrimaryKeyConstraint("manifest_run_id", "source", "record_id", "rule_id"),
    )
    op.create_index("ix_dispositions_status", "dispositions", ["status"])


def downgrade() -> None:
    op.drop_index("ix_dispositions_status", table_name="dispositions")
    op.drop_table("dispositions")
