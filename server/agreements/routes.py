"""Identity verifications, agreement templates, agreement documents, the judicial-confirmation
package and the public verification page of agreements."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import select

from server import audit
from server.access import CASE_READERS, visible_sessions
from server.agreements import documents as docs
from server.agreements import identity as idstore
from server.agreements import output, package, verification
from server.agreements.models import AgreementTemplate, DocStatus, IdentityVerification
from server.agreements.templates import default_template
from server.http.errors import ApiError, not_found
from server.http.framework import Api, Ctx
from server.http.rows import load_session
from server.models import CaseType, MediationSession, UserRole
from server.security.principals import PartyPrincipal

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
    """What a hash proves, with the anchors a reader compares with the paper (never content).
    Times are the court's local time (``time_zone``), never raw UTC."""

    sha256: str
    genuine: bool
    effective: bool
    matched: Literal["text", "pdf"] | None = None
    kind: str | None = None
    kind_label: str | None = None
    title: str | None = None
    court: str | None = None
    case_number: str | None = None
    session_date: str | None = None
    effective_at: datetime | None = None
    effective_at_text: str | None = None
    effective_date: str | None = None
    time_zone: str | None = None
    pages: int | None = None
    # Masked: 张*、杭州**物业有限公司.
    parties: list[str] = []
    version: int | None = None
    # The signed text's hash (also printed on the document): tells whether an uploaded file
    # is the document a QR code points to.
    text_sha256: str | None = None


class PackageStatusOut(BaseModel):
    session_id: str
    available: bool
    code: str
    message: str


class PackageStatusQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sessions: Annotated[str, StringConstraints(max_length=3400)]


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
    session = await ctx.court_row(MediationSession, ctx.match("session_id"), "session")
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
    "{{case_type}} {{parties}} {{applicant}} {{respondent}} {{organisation}} {{individual}} "
    "{{claim}} {{terms}} {{mediator}} {{date}}",
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
    summary="司法确认 package (zip): agreement PDF, 调解笔录 and the parties' reviews, every "
    "party's identity, each sealed recording segment complete, the public key, a signed "
    "manifest; verifiable offline with `shared-court verify`. 409 while recording",
    tag=TAG,
    roles=CASE_READERS,
    raw_response="application/zip",
)
async def judicial_package(ctx: Ctx) -> web.StreamResponse:
    session = await load_session(ctx, ctx.match("session_id"))
    try:
        path, summary = await package.build_package(ctx.state, ctx.db, session, ctx.actor)
    except package.PackageError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="agreement.judicial_package",
        court_id=session.court_id,
        session_id=session.id,
        ip=ctx.ip,
        **summary,
    )
    return package.TemporaryFileResponse(
        path,
        headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="judicial-confirmation-{session.id}.zip"',
            "Cache-Control": "private, no-store",
        },
    )


@api.route(
    "GET",
    "/api/judicial-packages",
    summary="Whether the 司法确认 package of each session can be downloaded now, or why not "
    "(sessions: comma-separated ids; sessions you cannot see are left out)",
    tag=TAG,
    roles=CASE_READERS,
    query=PackageStatusQuery,
    response=list[PackageStatusOut],
)
async def judicial_package_status(ctx: Ctx, query: PackageStatusQuery) -> list[PackageStatusOut]:
    ids = [i for i in dict.fromkeys(x.strip() for x in query.sessions.split(",")) if i][:100]
    if not ids:
        return []
    rows = await ctx.db.scalars(visible_sessions(ctx.staff).where(MediationSession.id.in_(ids)))
    by_id = {s.id: s for s in rows}
    out = []
    for sid in ids:
        session = by_id.get(sid)
        if session is None:
            continue
        st = await package.package_status(ctx.db, session)
        out.append(
            PackageStatusOut(
                session_id=sid, available=st.available, code=st.code, message=st.message
            )
        )
    return out


# --- public verification --------------------------------------------------------------------
async def _verify(ctx: Ctx, digest: str) -> VerifyOut:
    result = await verification.verify(ctx.db, digest)
    return VerifyOut.model_validate(result.out())


@api.route(
    "GET",
    "/api/verify/agreement/{sha256}",
    summary="Is this hash (of the signed text or of the PDF file) a genuine, effective agreement? "
    "With anchors to compare with the paper: case number, date of effect, pages, masked party "
    "names, kind; times in the court's zone (public; reveals no content)",
    tag=TAG,
    auth="public",
    response=VerifyOut,
)
async def verify_json(ctx: Ctx) -> VerifyOut:
    return await _verify(ctx, ctx.match("sha256"))


def _page(body: str) -> web.Response:
    return web.Response(
        text=body,
        content_type="text/html",
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": verification.CSP,
            "Referrer-Policy": "no-referrer",
        },
    )


@api.route(
    "GET",
    "/verify/agreement/{sha256}",
    summary="Verification page of an agreement (HTML, Chinese first; the QR code links here): "
    "the hash's result, anchors to compare with the paper, and a PDF check hashed in the browser",
    tag=TAG,
    auth="public",
    raw_response="text/html",
)
async def verify_page(ctx: Ctx) -> web.StreamResponse:
    result = await verification.verify(ctx.db, ctx.match("sha256"))
    return _page(verification.render_page(result))


@api.route(
    "GET",
    "/verify/agreement",
    summary="Verification page without a hash: check an agreement PDF (hashed in the browser)",
    tag=TAG,
    auth="public",
    raw_response="text/html",
)
async def verify_upload_page(ctx: Ctx) -> web.StreamResponse:
    return _page(verification.render_page(None))


@api.route(
    "GET",
    verification.SCRIPT_PATH,
    summary="Script of the verification page (hashes the chosen file in the browser)",
    tag=TAG,
    auth="public",
    raw_response="text/javascript",
)
async def verify_script(ctx: Ctx) -> web.StreamResponse:
    return web.Response(
        text=verification.SCRIPT,
        content_type="text/javascript",
        headers={"Cache-Control": "public, max-age=300"},
    )


@api.route(
    "GET",
    verification.STYLE_PATH,
    summary="Style sheet of the verification page",
    tag=TAG,
    auth="public",
    raw_response="text/css",
)
async def verify_style(ctx: Ctx) -> web.StreamResponse:
    return web.Response(
        text=verification.STYLE,
        content_type="text/css",
        headers={"Cache-Control": "public, max-age=300"},
    )


__all__ = ["IdentityVerification", "api"]
