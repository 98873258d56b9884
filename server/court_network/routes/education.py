"""Routes of the legal education (普法): article and video items with their media, the per-terminal
schedules, and the playlist a terminal plays while idle, whose videos are fetched by signed URL
(the terminal's player sends no credentials)."""

from __future__ import annotations

import time

from aiohttp import web
from sqlalchemy import select

from server import audit
from server.court_network import service
from server.court_network.files import MAX_VIDEO_BYTES, VIDEO_TYPES, receive_file, stored_path
from server.court_network.models import EducationItem, EducationSchedule
from server.court_network.routes.access import TAG
from server.court_network.schemas import (
    EducationIn,
    EducationOut,
    PlaylistItemOut,
    ScheduleIn,
    ScheduleOut,
)
from server.http.errors import bad_request, not_found
from server.http.framework import Api, Ctx
from server.models import Terminal, UserRole
from server.security.principals import TerminalPrincipal
from server.security.tokens import TokenError

api = Api()
EDU_WRITERS = (UserRole.admin, UserRole.clerk, UserRole.judge)
VIDEO_KIND = "education"
MEDIA_URL_HOURS = 12


@api.route(
    "GET",
    "/api/network/education",
    summary="Legal-education items (普法)",
    tag=TAG,
    response=list[EducationOut],
)
async def list_education(ctx: Ctx) -> list[EducationItem]:
    rows = await ctx.db.scalars(
        select(EducationItem)
        .where(EducationItem.court_id == ctx.staff.court_id)
        .order_by(EducationItem.created_at.desc())
    )
    return list(rows)


@api.route(
    "POST",
    "/api/network/education",
    summary="Add an article or a video item",
    tag=TAG,
    roles=EDU_WRITERS,
    body=EducationIn,
    response=EducationOut,
    status=201,
)
async def create_education(ctx: Ctx, body: EducationIn) -> EducationItem:
    item = EducationItem(court_id=ctx.staff.court_id, created_by=ctx.actor, **body.model_dump())
    ctx.db.add(item)
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.education.create",
        court_id=item.court_id,
        target=item.id,
        ip=ctx.ip,
        title=item.title,
    )
    return item


@api.route(
    "POST",
    "/api/network/education/{item_id}/media",
    summary="Upload the video of an item (multipart 'file': MP4 or WebM, ≤ 200 MiB)",
    tag=TAG,
    roles=EDU_WRITERS,
    response=EducationOut,
)
async def upload_education_media(ctx: Ctx) -> EducationItem:
    item = await ctx.court_row(EducationItem, ctx.match("item_id"), "education item")
    if item.kind != "video":
        raise bad_request("文章不需要视频 / only video items take media", code="not_video")
    # Up to 200 MiB from a court PC may take minutes: end the transaction so no pooled
    # connection waits on the upload (the item stays loaded); the update is a second, short one.
    await ctx.db.commit()
    stored = await receive_file(
        ctx.request,
        ctx.state.settings.data_dir,
        VIDEO_KIND,
        allowed=VIDEO_TYPES,
        max_bytes=MAX_VIDEO_BYTES,
    )
    item.media_sha256, item.media_type, item.media_size = (
        stored.sha256,
        stored.content_type,
        stored.size,
    )
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.education.media",
        court_id=item.court_id,
        target=item.id,
        ip=ctx.ip,
        sha256=stored.sha256,
    )
    return item


@api.route(
    "GET",
    "/api/network/education/schedules",
    summary="Per-terminal 普法 schedule",
    tag=TAG,
    response=list[ScheduleOut],
)
async def list_schedules(ctx: Ctx) -> list[EducationSchedule]:
    rows = await ctx.db.scalars(
        select(EducationSchedule)
        .join(Terminal, Terminal.id == EducationSchedule.terminal_id)
        .where(Terminal.court_id == ctx.staff.court_id)
        .order_by(EducationSchedule.terminal_id, EducationSchedule.position)
    )
    return list(rows)


@api.route(
    "POST",
    "/api/network/education/schedules",
    summary="Schedule an item on a terminal between two dates",
    tag=TAG,
    roles=EDU_WRITERS,
    body=ScheduleIn,
    response=ScheduleOut,
    status=201,
)
async def create_schedule(ctx: Ctx, body: ScheduleIn) -> EducationSchedule:
    item = await ctx.db.get(EducationItem, body.item_id)
    terminal = await ctx.db.get(Terminal, body.terminal_id)
    if item is None or item.court_id != ctx.staff.court_id:
        raise bad_request("条目无效 / unknown item_id", code="invalid_item")
    if terminal is None or terminal.court_id != ctx.staff.court_id:
        raise bad_request("终端无效 / unknown terminal_id", code="invalid_terminal_id")
    if body.ends_on < body.starts_on:
        raise bad_request("结束日期早于开始日期 / ends_on before starts_on", code="invalid_dates")
    row = EducationSchedule(**body.model_dump())
    ctx.db.add(row)
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.education.schedule",
        court_id=item.court_id,
        target=row.id,
        ip=ctx.ip,
        terminal_id=terminal.id,
    )
    return row


@api.route(
    "GET",
    "/api/network/terminal/education",
    summary="Today's 普法 playlist of this terminal (played when idle)",
    tag=TAG,
    auth="terminal",
    response=list[PlaylistItemOut],
)
async def terminal_playlist(ctx: Ctx) -> list[PlaylistItemOut]:
    assert isinstance(ctx.principal, TerminalPrincipal)
    today = service.local_now().strftime("%Y-%m-%d")
    rows = await ctx.db.execute(
        select(EducationItem, EducationSchedule)
        .join(EducationSchedule, EducationSchedule.item_id == EducationItem.id)
        .where(
            EducationSchedule.terminal_id == ctx.principal.terminal.id,
            EducationSchedule.starts_on <= today,
            EducationSchedule.ends_on >= today,
            EducationItem.active.is_(True),
        )
        .order_by(EducationSchedule.position, EducationItem.title)
    )
    out = []
    expires = time.time() + MEDIA_URL_HOURS * 3600
    for item, _ in rows.all():
        url = None
        if item.media_sha256:
            token = ctx.state.signer.sign("edu", {"item": item.id}, expires)
            url = f"/api/network/education-media/{token}"
        out.append(
            PlaylistItemOut(
                id=item.id,
                kind=item.kind,
                title=item.title,
                body=item.body,
                duration_seconds=item.duration_seconds,
                media_type=item.media_type,
                media_url=url,
            )
        )
    return out


@api.route(
    "GET",
    "/api/network/education-media/{token}",
    summary="A 普法 video by the signed URL from the playlist",
    tag=TAG,
    auth="public",
    raw_response="video/mp4",
)
async def education_media(ctx: Ctx, token: str) -> web.StreamResponse:
    try:
        payload = ctx.state.signer.verify("edu", token)
    except TokenError as exc:
        raise not_found("media") from exc
    item = await ctx.db.get(EducationItem, str(payload.get("item")))
    if item is None or not item.media_sha256:
        raise not_found("media")
    path = stored_path(ctx.state.settings.data_dir, VIDEO_KIND, item.media_sha256)
    return web.FileResponse(
        path, headers={"Content-Type": item.media_type, "Cache-Control": "private, max-age=3600"}
    )
