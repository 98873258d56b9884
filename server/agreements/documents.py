"""Drafting, versioning and signing of the agreement (and of the failed-mediation record).

States: ``draft`` (the mediator writes) → ``signing`` (the mediator asked for signatures) →
``effective`` (every required party signed the current version). Every edit makes a new version;
an edit while signatures exist voids them (the state stays or returns to ``signing``), so a
signature only ever covers the exact text, by SHA-256, that its signer saw.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.agreements.models import (
    AgreementDocument,
    AgreementSignature,
    AgreementTemplate,
    AgreementVersion,
    DocKind,
    DocStatus,
    IdentityVerification,
)
from server.agreements.templates import CASE_TYPE_LABELS, default_template, fill
from server.models import (
    Case,
    Court,
    MediationSession,
    ParticipantKind,
    Party,
    PartyRole,
    SessionParticipant,
    User,
    as_utc,
)

MAX_SIGNATURE_BYTES = 48 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SIGNING_ROLES = (PartyRole.applicant, PartyRole.respondent)
# Who signs for an organisation party.
CAPACITIES = {"legal_representative": "法定代表人", "authorised_agent": "委托代理人"}


class AgreementError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def get_doc(db: AsyncSession, session_id: str, kind: str) -> AgreementDocument | None:
    doc: AgreementDocument | None = await db.scalar(
        select(AgreementDocument).where(
            AgreementDocument.session_id == session_id, AgreementDocument.kind == kind
        )
    )
    return doc


async def find_by_hash(db: AsyncSession, digest: str) -> AgreementDocument | None:
    doc: AgreementDocument | None = await db.scalar(
        select(AgreementDocument).where(
            (AgreementDocument.text_sha256 == digest) | (AgreementDocument.pdf_sha256 == digest)
        )
    )
    return doc


async def template_for(
    db: AsyncSession, court_id: str, case_type: str, kind: str
) -> tuple[str, str]:
    row = await db.scalar(
        select(AgreementTemplate).where(
            AgreementTemplate.court_id == court_id,
            AgreementTemplate.case_type == case_type,
            AgreementTemplate.kind == kind,
        )
    )
    if row is not None:
        return row.title, row.body
    t = default_template(case_type, kind)
    return t.title, t.body


async def session_parties(db: AsyncSession, session_id: str) -> list[SessionParticipant]:
    rows = await db.scalars(
        select(SessionParticipant)
        .where(
            SessionParticipant.session_id == session_id,
            SessionParticipant.kind == ParticipantKind.party,
        )
        .order_by(SessionParticipant.created_at)
    )
    return list(rows)


async def required_signers(db: AsyncSession, session_id: str) -> list[str]:
    """Applicants and respondents (agents and lawyers sign only if they are the party)."""
    out = []
    for part in await session_parties(db, session_id):
        party = await db.get(Party, part.party_id) if part.party_id else None
        if party is None or party.role in SIGNING_ROLES:
            out.append(part.id)
    return out


async def identities(db: AsyncSession, session_id: str) -> dict[str, IdentityVerification]:
    rows = await db.scalars(
        select(IdentityVerification).where(IdentityVerification.session_id == session_id)
    )
    return {r.participant_id: r for r in rows}


async def case_fields(db: AsyncSession, session_id: str) -> dict[str, str]:
    session = await db.get(MediationSession, session_id)
    assert session is not None
    case = await db.get(Case, session.case_id)
    court = await db.get(Court, session.court_id)
    mediator = await db.get(User, session.mediator_id)
    # Imported here: the rest of this module is edited independently of this function.
    from server.agreements.templates import court_date, party_fields

    ids = await identities(db, session_id)
    case_type = case.case_type.value if case else "other"
    lines = []
    # Clauses name parties by role and side (organisation / individual), taken from the case.
    names: dict[str, list[str]] = {}
    organisation_roles: set[str] = set()
    for part in await session_parties(db, session_id):
        ident = ids.get(part.id)
        masked = f"（公民身份号码 {ident.id_masked}）" if ident and ident.id_masked else ""
        lines.append(f"{part.role_label}：{part.display_name}{masked}")
        party = await db.get(Party, part.party_id) if part.party_id else None
        if party is not None and party.role in SIGNING_ROLES:
            names.setdefault(party.role.value, []).append(part.display_name)
            if party.is_organisation:
                organisation_roles.add(party.role.value)
    claim = (case.description.strip() or case.title.strip()) if case else ""
    return {
        "court": court.name if court else "",
        "case_number": case.case_number if case else "",
        "case_type": CASE_TYPE_LABELS.get(case_type, ""),
        "parties": "\n".join(lines),
        "mediator": mediator.display_name if mediator else "",
        "date": court_date(court.timezone if court else ""),
        "claim": claim or "____",
        **party_fields(case_type, names, organisation_roles),
    }


async def create_doc(
    db: AsyncSession,
    session_id: str,
    kind: str,
    actor: str,
    audience: list[str] | None = None,
) -> AgreementDocument:
    session = await db.get(MediationSession, session_id)
    assert session is not None
    case = await db.get(Case, session.case_id)
    case_type = case.case_type.value if case else "other"
    title, body = await template_for(db, session.court_id, case_type, kind)
    text = fill(body, await case_fields(db, session_id))
    aud = audience if audience is not None else ["main"]
    doc = AgreementDocument(
        session_id=session_id,
        court_id=session.court_id,
        kind=kind,
        title=title,
        status=DocStatus.draft.value,
        version=1,
        text=text,
        text_sha256=sha256_text(text),
        audience=list(aud),
        shown={g: 1 for g in aud},
        signers=[],
        created_by=actor,
    )
    db.add(doc)
    await db.flush()
    db.add(
        AgreementVersion(
            document_id=doc.id, version=1, text=text, sha256=doc.text_sha256, author=actor
        )
    )
    return doc


async def active_signatures(db: AsyncSession, doc: AgreementDocument) -> list[AgreementSignature]:
    rows = await db.scalars(
        select(AgreementSignature)
        .where(AgreementSignature.document_id == doc.id, AgreementSignature.voided_at.is_(None))
        .order_by(AgreementSignature.signed_at)
    )
    return list(rows)


def _require_editable(doc: AgreementDocument) -> None:
    if doc.status == DocStatus.effective.value:
        raise AgreementError(
            "agreement_effective", "协议已生效，不能再修改 / the agreement is already effective"
        )


async def edit(
    db: AsyncSession,
    doc: AgreementDocument,
    text: str,
    base_version: int,
    actor: str,
    reach: list[str] | None = None,
) -> list[AgreementSignature]:
    """A new version of the text, shown at once only to the groups in ``reach`` (the groups of
    the audience the editor is with; None: the whole audience); every other group keeps the
    version it was shown. Returns the signatures this edit voided."""
    _require_editable(doc)
    if base_version != doc.version:
        raise AgreementError(
            "version_conflict",
            f"文本已被更新（当前第{doc.version}版） / the text changed (now version {doc.version})",
        )
    if text == doc.text:
        return []
    doc.version += 1
    doc.text = text
    doc.text_sha256 = sha256_text(text)
    targets = doc.audience if reach is None else [g for g in reach if g in doc.audience]
    # A new dict: the JSON column does not track changes made in place.
    doc.shown = {**(doc.shown or {}), **{g: doc.version for g in targets}}
    doc.updated_at = datetime.now(UTC)
    db.add(
        AgreementVersion(
            document_id=doc.id,
            version=doc.version,
            text=text,
            sha256=doc.text_sha256,
            author=actor,
        )
    )
    voided = await active_signatures(db, doc)
    now = datetime.now(UTC)
    for sig in voided:
        sig.voided_at = now
        sig.void_reason = f"text changed to version {doc.version}"
    return voided


def share(doc: AgreementDocument, groups: list[str]) -> list[str]:
    """The mediator shows the current text to exactly these groups (on purpose)."""
    doc.audience = sorted(set(groups))
    doc.shown = {g: doc.version for g in doc.audience}
    return list(doc.audience)


def prune_groups(doc: AgreementDocument, existing: set[str]) -> list[str]:
    """Drop groups that no longer exist (a caucus closed) from the audience; the draft then
    falls back to the mediator, who may share it to the main room. Returns the dropped ids."""
    dropped = [g for g in doc.audience if g not in existing]
    stale_shown = [g for g in (doc.shown or {}) if g not in existing]
    if dropped or stale_shown:
        doc.audience = [g for g in doc.audience if g in existing]
        doc.shown = {g: v for g, v in (doc.shown or {}).items() if g in existing}
    return dropped


async def version_text(db: AsyncSession, doc: AgreementDocument, version: int) -> tuple[str, str]:
    """Text and SHA-256 of one version of the document."""
    if version == doc.version:
        return doc.text, doc.text_sha256
    row = await db.scalar(
        select(AgreementVersion).where(
            AgreementVersion.document_id == doc.id, AgreementVersion.version == version
        )
    )
    if row is None:
        raise AgreementError("unknown_version", f"版本不存在 / no version {version}")
    return row.text, row.sha256


async def request_signatures(db: AsyncSession, doc: AgreementDocument) -> None:
    _require_editable(doc)
    doc.signers = await required_signers(db, doc.session_id)
    if not doc.signers:
        raise AgreementError("no_signers", "本案没有需要签名的当事人 / no party needs to sign")
    doc.status = DocStatus.signing.value
    doc.requested_at = datetime.now(UTC)


WITHDRAWN = "signature request withdrawn"


async def withdraw(db: AsyncSession, doc: AgreementDocument) -> list[AgreementSignature]:
    """The mediator withdraws the request for signatures: back to draft; signatures given so
    far no longer count (they covered a request that no longer stands)."""
    if doc.status != DocStatus.signing.value:
        raise AgreementError("not_signing", "协议未在签署中 / the agreement is not being signed")
    voided = await active_signatures(db, doc)
    now = datetime.now(UTC)
    for sig in voided:
        sig.voided_at = now
        sig.void_reason = WITHDRAWN
    doc.status = DocStatus.draft.value
    doc.signers = []
    doc.requested_at = None
    return voided


async def owed_signatures(db: AsyncSession, doc: AgreementDocument) -> list[str]:
    """Signers whose signature an edit voided during the current request and who have not
    signed again: they are told until they sign or the request is withdrawn."""
    if doc.status != DocStatus.signing.value or doc.requested_at is None:
        return []
    rows = await db.scalars(
        select(AgreementSignature).where(
            AgreementSignature.document_id == doc.id,
            AgreementSignature.voided_at.is_not(None),
        )
    )
    since = as_utc(doc.requested_at)
    voided = {
        r.participant_id
        for r in rows
        if r.void_reason != WITHDRAWN and r.voided_at is not None and as_utc(r.voided_at) >= since
    }
    signed = {s.participant_id for s in await active_signatures(db, doc)}
    return [pid for pid in doc.signers if pid in voided and pid not in signed]


def decode_signature(data: str) -> bytes:
    """A PNG from a canvas (``data:image/png;base64,…`` or bare base64), size- and type-checked."""
    if data.startswith("data:"):
        head, _, data = data.partition(",")
        if head != "data:image/png;base64":
            raise AgreementError("invalid_signature", "签名须为 PNG 图片 / signature must be a PNG")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AgreementError("invalid_signature", "签名图片无法解析 / bad signature image") from exc
    if not raw.startswith(PNG_MAGIC) or len(raw) > MAX_SIGNATURE_BYTES:
        raise AgreementError(
            "invalid_signature", "签名须为不超过48KB的PNG图片 / signature must be a PNG ≤ 48 KB"
        )
    from PIL import Image

    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.verify()
            width, height = img.size
    except Exception as exc:
        raise AgreementError("invalid_signature", "签名图片损坏 / corrupt signature image") from exc
    if width < 20 or height < 10 or width > 4000 or height > 2000:
        raise AgreementError("invalid_signature", "签名图片尺寸不符 / odd signature size")
    return raw


async def sign(
    db: AsyncSession,
    doc: AgreementDocument,
    *,
    participant: SessionParticipant,
    version: int,
    text_sha256: str,
    signature_png: bytes,
    identity: IdentityVerification | None,
    ip: str = "",
    organisation: bool = False,
    signatory_name: str = "",
    signatory_capacity: str = "",
) -> AgreementSignature:
    if doc.status != DocStatus.signing.value:
        raise AgreementError(
            "not_signing", "协议尚未提交签署或已生效 / the agreement is not open for signing"
        )
    if participant.id not in doc.signers:
        raise AgreementError("not_a_signer", "您不是本协议的签署人 / you are not a signer")
    if version != doc.version or text_sha256 != doc.text_sha256:
        raise AgreementError(
            "version_conflict",
            "协议内容已更新，请重新阅读后签名 / the text changed: review the new version and sign",
        )
    for old in await active_signatures(db, doc):
        if old.participant_id == participant.id:
            raise AgreementError("already_signed", "您已签署此版本 / already signed")
    if organisation and (not signatory_name.strip() or signatory_capacity not in CAPACITIES):
        raise AgreementError(
            "signatory_required",
            "单位当事人须填写签署人姓名及身份（法定代表人或委托代理人） / an organisation signs "
            "through a named person: give their name and capacity",
        )
    sig = AgreementSignature(
        document_id=doc.id,
        participant_id=participant.id,
        signer_name=participant.display_name,
        signer_role=participant.role_label,
        version=doc.version,
        text_sha256=doc.text_sha256,
        image_png=signature_png,
        image_sha256=hashlib.sha256(signature_png).hexdigest(),
        identity_verification_id=identity.id if identity else None,
        identity=identity.public() if identity else {"verified": False},
        ip=ip,
        signatory_name=signatory_name.strip() if organisation else "",
        signatory_capacity=signatory_capacity if organisation else "",
    )
    db.add(sig)
    await db.flush()
    return sig


async def complete_if_signed(db: AsyncSession, doc: AgreementDocument) -> bool:
    """Effective when every required signer has a valid signature of the current version."""
    signed = {s.participant_id for s in await active_signatures(db, doc)}
    if doc.status == DocStatus.signing.value and doc.signers and set(doc.signers) <= signed:
        doc.status = DocStatus.effective.value
        doc.effective_at = datetime.now(UTC)
        return True
    return False


async def view(db: AsyncSession, doc: AgreementDocument, *, with_text: bool) -> dict[str, Any]:
    """The document's state as clients see it; the text only for those allowed to read it."""
    sigs = await active_signatures(db, doc)
    out: dict[str, Any] = {
        "kind": doc.kind,
        "title": doc.title,
        "status": doc.status,
        "version": doc.version,
        "text_sha256": doc.text_sha256,
        "signed": len({s.participant_id for s in sigs}),
        "required": len(doc.signers),
        "signers": list(doc.signers),
        "signatures": [
            {
                "participant_id": s.participant_id,
                "name": s.signer_name,
                "role": s.signer_role,
                "version": s.version,
                "text_sha256": s.text_sha256,
                "signed_at": s.signed_at.isoformat(),
                "identity_verified": bool(s.identity.get("verified")),
                "signatory_name": s.signatory_name,
                "signatory_capacity": s.signatory_capacity,
            }
            for s in sigs
        ],
        "audience": list(doc.audience),
        "shown": dict(doc.shown or {}),
        "voided": await owed_signatures(db, doc),
        "effective_at": doc.effective_at.isoformat() if doc.effective_at else None,
        "pdf_sha256": doc.pdf_sha256 or None,
    }
    if with_text:
        out["text"] = doc.text
    return out


KINDS = tuple(k.value for k in DocKind)
