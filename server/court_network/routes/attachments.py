"""Routes of an intake's evidence files: staff upload and download. `add_attachment` receives
and records an upload for every channel (staff, the applicant online, the terminal), so the
per-intake cap and the withdrawn check hold the same wherever a file comes in; the online-intake
and terminal modules call it from here."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import Select, func, insert, literal, select

from server import audit
from server.court_network.files import (
    EVIDENCE_TYPES,
    PendingFile,
    UploadSlots,
    receive_upload,
    stored_path,
    too_many_files,
)
from server.court_network.models import Attachment, Intake, IntakeStatus
from server.court_network.routes.access import READERS, TAG, WRITERS, load_intake
from server.court_network.schemas import AttachmentOut
from server.http.errors import conflict, not_found
from server.http.framework import Api, Ctx
from server.models import new_id, utcnow
from server.state import StateKey

api = Api()
ATTACHMENT_KIND = "attachments"
_WITHDRAWN = "申请已撤回 / the intake was withdrawn"
UPLOAD_SLOTS: StateKey[UploadSlots] = StateKey("attachment_upload_slots")


def _upload_slots(ctx: Ctx) -> UploadSlots:
    slots = ctx.state.find(UPLOAD_SLOTS)
    if slots is None:
        slots = ctx.state.attach(UPLOAD_SLOTS, UploadSlots())
    return slots


def _stored_count(intake_id: str) -> Select[int]:
    return select(func.count()).select_from(Attachment).where(Attachment.intake_id == intake_id)


async def add_attachment(ctx: Ctx, intake: Intake) -> Attachment:
    settings = ctx.state.settings
    cap = settings.attachment_max_per_intake
    if intake.status in (IntakeStatus.withdrawn,):
        raise conflict(_WITHDRAWN)
    stored = await ctx.db.scalar(_stored_count(intake.id)) or 0
    with _upload_slots(ctx).reserve(intake.id, stored, cap):
        # The body may take minutes (an applicant on a poor line): end the transaction so no
        # pooled connection waits on the client. Recording the file is a second, short one.
        await ctx.db.commit()
        async with receive_upload(
            ctx.request,
            settings.data_dir,
            ATTACHMENT_KIND,
            allowed=EVIDENCE_TYPES,
            max_bytes=settings.attachment_max_bytes,
        ) as pending:
            att = await _record_attachment(ctx, intake, pending, cap)
            # Moved into place only once its row is in: a refused upload leaves no file.
            pending.store(settings.data_dir, ATTACHMENT_KIND)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="intake.attachment",
        court_id=intake.court_id,
        target=intake.id,
        ip=ctx.ip,
        sha256=att.sha256,
        size=att.size_bytes,
    )
    return att


async def _record_attachment(
    ctx: Ctx, intake: Intake, pending: PendingFile, cap: int
) -> Attachment:
    """Insert the row only while the intake holds fewer than `cap` files, in one statement.

    PostgreSQL: the intake row stays locked until commit, so inserts for one intake from any
    process run one after another and each counts the others' committed rows. SQLite ignores
    FOR UPDATE, but one write runs at a time and the count is part of the insert itself."""
    status = await ctx.db.scalar(
        select(Intake.status).where(Intake.id == intake.id).with_for_update()
    )
    if status is None or status == IntakeStatus.withdrawn:
        raise conflict(_WITHDRAWN)
    values: dict[str, object] = {
        "id": new_id(),
        "intake_id": intake.id,
        "filename": pending.filename,
        "content_type": pending.content_type,
        "size_bytes": pending.size,
        "sha256": pending.sha256,
        "uploaded_by": ctx.actor,
        "created_at": utcnow(),
    }
    columns = Attachment.__table__.c
    row = select(*(literal(v, columns[k].type) for k, v in values.items())).where(
        _stored_count(intake.id).scalar_subquery() < cap
    )
    await ctx.db.execute(insert(Attachment).from_select(list(values), row))
    att = await ctx.db.get(Attachment, values["id"])
    if att is None:
        raise too_many_files(cap)
    return att


@api.route(
    "POST",
    "/api/network/intakes/{intake_id}/attachments",
    summary="Upload evidence (multipart field 'file': JPEG, PNG or PDF, ≤ 10 MiB)",
    tag=TAG,
    roles=WRITERS,
    response=AttachmentOut,
    status=201,
)
async def upload_attachment(ctx: Ctx) -> Attachment:
    return await add_attachment(ctx, await load_intake(ctx, ctx.match("intake_id")))


@api.route(
    "GET",
    "/api/network/attachments/{attachment_id}",
    summary="Download an attachment",
    tag=TAG,
    roles=READERS,
    raw_response="application/octet-stream",
)
async def download_attachment(ctx: Ctx) -> web.StreamResponse:
    att = await ctx.db.get(Attachment, ctx.match("attachment_id"))
    if att is None:
        raise not_found("attachment")
    await load_intake(ctx, att.intake_id)
    path = stored_path(ctx.state.settings.data_dir, ATTACHMENT_KIND, att.sha256)
    return web.FileResponse(
        path,
        headers={
            "Content-Type": att.content_type,
            "Content-Disposition": "attachment; filename*=UTF-8''" + _quote(att.filename),
            "X-Content-SHA256": att.sha256,
        },
    )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
