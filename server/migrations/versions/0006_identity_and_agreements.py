"""identity verification and mediation agreements

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0002"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "identity_verifications",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("court_id", sa.String(length=32), nullable=False),
        sa.Column("participant_id", sa.String(length=32), nullable=False),
        sa.Column("declared_name", sa.String(length=100), nullable=False),
        sa.Column("id_cipher", sa.Text(), nullable=False),
        sa.Column("id_hmac", sa.String(length=64), nullable=False),
        sa.Column("id_masked", sa.String(length=24), nullable=False),
        _ts("submitted_at", True),
        sa.Column("method", sa.String(length=32), nullable=True),
        sa.Column("verified_by", sa.String(length=80), nullable=True),
        sa.Column("verifier_name", sa.String(length=100), nullable=False),
        _ts("verified_at", True),
        sa.Column("still_path", sa.String(length=300), nullable=False),
        sa.Column("still_sha256", sa.String(length=64), nullable=False),
        _ts("still_taken_at", True),
        _ts("purged_at", True),
        sa.ForeignKeyConstraint(["session_id"], ["mediation_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "participant_id"),
    )
    with op.batch_alter_table("identity_verifications") as b:
        b.create_index("ix_identity_verifications_session_id", ["session_id"])
        b.create_index("ix_identity_verifications_court_id", ["court_id"])
        b.create_index("ix_identity_verifications_participant_id", ["participant_id"])
        b.create_index("ix_identity_verifications_id_hmac", ["id_hmac"])

    op.create_table(
        "agreement_templates",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("court_id", sa.String(length=32), nullable=False),
        sa.Column("case_type", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["court_id"], ["courts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("court_id", "case_type", "kind"),
    )
    with op.batch_alter_table("agreement_templates") as b:
        b.create_index("ix_agreement_templates_court_id", ["court_id"])

    op.create_table(
        "agreement_documents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("court_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("signers", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("effective_at", True),
        sa.Column("pdf_path", sa.String(length=300), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.Column("sealed_folder", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["mediation_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "kind"),
    )
    with op.batch_alter_table("agreement_documents") as b:
        b.create_index("ix_agreement_documents_session_id", ["session_id"])
        b.create_index("ix_agreement_documents_court_id", ["court_id"])
        b.create_index("ix_agreement_documents_text_sha256", ["text_sha256"])
        b.create_index("ix_agreement_documents_pdf_sha256", ["pdf_sha256"])

    op.create_table(
        "agreement_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=80), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["document_id"], ["agreement_documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "version"),
    )
    with op.batch_alter_table("agreement_versions") as b:
        b.create_index("ix_agreement_versions_document_id", ["document_id"])

    op.create_table(
        "agreement_signatures",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("document_id", sa.String(length=32), nullable=False),
        sa.Column("participant_id", sa.String(length=32), nullable=False),
        sa.Column("signer_name", sa.String(length=100), nullable=False),
        sa.Column("signer_role", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("image_png", sa.LargeBinary(), nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=False),
        sa.Column("identity_verification_id", sa.String(length=32), nullable=True),
        sa.Column("identity", sa.JSON(), nullable=False),
        _ts("signed_at"),
        sa.Column("ip", sa.String(length=64), nullable=False),
        _ts("voided_at", True),
        sa.Column("void_reason", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["agreement_documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("agreement_signatures") as b:
        b.create_index("ix_agreement_signatures_document_id", ["document_id"])
        b.create_index("ix_agreement_signatures_participant_id", ["participant_id"])


def downgrade() -> None:
    op.drop_table("agreement_signatures")
    op.drop_table("agreement_versions")
    op.drop_table("agreement_documents")
    op.drop_table("agreement_templates")
    op.drop_table("identity_verifications")
