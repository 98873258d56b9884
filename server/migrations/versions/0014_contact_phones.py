"""contact phones: a staff member's work number and the court's switchboard

Printed on invitations and named to a party whose join link is refused.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as b:
        b.add_column(sa.Column("phone", sa.String(length=32), nullable=False, server_default=""))
    with op.batch_alter_table("courts") as b:
        b.add_column(sa.Column("phone", sa.String(length=32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("courts") as b:
        b.drop_column("phone")
    with op.batch_alter_table("users") as b:
        b.drop_column("phone")
