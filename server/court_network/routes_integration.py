"""Network routes: statistics and exports, 普法 education, API keys, webhooks, CSV import."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select

from server import audit
from server.court_network import importer, service, stats
from server.court_network.apikeys import hash_key, new_key
from server.court_network.egress import EgressRefused, check_target
from server.court_network.files import MAX_VIDEO_BYTES, VIDEO_TYPES, receive_file, stored_path
from server.court_network.models import (
    ApiKey,
    EducationItem,
    EducationSchedule,
    Intake,
    IntakeChannel,
    MediatorProfile,
    MediatorSharedCourt,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from server.court_network.routes_core import court_of
from server.court_network.schemas import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    AttemptOut,
    DeliveryDetailOut,
    DeliveryOut,
    EducationIn,
    EducationOut,
    ImportResultOut,
    PlaylistItemOut,
    ScheduleIn,
    ScheduleOut,
    StatsOut,
    StatsQuery,
    WebhookCreatedOut,
    WebhookIn,
    WebhookOut,
)
from server.http.errors import ApiError, bad_request, not_found
from server.http.framework import Api, Ctx
from server.models import CaseType, Terminal, User, UserRole
from server.security.passwords import hash_password
from server.security.principals import TerminalPrincipal
from server.security.tokens import TokenError

api = Api()
TAG = "network"
ADMIN = (UserRole.admin,)
STATS_READERS = (UserRole.admin, UserRole.judge, UserRole.clerk)
EDU_WRITERS = (UserRole.admin, UserRole.clerk, UserRole.judge)
VIDEO_KIND = "education"
MEDIA_URL_HOURS = 12


# --- statistics ------------------------------------------------------------------------------
@api.route(
    "GET",
    "/api/network/stats",
    summary="Governance statistics for a year (+ year-on-year)",
    tag=TAG,
    roles=STATS_READERS,
    query=StatsQuery,
    response=StatsOut,
    scope="stats:read",
)
async def get_stats(ctx: Ctx, query: StatsQuery) -> StatsOut:
    return await stats.compute(ctx.db, court_of(ctx), query.year, query.shared_court_id)


@api.route(
    "GET",
    "/api/network/stats.csv",
    summary="Statistics as CSV (UTF-8 with BOM)",
    tag=TAG,
    roles=STATS_READERS,
    query=StatsQuery,
    raw_response="text/csv",
    scope="stats:read",
)
async def stats_csv(ctx: Ctx, query: StatsQuery) -> web.Response:
    data = stats.to_csv(
        await stats.compute(ctx.db, court_of(ctx), query.year, query.shared_court_id)
    )
    return web.Response(
        body=data,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="governance-{query.year}.csv"'},
    )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@api.route(
    "GET",
    "/api/network/stats.xlsx",
    summary="Statistics as XLSX",
    tag=TAG,
    roles=STATS_READERS,
    query=StatsQuery,
    raw_response=XLSX,
    scope="stats:read",
)
async def stats_xlsx(ctx: Ctx, query: StatsQuery) -> web.Response:
    data = stats.to_xlsx(
        await stats.compute(ctx.db, court_of(ctx), query.year, query.shared_court_id)
    )
    return web.Response(
        body=data,
        content_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="governance-{query.year}.xlsx"'},
    )


# --- 普法 education -------------------------------------------------------------------------
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


# --- API keys --------------------------------------------------------------------------------
@api.route(
    "GET",
    "/api/network/api-keys",
    summary="API keys of the court",
    tag=TAG,
    roles=ADMIN,
    response=list[ApiKeyOut],
)
async def list_api_keys(ctx: Ctx) -> list[ApiKey]:
    rows = await ctx.db.scalars(
        select(ApiKey).where(ApiKey.court_id == ctx.staff.court_id).order_by(ApiKey.created_at)
    )
    return list(rows)


@api.route(
    "POST",
    "/api/network/api-keys",
    summary="Create a scoped API key (secret shown once)",
    tag=TAG,
    roles=ADMIN,
    body=ApiKeyIn,
    response=ApiKeyCreatedOut,
    status=201,
)
async def create_api_key(ctx: Ctx, body: ApiKeyIn) -> ApiKeyCreatedOut:
    prefix, token = new_key()
    key = ApiKey(
        court_id=ctx.staff.court_id,
        name=body.name,
        prefix=prefix,
        key_hash=hash_key(token),
        scopes=sorted(set(body.scopes)),
        created_by=ctx.actor,
    )
    ctx.db.add(key)
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.api_key.create",
        court_id=key.court_id,
        target=key.id,
        ip=ctx.ip,
        scopes=key.scopes,
    )
    return ApiKeyCreatedOut(key=ApiKeyOut.model_validate(key), secret=token)


@api.route(
    "POST",
    "/api/network/api-keys/{key_id}/revoke",
    summary="Revoke an API key",
    tag=TAG,
    roles=ADMIN,
    response=ApiKeyOut,
)
async def revoke_api_key(ctx: Ctx) -> ApiKey:
    key = await ctx.court_row(ApiKey, ctx.match("key_id"), "api key")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        audit.record(
            ctx.db,
            actor=ctx.actor,
            action="network.api_key.revoke",
            court_id=key.court_id,
            target=key.id,
            ip=ctx.ip,
        )
    return key


# --- webhooks --------------------------------------------------------------------------------
@api.route(
    "GET",
    "/api/network/webhooks",
    summary="Webhooks of the court",
    tag=TAG,
    roles=ADMIN,
    response=list[WebhookOut],
)
async def list_webhooks(ctx: Ctx) -> list[Webhook]:
    rows = await ctx.db.scalars(
        select(Webhook).where(Webhook.court_id == ctx.staff.court_id).order_by(Webhook.created_at)
    )
    return list(rows)


@api.route(
    "POST",
    "/api/network/webhooks",
    summary="Register a webhook (HMAC secret shown once)",
    tag=TAG,
    roles=ADMIN,
    body=WebhookIn,
    response=WebhookCreatedOut,
    status=201,
)
async def create_webhook(ctx: Ctx, body: WebhookIn) -> WebhookCreatedOut:
    try:
        await check_target(
            body.url.host or "", body.url.port or 443,
            ctx.state.settings.webhook_allow_private_targets,
        )
    except EgressRefused as exc:
        raise ApiError(
            400, "webhook_target_refused",
            f"回调地址须为公网地址 / webhook target refused: {exc}",
        ) from exc
    secret = "whsec_" + secrets.token_urlsafe(32)
    hook = Webhook(
        court_id=ctx.staff.court_id,
        url=str(body.url),
        secret=secret,
        events=sorted(set(body.events)),
        created_by=ctx.actor,
    )
    ctx.db.add(hook)
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.webhook.create",
        court_id=hook.court_id,
        target=hook.id,
        ip=ctx.ip,
        url=hook.url,
    )
    return WebhookCreatedOut(webhook=WebhookOut.model_validate(hook), secret=secret)


async def _load_webhook(ctx: Ctx) -> Webhook:
    return await ctx.court_row(Webhook, ctx.match("webhook_id"), "webhook")


@api.route(
    "POST",
    "/api/network/webhooks/{webhook_id}/disable",
    summary="Disable a webhook",
    tag=TAG,
    roles=ADMIN,
    response=WebhookOut,
)
async def disable_webhook(ctx: Ctx) -> Webhook:
    hook = await _load_webhook(ctx)
    hook.active = False
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.webhook.disable",
        court_id=hook.court_id,
        target=hook.id,
        ip=ctx.ip,
    )
    return hook


@api.route(
    "GET",
    "/api/network/webhooks/{webhook_id}/deliveries",
    summary="Delivery log of a webhook (newest first)",
    tag=TAG,
    roles=ADMIN,
    response=list[DeliveryOut],
)
async def list_deliveries(ctx: Ctx) -> list[WebhookDelivery]:
    hook = await _load_webhook(ctx)
    rows = await ctx.db.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == hook.id)
        .order_by(WebhookDelivery.created_at.desc())
        .limit(200)
    )
    return list(rows)


async def _load_delivery(ctx: Ctx) -> WebhookDelivery:
    return await ctx.court_row(WebhookDelivery, ctx.match("delivery_id"), "delivery")


async def _delivery_detail(ctx: Ctx, d: WebhookDelivery) -> DeliveryDetailOut:
    attempts = await ctx.db.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id == d.id).order_by(WebhookAttempt.id)
    )
    return DeliveryDetailOut(
        **DeliveryOut.model_validate(d).model_dump(),
        payload=d.payload,
        attempt_log=[AttemptOut.model_validate(a) for a in attempts],
    )


@api.route(
    "GET",
    "/api/network/webhook-deliveries/{delivery_id}",
    summary="One delivery with its payload and every attempt",
    tag=TAG,
    roles=ADMIN,
    response=DeliveryDetailOut,
)
async def get_delivery(ctx: Ctx) -> DeliveryDetailOut:
    return await _delivery_detail(ctx, await _load_delivery(ctx))


@api.route(
    "POST",
    "/api/network/webhook-deliveries/{delivery_id}/replay",
    summary="Send a delivery's payload again (a new delivery, same event id)",
    tag=TAG,
    roles=ADMIN,
    response=DeliveryDetailOut,
    status=201,
)
async def replay_delivery(ctx: Ctx) -> DeliveryDetailOut:
    old = await _load_delivery(ctx)
    hook = await ctx.db.get(Webhook, old.webhook_id)
    if hook is None or not hook.active:
        raise ApiError(409, "webhook_disabled", "webhook 已停用 / webhook is disabled")
    new = WebhookDelivery(
        webhook_id=old.webhook_id,
        court_id=old.court_id,
        event=old.event,
        payload=dict(old.payload),
        replay_of=old.id,
        next_attempt_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    ctx.db.add(new)
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.webhook.replay",
        court_id=old.court_id,
        target=new.id,
        ip=ctx.ip,
        replay_of=old.id,
    )
    service.runtime(ctx.state).dispatcher.wake()
    return await _delivery_detail(ctx, new)


# --- CSV import ------------------------------------------------------------------------------
IMPORT_ROLES = (UserRole.admin, UserRole.clerk)


@api.route(
    "POST",
    "/api/network/import/cases",
    summary="Import intakes from CSV (body: text/csv); all rows or none",
    tag=TAG,
    roles=IMPORT_ROLES,
    response=ImportResultOut,
    status=201,
    scope="import:write",
)
async def import_cases(ctx: Ctx) -> ImportResultOut:
    court_id = court_of(ctx)
    parsed = importer.parse_csv(await ctx.request.read(), importer.CASE_COLUMNS)
    courts = await importer.shared_courts_by_name(ctx.db, court_id)
    errors: list[dict[str, Any]] = []
    valid: list[tuple[int, importer.CaseRow]] = []
    seen: dict[str, int] = {}
    for line, raw in parsed:
        try:
            row = importer.CaseRow.model_validate(raw)
        except ValidationError as exc:
            errors += importer.row_errors(line, exc)
            continue
        if row.shared_court and row.shared_court not in courts:
            errors.append(
                {
                    "field": f"row {line}.shared_court",
                    "type": "unknown",
                    "message": f"未知的共享法庭 / unknown shared court {row.shared_court}",
                }
            )
        if row.number:
            if row.number in seen:
                errors.append(
                    {
                        "field": f"row {line}.number",
                        "type": "duplicate",
                        "message": f"与第 {seen[row.number]} 行重复 / duplicate of row "
                        f"{seen[row.number]}",
                    }
                )
            elif await ctx.db.scalar(select(Intake.id).where(Intake.number == row.number)):
                errors.append(
                    {
                        "field": f"row {line}.number",
                        "type": "exists",
                        "message": "编号已存在 / number already exists",
                    }
                )
            seen.setdefault(row.number, line)
        valid.append((line, row))
    if errors:
        raise importer.fail(errors)
    ids = []
    for _, row in valid:
        shared = courts.get(row.shared_court) if row.shared_court else None
        intake = await service.create_intake(
            ctx.db,
            ctx.state,
            court_id=court_id,
            data=service.IntakeData(
                case_type=row.case_type,
                applicant_name=row.applicant_name,
                applicant_phone=row.applicant_phone,
                respondent_name=row.respondent_name,
                respondent_phone=row.respondent_phone,
                claim=row.claim,
                facts=row.facts,
            ),
            channel=IntakeChannel.imported,
            actor=ctx.actor,
            shared_court=shared,
            number=row.number or None,
            received_at=row.received_at,
            ip=ctx.ip,
            notify=False,
        )
        ids.append(intake.id)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.import.cases",
        court_id=court_id,
        ip=ctx.ip,
        count=len(ids),
    )
    service.runtime(ctx.state).dispatcher.wake()
    return ImportResultOut(imported=len(ids), ids=ids)


@api.route(
    "POST",
    "/api/network/import/mediators",
    summary="Import mediators from CSV (creates accounts or updates profiles); all or none",
    tag=TAG,
    roles=IMPORT_ROLES,
    response=ImportResultOut,
    status=201,
    scope="import:write",
)
async def import_mediators(ctx: Ctx) -> ImportResultOut:
    court_id = court_of(ctx)
    parsed = importer.parse_csv(await ctx.request.read(), importer.MEDIATOR_COLUMNS)
    courts = await importer.shared_courts_by_name(ctx.db, court_id)
    errors: list[dict[str, Any]] = []
    valid: list[tuple[importer.MediatorRow, User | None]] = []
    seen: dict[str, int] = {}
    for line, raw in parsed:
        try:
            row = importer.MediatorRow.model_validate(raw)
        except ValidationError as exc:
            errors += importer.row_errors(line, exc)
            continue
        unknown = [n for n in row.shared_courts if n not in courts]
        if unknown:
            errors.append(
                {
                    "field": f"row {line}.shared_courts",
                    "type": "unknown",
                    "message": "未知的共享法庭 / unknown shared courts: " + ", ".join(unknown),
                }
            )
        if row.username in seen:
            errors.append(
                {
                    "field": f"row {line}.username",
                    "type": "duplicate",
                    "message": f"与第 {seen[row.username]} 行重复 / duplicate of row "
                    f"{seen[row.username]}",
                }
            )
        seen.setdefault(row.username, line)
        user = await ctx.db.scalar(select(User).where(User.username == row.username))
        if user is not None and (user.court_id != court_id or user.role != row.role):
            errors.append(
                {
                    "field": f"row {line}.username",
                    "type": "conflict",
                    "message": "用户名已被其他账号使用 / username belongs to another "
                    "account or role",
                }
            )
        valid.append((row, user))
    if errors:
        raise importer.fail(errors)
    ids = []
    for row, user in valid:
        if user is None:
            # New accounts cannot log in until an administrator sets a password.
            user = User(
                court_id=court_id,
                username=row.username,
                display_name=row.display_name,
                role=row.role,
                password_hash=hash_password(importer.random_password()),
            )
            ctx.db.add(user)
            await ctx.db.flush()
        profile = await ctx.db.get(MediatorProfile, user.id)
        if profile is None:
            profile = MediatorProfile(user_id=user.id, court_id=court_id, kind=row.kind)
            ctx.db.add(profile)
        profile.kind = row.kind
        profile.specialties = sorted({CaseType(s).value for s in row.specialties})
        profile.available = row.available
        profile.max_open = row.max_open
        for link in await ctx.db.scalars(
            select(MediatorSharedCourt).where(MediatorSharedCourt.user_id == user.id)
        ):
            await ctx.db.delete(link)
        await ctx.db.flush()
        for name in dict.fromkeys(row.shared_courts):
            ctx.db.add(MediatorSharedCourt(user_id=user.id, shared_court_id=courts[name].id))
        ids.append(user.id)
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.import.mediators",
        court_id=court_id,
        ip=ctx.ip,
        count=len(ids),
    )
    return ImportResultOut(imported=len(ids), ids=ids)
