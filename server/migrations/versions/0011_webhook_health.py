"""webhook health: consecutive failures, last error, failing since (court alerts)

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("network_webhooks") as b:
        b.add_column(
            sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0")
        )
        b.add_column(
            sa.Column("last_error", sa.String(length=500), nullable=False, server_default="")
        )
        b.add_column(sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("network_webhooks") as b:
        for name in (
            "failing_since",
            "last_success_at",
            "last_failure_at",
            "last_error",
            "consecutive_failures",
        ):
            b.drop_column(name)
