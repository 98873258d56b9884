"""the court network's status paths: a mediator's phone for assignment notices

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("network_mediator_profiles") as b:
        # Where the mediator is told of a new assignment (through the court's Notifier).
        b.add_column(sa.Column("phone", sa.String(length=32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("network_mediator_profiles") as b:
        b.drop_column("phone")
