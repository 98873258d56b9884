"""Outputs of an effective document: its PDF, its place in the sealed record, the judicial package."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server import audit
from server.agreements import documents as docs
from server.agreements.identity import identities_of
from server.agreements.models import AgreementDocument, DocStatus, VerifyMethod
from server.agreements.pdf import PdfInput, SignatureBlock, render_pdf
from server.models import Case, Court, MediationSession, Recording, RecordingStatus
from server.state import AppState

log = logging.getLogger(__name__)

METHOD_LABELS = {
    VerifyMethod.online_visual.value: "线上核验",
    VerifyMethod.in_person_terminal.value: "终端现场核验",
}


def verify_url(state: AppState, digest: str) -> str:
    return f"{state.settings.effective_public_url}/verify/agreement/{digest}"


def documents_dir(state: AppState, session_id: str) -> Path:
    return state.settings.data_dir / "agreements" / session_id


def _verification_line(identity: dict[str, Any]) -> str:
    if not identity.get("verified"):
        return "身份未核验（调解员书面准入）/ identity not verified"
    label = METHOD_LABELS.get(str(identity.get("method")), str(identity.get("method")))
    at = str(identity.get("verified_at") or "")[:16].replace("T", " ")
    return f"{label} · {identity.get('verifier_name', '')} · {at} UTC"


async def build_pdf(state: AppState, db: AsyncSession, doc: AgreementDocument) -> Path:
    """Render the effective document's PDF, store it, record its SHA-256 on the row."""
    session = await db.get(MediationSession, doc.session_id)
    assert session is not None
    case = await db.get(Case, session.case_id)
    court = await db.get(Court, session.court_id)
    sigs = await docs.active_signatures(db, doc)
    blocks = [
        SignatureBlock(
            name=s.signer_name,
            role=s.signer_role,
            id_masked=str(s.identity.get("id_masked") or ""),
            verification=_verification_line(s.identity),
            signed_at=s.signed_at,
            png=s.image_png,
        )
        for s in sigs
    ]
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
    )
    pdf = await asyncio.to_thread(render_pdf, data)
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
    recording = state.extras.get("recording")
    if recording is None:
        return None
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
            add_documents, folder, recording.key, items, actor=actor, kind="agreement"
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


async def judicial_package(state: AppState, db: AsyncSession, session_id: str) -> bytes:
    """司法确认 package: agreement PDF, identity verifications, the sealed manifest (+ signature
    and the server's public key), zipped for the judge who confirms the agreement."""
    doc = await docs.get_doc(db, session_id, "agreement")
    if doc is None or doc.status != DocStatus.effective.value:
        raise docs.AgreementError(
            "not_effective", "调解协议尚未生效 / the agreement is not effective"
        )
    pdf = pdf_file(state, doc)
    folder = await latest_sealed_folder(state, db, session_id)
    record = await identity_record(db, session_id)
    recording = state.extras.get("recording")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if pdf is not None:
            zf.write(pdf, "调解协议书.pdf")
        zf.writestr("identity-verifications.json", json.dumps(record, ensure_ascii=False, indent=2))
        if folder is not None:
            for name in ("manifest.json", "manifest.json.sig"):
                if (folder / name).is_file():
                    zf.write(folder / name, f"sealed-record/{name}")
        if recording is not None:
            zf.writestr("sealed-record/server-public-key.pem", recording.key.public_pem())
        zf.writestr(
            "README.txt",
            "司法确认材料 / judicial confirmation package\n"
            f"session: {session_id}\n"
            f"agreement text sha256: {doc.text_sha256}\n"
            f"agreement pdf sha256: {doc.pdf_sha256}\n"
            f"sealed folder: {folder.name if folder else '(none: session not recorded)'}\n"
            f"generated: {datetime.now(UTC).isoformat()}\n"
            "Verify the sealed folder with `shared-court verify <folder>`; the PDF's sha256 is "
            "listed in manifest.json.\n",
        )
    return buf.getvalue()
