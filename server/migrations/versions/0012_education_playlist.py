"""普法 playlist: an item's order, its active dates and whether every terminal plays it

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("network_education_items") as b:
        b.add_column(sa.Column("position", sa.Integer(), nullable=False, server_default="0"))
        b.add_column(sa.Column("starts_on", sa.String(length=10), nullable=True))
        b.add_column(sa.Column("ends_on", sa.String(length=10), nullable=True))
        # Existing items keep playing only where a schedule puts them.
        b.add_column(
            sa.Column("all_terminals", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("network_education_items") as b:
        for name in ("all_terminals", "ends_on", "starts_on", "position"):
            b.drop_column(name)
