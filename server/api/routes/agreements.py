"""Identity verifications, agreement templates, agreement documents, the judicial-confirmation
package and the public verification page of agreements."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import select

from server import audit
from server.agreements import documents as docs
from server.agreements import identity as idstore
from server.agreements import output
from server.agreements.models import AgreementTemplate, DocStatus, IdentityVerification
from server.agreements.templates import default_template
from server.api.errors import ApiError, not_found
from server.api.framework import Api, Ctx, PartyPrincipal
from server.api.routes.cases import CASE_READERS
from server.api.routes.sessions import load_session
from server.models import CaseType, Court, MediationSession, UserRole

api = Api()
TAG = "agreements"
HASH = re.compile(r"^[0-9a-f]{64}$")
KindName = Literal["agreement", "failure_record"]


# --- schemas ----------------------------------------------------------------------------------
class IdentityOut(BaseModel):
    participant_id: str
    declared_name: str
    id_masked: str
    submitted_at: datetime | None
    verified: bool
    method: str | None
    verified_by: str | None
    verifier_name: str
    verified_at: datetime | None
    still_sha256: str | None


class TemplateOut(BaseModel):
    case_type: CaseType
    kind: KindName
    title: str
    body: str
    customised: bool
    updated_at: datetime | None = None


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=20000)]


class SignatureOut(BaseModel):
    participant_id: str
    name: str
    role: str
    version: int
    text_sha256: str
    signed_at: datetime
    identity_verified: bool


class DocumentOut(BaseModel):
    kind: str
    title: str
    status: str
    version: int
    text: str
    text_sha256: str
    signed: int
    required: int
    signers: list[str]
    signatures: list[SignatureOut]
    audience: list[str]
    effective_at: datetime | None
    pdf_sha256: str | None


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    sha256: str
    author: str
    created_at: datetime


class VerifyOut(BaseModel):
    sha256: str
    genuine: bool
    effective: bool
    matched: Literal["text", "pdf"] | None = None
    kind: str | None = None
    court: str | None = None
    session_date: str | None = None
    effective_at: datetime | None = None


class PurgeOut(BaseModel):
    rows: int
    files: int


# --- identity -------------------------------------------------------------------------------
@api.route(
    "GET",
    "/api/sessions/{session_id}/identity",
    summary="Identity verifications of a session (masked numbers)",
    tag=TAG,
    roles=CASE_READERS,
    response=list[IdentityOut],
)
async def list_identity(ctx: Ctx) -> list[IdentityOut]:
    session = await load_session(ctx, ctx.match("session_id"))
    rows = await idstore.identities_of(ctx.db, session.id)
    return [IdentityOut.model_validate(r.public()) for r in rows.values()]


@api.route(
    "GET",
    "/api/sessions/{session_id}/identity/{participant_id}/still",
    summary="The still image taken during the identity check (JPEG; personal data, audited)",
    tag=TAG,
    roles=CASE_READERS,
    raw_response="image/jpeg",
)
async def identity_still(ctx: Ctx) -> web.StreamResponse:
    session = await load_session(ctx, ctx.match("session_id"))
    row = await idstore.load(ctx.db, session.id, ctx.match("participant_id"))
    path = idstore.still_file(ctx.state, row) if row else None
    if row is None or path is None:
        raise not_found("still")
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="identity.still_view",
        court_id=session.court_id,
        session_id=session.id,
        target=row.participant_id,
        ip=ctx.ip,
    )
    return web.Response(
        body=path.read_bytes(),
        content_type="image/jpeg",
        headers={"Cache-Control": "private, no-store"},
    )


@api.route(
    "DELETE",
    "/api/sessions/{session_id}/identity",
    summary="Hard delete of a session's identity data (stills, encrypted numbers, names)",
    tag=TAG,
    roles=(UserRole.admin,),
    response=PurgeOut,
)
async def purge_identity(ctx: Ctx) -> PurgeOut:
    session = await ctx.db.get(MediationSession, ctx.match("session_id"))
    if session is None:
        raise not_found("session")
    ctx.require_court(session.court_id)
    result = await idstore.purge_session(ctx.state, ctx.db, session.id)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="identity.purge",
        court_id=session.court_id,
        session_id=session.id,
        ip=ctx.ip,
        rows=result.rows,
        files=result.files,
    )
    return PurgeOut(rows=result.rows, files=result.files)


# --- templates ------------------------------------------------------------------------------
@api.route(
    "GET",
    "/api/agreement-templates",
    summary="Agreement templates of your court (per case type; built-in unless customised)",
    tag=TAG,
    roles=(UserRole.admin, *CASE_READERS),
    response=list[TemplateOut],
)
async def list_templates(ctx: Ctx) -> list[TemplateOut]:
    rows = {
        (r.case_type, r.kind): r
        for r in await ctx.db.scalars(
            select(AgreementTemplate).where(AgreementTemplate.court_id == ctx.staff.court_id)
        )
    }
    out = []
    for ct in CaseType:
        for kind in docs.KINDS:
            row = rows.get((ct.value, kind))
            if row is not None:
                out.append(
                    TemplateOut(
                        case_type=ct,
                        kind=kind,
                        title=row.title,
                        body=row.body,  # type: ignore[arg-type]
                        customised=True,
                        updated_at=row.updated_at,
                    )
                )
            else:
                t = default_template(ct.value, kind)
                out.append(
                    TemplateOut(
                        case_type=ct,
                        kind=kind,
                        title=t.title,
                        body=t.body,  # type: ignore[arg-type]
                        customised=False,
                    )
                )
    return out


@api.route(
    "PUT",
    "/api/agreement-templates/{case_type}/{kind}",
    summary="Set your court's template for a case type (admin); fields: {{court}} {{case_number}} "
    "{{case_type}} {{parties}} {{mediator}} {{date}}",
    tag=TAG,
    roles=(UserRole.admin,),
    body=TemplateIn,
    response=TemplateOut,
)
async def put_template(ctx: Ctx, body: TemplateIn) -> TemplateOut:
    case_type, kind = ctx.match("case_type"), ctx.match("kind")
    if case_type not in {c.value for c in CaseType} or kind not in docs.KINDS:
        raise not_found("template")
    court_id = ctx.staff.court_id
    row = await ctx.db.scalar(
        select(AgreementTemplate).where(
            AgreementTemplate.court_id == court_id,
            AgreementTemplate.case_type == case_type,
            AgreementTemplate.kind == kind,
        )
    )
    if row is None:
        row = AgreementTemplate(
            court_id=court_id, case_type=case_type, kind=kind, title=body.title, body=body.body
        )
        ctx.db.add(row)
    row.title, row.body = body.title, body.body
    row.updated_by, row.updated_at = ctx.actor, datetime.now(UTC)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="agreement.template",
        court_id=court_id,
        target=f"{case_type}/{kind}",
        ip=ctx.ip,
    )
    return TemplateOut(
        case_type=CaseType(case_type),
        kind=kind,
        title=row.title,  # type: ignore[arg-type]
        body=row.body,
        customised=True,
        updated_at=row.updated_at,
    )


# --- documents ------------------------------------------------------------------------------
@api.route(
    "GET",
    "/api/sessions/{session_id}/agreements",
    summary="The session's agreement and failed-mediation record (text, state, signatures)",
    tag=TAG,
    roles=CASE_READERS,
    response=list[DocumentOut],
)
async def list_documents(ctx: Ctx) -> list[DocumentOut]:
    session = await load_session(ctx, ctx.match("session_id"))
    out = []
    for kind in docs.KINDS:
        doc = await docs.get_doc(ctx.db, session.id, kind)
        if doc is not None:
            out.append(DocumentOut.model_validate(await docs.view(ctx.db, doc, with_text=True)))
    return out


@api.route(
    "GET",
    "/api/sessions/{session_id}/agreements/{kind}/versions",
    summary="Version history of a document (hashes and authors)",
    tag=TAG,
    roles=CASE_READERS,
    response=list[VersionOut],
)
async def list_versions(ctx: Ctx) -> list[Any]:
    from server.agreements.models import AgreementVersion

    session = await load_session(ctx, ctx.match("session_id"))
    doc = await docs.get_doc(ctx.db, session.id, ctx.match("kind"))
    if doc is None:
        raise not_found("agreement")
    rows = await ctx.db.scalars(
        select(AgreementVersion)
        .where(AgreementVersion.document_id == doc.id)
        .order_by(AgreementVersion.version)
    )
    return list(rows)


def _pdf_response(path: Any, filename: str) -> web.Response:
    return web.Response(
        body=path.read_bytes(),
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="agreement.pdf"; '
            f"filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "private, no-store",
        },
    )


@api.route(
    "GET",
    "/api/sessions/{session_id}/agreements/{kind}/pdf",
    summary="The effective document as PDF (staff)",
    tag=TAG,
    roles=CASE_READERS,
    raw_response="application/pdf",
)
async def document_pdf(ctx: Ctx) -> web.StreamResponse:
    session = await load_session(ctx, ctx.match("session_id"))
    doc = await docs.get_doc(ctx.db, session.id, ctx.match("kind"))
    path = output.pdf_file(ctx.state, doc) if doc else None
    if doc is None or path is None:
        raise not_found("pdf")
    return _pdf_response(path, f"{doc.title}.pdf")


@api.route(
    "GET",
    "/api/join/{token}/agreements/{kind}/pdf",
    summary="The effective document as PDF (a party of the session, by join link)",
    tag=TAG,
    auth="party",
    raw_response="application/pdf",
)
async def party_pdf(ctx: Ctx, token: str) -> web.StreamResponse:
    assert isinstance(ctx.principal, PartyPrincipal)
    doc = await docs.get_doc(ctx.db, ctx.principal.participant.session_id, ctx.match("kind"))
    path = output.pdf_file(ctx.state, doc) if doc else None
    if doc is None or path is None or doc.status != DocStatus.effective.value:
        raise not_found("pdf")
    return _pdf_response(path, f"{doc.title}.pdf")


@api.route(
    "GET",
    "/api/sessions/{session_id}/judicial-package",
    summary="司法确认 package: agreement PDF, identity verifications, sealed manifest (zip)",
    tag=TAG,
    roles=CASE_READERS,
    raw_response="application/zip",
)
async def judicial_package(ctx: Ctx) -> web.StreamResponse:
    session = await load_session(ctx, ctx.match("session_id"))
    try:
        data = await output.judicial_package(ctx.state, ctx.db, session.id)
    except docs.AgreementError as exc:
        raise ApiError(409, exc.code, exc.message) from exc
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="agreement.judicial_package",
        court_id=session.court_id,
        session_id=session.id,
        ip=ctx.ip,
    )
    return web.Response(
        body=data,
        content_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="judicial-confirmation-{session.id}.zip"',
            "Cache-Control": "private, no-store",
        },
    )


# --- public verification --------------------------------------------------------------------
async def _verify(ctx: Ctx, digest: str) -> VerifyOut:
    digest = digest.lower()
    if not HASH.match(digest):
        return VerifyOut(sha256=digest[:64], genuine=False, effective=False)
    doc = await docs.find_by_hash(ctx.db, digest)
    # Only effective documents are ever vouched for: a draft's hash is not a document.
    if doc is None or doc.status != DocStatus.effective.value:
        return VerifyOut(sha256=digest, genuine=False, effective=False)
    session = await ctx.db.get(MediationSession, doc.session_id)
    court = await ctx.db.get(Court, doc.court_id)
    when = (session.started_at or session.scheduled_at) if session else None
    local = (when.astimezone(UTC) + timedelta(hours=8)).date().isoformat() if when else None
    return VerifyOut(
        sha256=digest,
        genuine=True,
        effective=True,
        matched="text" if doc.text_sha256 == digest else "pdf",
        kind=doc.kind,
        court=court.name if court else None,
        session_date=local,
        effective_at=doc.effective_at,
    )


@api.route(
    "GET",
    "/api/verify/agreement/{sha256}",
    summary="Is this hash a genuine, effective agreement? (public; reveals no content)",
    tag=TAG,
    auth="public",
    response=VerifyOut,
)
async def verify_json(ctx: Ctx) -> VerifyOut:
    return await _verify(ctx, ctx.match("sha256"))


@api.route(
    "GET",
    "/verify/agreement/{sha256}",
    summary="Verification page of an agreement (HTML, Chinese first; the QR code links here)",
    tag=TAG,
    auth="public",
    raw_response="text/html",
)
async def verify_page(ctx: Ctx) -> web.StreamResponse:
    result = await _verify(ctx, ctx.match("sha256"))
    e = html.escape
    if result.genuine:
        kind = "调解协议书" if result.kind == "agreement" else "调解不成记录"
        body = (
            "<h1 class=ok>✔ 真实有效 / Genuine and effective</h1>"
            f"<p>该哈希值对应本系统生成的一份已生效的{e(kind)}。</p>"
            f"<table><tr><th>法院 / Court</th><td>{e(result.court or '')}</td></tr>"
            f"<tr><th>调解日期 / Session date</th><td>{e(result.session_date or '')}</td></tr>"
            f"<tr><th>生效时间 / Effective</th><td>"
            f"{e(result.effective_at.isoformat() if result.effective_at else '')}</td></tr>"
            f"<tr><th>核验依据 / Matched</th><td>{'签署文本' if result.matched == 'text' else 'PDF文件'}"
            f" SHA-256</td></tr></table>"
            "<p class=note>为保护当事人隐私，本页不显示协议内容。请将您持有文书上的哈希值与本页地址中的"
            "哈希值逐位比对。/ The content is not shown here; compare the hash printed on your copy."
            "</p>"
        )
    else:
        body = (
            "<h1 class=bad>✘ 未找到有效文书 / Not a genuine effective agreement</h1>"
            "<p>本系统中没有与该哈希值对应的已生效调解协议。文书可能被改动、尚未生效或并非本系统出具。</p>"
            "<p class=note>No effective agreement with this hash exists on this server: the "
            "document may have been altered, is not yet effective, or was not issued here.</p>"
        )
    page = (
        "<!doctype html><html lang=zh-CN><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        "<title>调解协议核验 / Agreement verification</title>"
        "<style>body{font-family:'Noto Sans CJK SC',sans-serif;margin:2em;max-width:40em}"
        ".ok{color:#176e2d}.bad{color:#a31515}th{text-align:left;padding-right:1em}"
        ".note{color:#555;font-size:.9em}code{word-break:break-all}</style>"
        f"{body}<p>SHA-256: <code>{e(result.sha256)}</code></p></html>"
    )
    return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})


__all__ = ["IdentityVerification", "api"]
