"""the legal record: per-group shown versions of a draft, signatories of organisations,
court seal and settlement settings, organisation parties, who submitted an identity

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agreement_documents") as b:
        # group id -> the version that group is shown (a caucus edit reaches only its group)
        b.add_column(sa.Column("shown", sa.JSON(), nullable=False, server_default="{}"))
        b.add_column(sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("pdf_pages", sa.Integer(), nullable=False, server_default="0"))
        b.add_column(
            sa.Column("seal", sa.JSON(), nullable=False, server_default="{}")
        )
    with op.batch_alter_table("agreement_signatures") as b:
        b.add_column(
            sa.Column("signatory_name", sa.String(length=100), nullable=False, server_default="")
        )
        b.add_column(
            sa.Column(
                "signatory_capacity", sa.String(length=32), nullable=False, server_default=""
            )
        )
    with op.batch_alter_table("identity_verifications") as b:
        # Who entered the number: the party themself, staff, or a terminal that registered
        # the party in person (a terminal may attest only those it registered).
        b.add_column(
            sa.Column("submitted_by", sa.String(length=80), nullable=False, server_default="")
        )
    with op.batch_alter_table("parties") as b:
        b.add_column(
            sa.Column("is_organisation", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("courts") as b:
        b.add_column(
            sa.Column(
                "settlement_requires_agreement",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
        b.add_column(
            sa.Column("seal_agreements", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        b.add_column(
            sa.Column("timezone", sa.String(length=64), nullable=False, server_default="Asia/Shanghai")
        )


def downgrade() -> None:
    with op.batch_alter_table("courts") as b:
        b.drop_column("timezone")
        b.drop_column("seal_agreements")
        b.drop_column("settlement_requires_agreement")
    with op.batch_alter_table("parties") as b:
        b.drop_column("is_organisation")
    with op.batch_alter_table("identity_verifications") as b:
        b.drop_column("submitted_by")
    with op.batch_alter_table("agreement_signatures") as b:
        b.drop_column("signatory_capacity")
        b.drop_column("signatory_name")
    with op.batch_alter_table("agreement_documents") as b:
        b.drop_column("seal")
        b.drop_column("pdf_pages")
        b.drop_column("requested_at")
        b.drop_column("shown")
