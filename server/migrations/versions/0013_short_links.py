"""short join links: an 8-character code per invite (/j/<code>)

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invites") as b:
        # Invites issued before this revision keep only their long link (no code).
        b.add_column(sa.Column("short_code", sa.String(length=16), nullable=True))
        b.create_index("ix_invites_short_code", ["short_code"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("invites") as b:
        b.drop_index("ix_invites_short_code")
        b.drop_column("short_code")
