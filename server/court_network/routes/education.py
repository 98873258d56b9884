"""Routes of the legal education (普法): article, image and video items with their media, the
court's playlist order, the items' active dates, the per-terminal schedules, and the playlist a
terminal plays while idle, whose media are fetched by signed URL (the terminal's player sends no
credentials)."""

from __future__ import annotations

import time

from aiohttp import web
from sqlalchemy import and_, delete, func, or_, select

from server import audit
from server.court_network import service
from server.court_network.files import (
    IMAGE_TYPES,
    MAX_IMAGE_BYTES,
    MAX_VIDEO_BYTES,
    VIDEO_TYPES,
    receive_file,
    stored_path,
)
from server.court_network.models import EducationItem, EducationSchedule
from server.court_network.routes.access import TAG
from server.court_network.schemas import (
    EducationIn,
    EducationOrderIn,
    EducationOut,
    EducationPatch,
    PlaylistItemOut,
    ScheduleIn,
    ScheduleOut,
)
from server.http.errors import ApiError, bad_request, not_found
from server.http.framework import Api, Ctx
from server.models import Terminal, UserRole
from server.security.principals import TerminalPrincipal
from server.security.tokens import TokenError
from server.zones import zone_of

api = Api()
EDU_WRITERS = (UserRole.admin, UserRole.clerk, UserRole.judge)
VIDEO_KIND = "education"  # the store of every 普法 medium (videos and images alike)
MEDIA_URL_HOURS = 12
MEDIA_KINDS = ("video", "image")


def _check_dates(starts_on: str | None, ends_on: str | None) -> None:
    if starts_on and ends_on and ends_on < starts_on:
        raise bad_request("结束日期早于开始日期 / ends_on before starts_on", code="invalid_dates")


async def _court_items(ctx: Ctx) -> list[EducationItem]:
    rows = await ctx.db.scalars(
        select(EducationItem)
        .where(EducationItem.court_id == ctx.staff.court_id)
        .order_by(EducationItem.position, EducationItem.created_at, EducationItem.id)
    )
    return list(rows)


@api.route(
    "GET",
    "/api/network/education",
    summary="Legal-education items (普法), in playlist order",
    tag=TAG,
    response=list[EducationOut],
)
async def list_education(ctx: Ctx) -> list[EducationItem]:
    return await _court_items(ctx)


@api.route(
    "POST",
    "/api/network/education",
    summary="Add an article, an image or a video item (by default after the last item)",
    tag=TAG,
    roles=EDU_WRITERS,
    body=EducationIn,
    response=EducationOut,
    status=201,
)
async def create_education(ctx: Ctx, body: EducationIn) -> EducationItem:
    _check_dates(body.starts_on, body.ends_on)
    fields = body.model_dump()
    if fields["position"] is None:
        last = await ctx.db.scalar(
            select(func.max(EducationItem.position)).where(
                EducationItem.court_id == ctx.staff.court_id
            )
        )
        fields["position"] = 0 if last is None else last + 1
    item = EducationItem(court_id=ctx.staff.court_id, created_by=ctx.actor, **fields)
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
    "PATCH",
    "/api/network/education/{item_id}",
    summary="Edit an item: title, text, seconds on screen, order, active dates, terminals",
    tag=TAG,
    roles=EDU_WRITERS,
    body=EducationPatch,
    response=EducationOut,
)
async def update_education(ctx: Ctx, body: EducationPatch) -> EducationItem:
    item = await ctx.court_row(EducationItem, ctx.match("item_id"), "education item")
    changes = body.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None and key not in ("starts_on", "ends_on"):
            continue  # not clearable: null keeps the value
        setattr(item, key, value)
    _check_dates(item.starts_on, item.ends_on)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.education.update",
        court_id=item.court_id,
        target=item.id,
        ip=ctx.ip,
        changes=changes,
    )
    return item


@api.route(
    "DELETE",
    "/api/network/education/{item_id}",
    summary="Remove an item (and its terminal schedules)",
    tag=TAG,
    roles=EDU_WRITERS,
)
async def delete_education(ctx: Ctx) -> None:
    item = await ctx.court_row(EducationItem, ctx.match("item_id"), "education item")
    await ctx.db.execute(delete(EducationSchedule).where(EducationSchedule.item_id == item.id))
    await ctx.db.delete(item)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.education.delete",
        court_id=item.court_id,
        target=item.id,
        ip=ctx.ip,
        title=item.title,
    )


@api.route(
    "PUT",
    "/api/network/education/order",
    summary="Reorder the playlist: every item id of the court, in the order to play",
    tag=TAG,
    roles=EDU_WRITERS,
    body=EducationOrderIn,
    response=list[EducationOut],
)
async def order_education(ctx: Ctx, body: EducationOrderIn) -> list[EducationItem]:
    items = await _court_items(ctx)
    by_id = {it.id: it for it in items}
    if len(set(body.item_ids)) != len(body.item_ids) or set(body.item_ids) != set(by_id):
        raise ApiError(
            409,
            "order_mismatch",
            "列表已变化，请刷新后重试 / list every item of the court exactly once (reload)",
        )
    for pos, item_id in enumerate(body.item_ids):
        by_id[item_id].position = pos
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.education.order",
        court_id=ctx.staff.court_id,
        target=ctx.staff.court_id,
        ip=ctx.ip,
        item_ids=body.item_ids,
    )
    return [by_id[i] for i in body.item_ids]


@api.route(
    "POST",
    "/api/network/education/{item_id}/media",
    summary=(
        "Upload the medium of an item (multipart 'file'): a video item takes MP4 or WebM "
        "(≤ 200 MiB), an image item JPEG, PNG or WebP (≤ 10 MiB); the content decides"
    ),
    tag=TAG,
    roles=EDU_WRITERS,
    response=EducationOut,
)
async def upload_education_media(ctx: Ctx) -> EducationItem:
    item = await ctx.court_row(EducationItem, ctx.match("item_id"), "education item")
    if item.kind not in MEDIA_KINDS:
        raise bad_request(
            "文章不需要视频或图片 / only video and image items take media", code="not_video"
        )
    allowed, limit = (
        (VIDEO_TYPES, MAX_VIDEO_BYTES) if item.kind == "video" else (IMAGE_TYPES, MAX_IMAGE_BYTES)
    )
    # Up to 200 MiB from a court PC may take minutes: end the transaction so no pooled
    # connection waits on the upload (the item stays loaded); the update is a second, short one.
    await ctx.db.commit()
    stored = await receive_file(
        ctx.request,
        ctx.state.settings.data_dir,
        VIDEO_KIND,
        allowed=allowed,
        max_bytes=limit,
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
    _check_dates(body.starts_on, body.ends_on)
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
    "DELETE",
    "/api/network/education/schedules/{schedule_id}",
    summary="Remove an item's schedule on a terminal",
    tag=TAG,
    roles=EDU_WRITERS,
)
async def delete_schedule(ctx: Ctx) -> None:
    row = await ctx.db.get(EducationSchedule, ctx.match("schedule_id"))
    terminal = await ctx.db.get(Terminal, row.terminal_id) if row is not None else None
    if row is None or terminal is None or terminal.court_id != ctx.staff.court_id:
        raise not_found("schedule")
    await ctx.db.delete(row)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.education.unschedule",
        court_id=terminal.court_id,
        target=row.id,
        ip=ctx.ip,
        terminal_id=terminal.id,
    )


@api.route(
    "GET",
    "/api/network/terminal/education",
    summary=(
        "Today's 普法 playlist of this terminal (played when idle, looping): the court's active "
        "items within their dates, on every terminal or scheduled here today, in order"
    ),
    tag=TAG,
    auth="terminal",
    response=list[PlaylistItemOut],
)
async def terminal_playlist(ctx: Ctx) -> list[PlaylistItemOut]:
    assert isinstance(ctx.principal, TerminalPrincipal)
    terminal = ctx.principal.terminal
    today = service.local_now(await zone_of(ctx.db, terminal.court_id)).strftime("%Y-%m-%d")
    here_today = and_(
        EducationSchedule.item_id == EducationItem.id,
        EducationSchedule.terminal_id == terminal.id,
        EducationSchedule.starts_on <= today,
        EducationSchedule.ends_on >= today,
    )
    rows = await ctx.db.execute(
        select(EducationItem)
        .outerjoin(EducationSchedule, here_today)
        .where(
            EducationItem.court_id == terminal.court_id,
            EducationItem.active.is_(True),
            or_(EducationItem.starts_on.is_(None), EducationItem.starts_on <= today),
            or_(EducationItem.ends_on.is_(None), EducationItem.ends_on >= today),
            or_(EducationItem.all_terminals.is_(True), EducationSchedule.id.is_not(None)),
            # A video or an image without its file yet has nothing to show.
            or_(EducationItem.kind.not_in(MEDIA_KINDS), EducationItem.media_sha256 != ""),
        )
        # A terminal's own schedule orders first (its position), then the court's order.
        .order_by(
            func.coalesce(EducationSchedule.position, 0),
            EducationItem.position,
            EducationItem.created_at,
            EducationItem.id,
        )
    )
    out = []
    seen: set[str] = set()
    expires = time.time() + MEDIA_URL_HOURS * 3600
    for item in rows.scalars():
        if item.id in seen:  # scheduled here twice, or scheduled and on every terminal
            continue
        seen.add(item.id)
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
    summary="A 普法 video or image by the signed URL from the playlist",
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
    if not path.is_file():
        raise not_found("media")
    return web.FileResponse(
        path, headers={"Content-Type": item.media_type, "Cache-Control": "private, max-age=3600"}
    )
