"""Tables of identity verification and agreements (migration 0006)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.models import Base, new_id, utcnow


class VerifyMethod(enum.StrEnum):
    online_visual = "online_visual"  # 线上核验：调解员/书记员比对人像与身份证件
    in_person_terminal = "in_person_terminal"  # 庭务主任在共享法庭终端现场核验


class DocKind(enum.StrEnum):
    agreement = "agreement"  # 调解协议书
    failure_record = "failure_record"  # 调解不成记录（可附无争议事实）


class DocStatus(enum.StrEnum):
    draft = "draft"
    signing = "signing"
    effective = "effective"


class IdentityVerification(Base):
    """A party's identity as declared in the lobby, and how it was verified.

    Personal data: the number is kept only as ciphertext + HMAC + masked form; `purged_at` marks
    a hard delete (ciphertext, still image and declared name erased, the row kept as a tombstone).
    """

    __tablename__ = "identity_verifications"
    __table_args__ = (UniqueConstraint("session_id", "participant_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("mediation_sessions.id", ondelete="CASCADE"), index=True
    )
    court_id: Mapped[str] = mapped_column(String(32), index=True)
    participant_id: Mapped[str] = mapped_column(String(32), index=True)
    declared_name: Mapped[str] = mapped_column(String(100), default="")
    id_cipher: Mapped[str] = mapped_column(Text, default="")
    id_hmac: Mapped[str] = mapped_column(String(64), default="", index=True)
    id_masked: Mapped[str] = mapped_column(String(24), default="")
    submitted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Who entered the number, by participant ("participant:<pid>"): the party, staff, or a
    # terminal that registered the party in person (it may attest only those).
    submitted_by: Mapped[str] = mapped_column(String(80), default="")
    method: Mapped[str | None] = mapped_column(String(32), nullable=True)
    verified_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    verifier_name: Mapped[str] = mapped_column(String(100), default="")
    verified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    still_path: Mapped[str] = mapped_column(String(300), default="")
    still_sha256: Mapped[str] = mapped_column(String(64), default="")
    still_taken_at: Mapped[datetime | None] = mapped_column(nullable=True)
    purged_at: Mapped[datetime | None] = mapped_column(nullable=True)

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    def public(self) -> dict[str, Any]:
        """What the lobby list and the record show: never the number, never the image."""
        return {
            "participant_id": self.participant_id,
            "declared_name": self.declared_name,
            "id_masked": self.id_masked,
            "submitted_at": self.submitted_at.isoformat() if self.submitted_at else None,
            "submitted_by": self.submitted_by or None,
            "verified": self.verified,
            "method": self.method,
            "verified_by": self.verified_by,
            "verifier_name": self.verifier_name,
            "verified_at": self.verified_at.isoformat() if self.verified_at else None,
            "still_sha256": self.still_sha256 or None,
        }


class AgreementTemplate(Base):
    """A court's template for one case type and document kind (admins edit; defaults in code)."""

    __tablename__ = "agreement_templates"
    __table_args__ = (UniqueConstraint("court_id", "case_type", "kind"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    court_id: Mapped[str] = mapped_column(ForeignKey("courts.id"), index=True)
    case_type: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32), default=DocKind.agreement.value)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(80), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgreementDocument(Base):
    """The agreement (or failed-mediation record) of one session; its text is versioned."""

    __tablename__ = "agreement_documents"
    __table_args__ = (UniqueConstraint("session_id", "kind"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("mediation_sessions.id", ondelete="CASCADE"), index=True
    )
    court_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=DocStatus.draft.value)
    version: Mapped[int] = mapped_column(Integer, default=1)
    text: Mapped[str] = mapped_column(Text, default="")
    text_sha256: Mapped[str] = mapped_column(String(64), index=True, default="")
    # Groups that see the live draft: "main" and/or caucus group ids the mediator shared it with.
    audience: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Group id -> the version that group is shown. An edit made in a caucus reaches only that
    # caucus; other groups keep the version they were shown until the mediator shares again.
    shown: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # Participant ids whose signatures make the document effective.
    signers: Mapped[list[str]] = mapped_column(JSON, default=list)
    # When signatures were last requested: voided signatures after it are still owed.
    requested_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    effective_at: Mapped[datetime | None] = mapped_column(nullable=True)
    pdf_path: Mapped[str] = mapped_column(String(300), default="")
    pdf_sha256: Mapped[str] = mapped_column(String(64), index=True, default="")
    pdf_pages: Mapped[int] = mapped_column(Integer, default=0)
    # The electronic seals printed on the PDF: who, the signed hash, the Ed25519 signature.
    seal: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Sealed-record folder (relative to recordings_dir) whose manifest lists the PDF.
    sealed_folder: Mapped[str] = mapped_column(String(200), default="")


class AgreementVersion(Base):
    __tablename__ = "agreement_versions"
    __table_args__ = (UniqueConstraint("document_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(
        ForeignKey("agreement_documents.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgreementSignature(Base):
    """One party's handwritten signature over one exact text version (by its SHA-256)."""

    __tablename__ = "agreement_signatures"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    document_id: Mapped[str] = mapped_column(
        ForeignKey("agreement_documents.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[str] = mapped_column(String(32), index=True)
    signer_name: Mapped[str] = mapped_column(String(100), default="")
    signer_role: Mapped[str] = mapped_column(String(32), default="")
    # For an organisation: the natural person who signs for it, and in what capacity
    # ("legal_representative" 法定代表人 / "authorised_agent" 委托代理人).
    signatory_name: Mapped[str] = mapped_column(String(100), default="")
    signatory_capacity: Mapped[str] = mapped_column(String(32), default="")
    version: Mapped[int] = mapped_column(Integer)
    text_sha256: Mapped[str] = mapped_column(String(64))
    image_png: Mapped[bytes] = mapped_column(LargeBinary)
    image_sha256: Mapped[str] = mapped_column(String(64))
    identity_verification_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    identity: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str] = mapped_column(String(64), default="")
    voided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    void_reason: Mapped[str] = mapped_column(String(200), default="")
