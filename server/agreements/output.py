"""Outputs of an effective document: its PDF and its place in the sealed record (the judicial
package is server/agreements/package.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recording import ServerKey
from server import audit
from server.agreements import documents as docs
from server.agreements import seal as seals
from server.agreements.facts import SessionFacts, session_facts
from server.agreements.identity import identities_of
from server.agreements.models import AgreementDocument, DocStatus
from server.agreements.pdf import (
    PdfInput,
    SealMark,
    SignatureBlock,
    fmt_time,
    render,
    zone,
)
from server.models import (
    Case,
    Court,
    MediationSession,
    Party,
    Recording,
    RecordingStatus,
    SessionParticipant,
    User,
)
from server.server_key import server_key
from server.state import AppState

log = logging.getLogger(__name__)


def verify_url(state: AppState, digest: str) -> str:
    return f"{state.settings.effective_public_url}/verify/agreement/{digest}"


def documents_dir(state: AppState, session_id: str) -> Path:
    return state.settings.data_dir / "agreements" / session_id


def _verification_line(facts: SessionFacts, pid: str, tz: ZoneInfo) -> str:
    """The signer's identity as the session's log states it: the signature row's own snapshot
    is not evidence of who checked what (and says nothing of a written admission reason)."""
    line = facts.identity_line(pid)
    ident = facts.identity_of(pid)
    if ident.verified and ident.verified_at is not None:
        line += f" · {fmt_time(ident.verified_at, tz)}"
    return line


def key_url(state: AppState) -> str:
    """Where the public key that checks seals (and sealed recordings) is published."""
    return f"{state.settings.effective_public_url}/api/keys/recording.pem"


def seal_key(state: AppState) -> ServerKey:
    """The server's Ed25519 key, the one that seals recordings too."""
    return server_key(state)


SEAL_LABELS = {seals.ROLE_MEDIATOR: "调解员", seals.ROLE_COURT: "调解专用章"}


async def _seal(
    state: AppState,
    db: AsyncSession,
    doc: AgreementDocument,
    session: MediationSession,
    court: Court | None,
) -> list[SealMark]:
    """Seal the document text (the mediator always, the court when it seals agreements); the
    seals are stored on ``doc.seal`` and their marks returned for the PDF."""
    mediator = await db.get(User, session.mediator_id)
    signers = [(mediator.display_name if mediator else "", seals.ROLE_MEDIATOR)]
    if court is not None and court.seal_agreements:
        signers.append((court.name, seals.ROLE_COURT))
    key = await asyncio.to_thread(seal_key, state)
    # The effective time, not the render time: a re-rendered PDF keeps the same seals.
    at = doc.effective_at or datetime.now(UTC)
    made = [
        seals.seal(key, signer=name, role=role, text_sha256=doc.text_sha256, at=at)
        for name, role in signers
    ]
    doc.seal = {
        "format": "shared-court-document-seals/1",
        "text_sha256": doc.text_sha256,
        "public_key_url": key_url(state),
        "seals": made,
    }
    return [
        SealMark(
            name=name,
            label=SEAL_LABELS[role],
            role=seals.ROLE_LABELS[role],
            signature_hex=seals.short_signature(s),
            key_fingerprint=key.fingerprint,
            at=at,
        )
        for (name, role), s in zip(signers, made, strict=True)
    ]


async def _signature_blocks(
    db: AsyncSession, doc: AgreementDocument, facts: SessionFacts, tz: ZoneInfo
) -> list[SignatureBlock]:
    blocks = []
    for s in await docs.active_signatures(db, doc):
        part = await db.get(SessionParticipant, s.participant_id)
        party = await db.get(Party, part.party_id) if part and part.party_id else None
        ident = facts.identity_of(s.participant_id)
        blocks.append(
            SignatureBlock(
                name=s.signer_name,
                role=s.signer_role,
                id_masked=ident.id_masked or str(s.identity.get("id_masked") or ""),
                verification=_verification_line(facts, s.participant_id, tz),
                signed_at=s.signed_at,
                png=s.image_png,
                organisation=bool(party and party.is_organisation),
                signatory_name=s.signatory_name,
                signatory_capacity=docs.CAPACITIES.get(s.signatory_capacity, s.signatory_capacity),
            )
        )
    return blocks


async def build_pdf(state: AppState, db: AsyncSession, doc: AgreementDocument) -> Path:
    """Render the effective document's PDF, store it, record its SHA-256, page count and seals
    on the row. Identity statements come from the session's log (``session_facts``)."""
    session = await db.get(MediationSession, doc.session_id)
    assert session is not None
    case = await db.get(Case, session.case_id)
    court = await db.get(Court, session.court_id)
    time_zone = court.timezone if court else ""
    facts = await session_facts(db, doc.session_id)
    blocks = await _signature_blocks(db, doc, facts, zone(time_zone))
    data = PdfInput(
        title=doc.title,
        text=doc.text,
        text_sha256=doc.text_sha256,
        version=doc.version,
        session_id=doc.session_id,
        court_name=court.name if court else "",
        case_number=case.case_number if case else "",
        effective_at=doc.effective_at,
        verify_url=verify_url(state, doc.text_sha256),
        signatures=blocks,
        kind=doc.kind,
        timezone=time_zone,
        seals=await _seal(state, db, doc, session, court),
        key_url=key_url(state),
    )
    rendered = await asyncio.to_thread(render, data)
    pdf = rendered.pdf
    doc.pdf_pages = rendered.pages
    folder = documents_dir(state, doc.session_id)
    path = folder / f"{doc.kind}-v{doc.version}-{doc.text_sha256[:12]}.pdf"

    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pdf)

    await asyncio.to_thread(write)
    doc.pdf_path = str(path.relative_to(state.settings.data_dir))
    doc.pdf_sha256 = hashlib.sha256(pdf).hexdigest()
    return path


def pdf_file(state: AppState, doc: AgreementDocument) -> Path | None:
    if not doc.pdf_path:
        return None
    path = state.settings.data_dir / doc.pdf_path
    return path if path.is_file() else None


async def identity_record(db: AsyncSession, session_id: str) -> dict[str, Any]:
    """The session's identity verifications as they go into the sealed record (masked)."""
    rows = await identities_of(db, session_id)
    return {
        "format": "shared-court-identity-verifications/1",
        "session": session_id,
        "verifications": [r.public() for r in rows.values()],
    }


async def latest_sealed_folder(state: AppState, db: AsyncSession, session_id: str) -> Path | None:
    row = await db.scalar(
        select(Recording)
        .where(
            Recording.session_id == session_id,
            Recording.status.in_((RecordingStatus.sealed, RecordingStatus.interrupted)),
        )
        .order_by(Recording.started_at.desc())
    )
    if row is None:
        return None
    folder = state.settings.effective_recordings_dir / row.folder
    return folder if (folder / "manifest.json").is_file() else None


async def seal_documents(state: AppState, session_id: str, actor: str = "system") -> str | None:
    """Add the effective documents' PDFs and the identity record to the session's sealed folder
    (a new signed manifest revision; ``shared-court verify`` then checks them)."""
    async with state.db.session() as db:
        folder = await latest_sealed_folder(state, db, session_id)
        if folder is None:
            return None
        items: list[tuple[Path, str]] = []
        effective = list(
            await db.scalars(
                select(AgreementDocument).where(
                    AgreementDocument.session_id == session_id,
                    AgreementDocument.status == DocStatus.effective.value,
                    AgreementDocument.sealed_folder == "",
                )
            )
        )
        for doc in effective:
            path = pdf_file(state, doc)
            if path is not None:
                items.append((path, doc.title))
        record = await identity_record(db, session_id)
        staging = documents_dir(state, session_id)
        ident_path = staging / "identity-verifications.json"
        if record["verifications"]:
            staging.mkdir(parents=True, exist_ok=True)
            ident_path.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n")
            items.append((ident_path, "身份核验记录 / identity verifications"))
        if not items:
            return None
        from recording import add_documents

        manifest = await asyncio.to_thread(
            add_documents, folder, server_key(state), items, actor=actor, kind="agreement"
        )
        for doc in effective:
            doc.sealed_folder = folder.name
        raw = (folder / "manifest.json").read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        rec = await db.scalar(select(Recording).where(Recording.folder == folder.name))
        if rec is not None:
            rec.manifest_sha256 = digest
        audit.record(
            db,
            actor=actor,
            action="agreement.sealed",
            court_id=rec.court_id if rec else None,
            session_id=session_id,
            target=folder.name,
            manifest_sha256=digest,
            files=[str(p.name) for p, _ in items],
            revision=manifest.get("revision"),
        )
    return folder.name
