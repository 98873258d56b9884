"""Routes of the court's webhooks: register one (its HMAC secret is shown once; its target must be
a public address unless the settings allow private ones), list and disable them, and read and
replay the delivery log."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from server import audit
from server.court_network import service
from server.court_network.egress import EgressRefused, check_target
from server.court_network.models import Webhook, WebhookAttempt, WebhookDelivery
from server.court_network.routes.access import ADMIN, TAG
from server.court_network.schemas import (
    AttemptOut,
    DeliveryDetailOut,
    DeliveryOut,
    WebhookAlertOut,
    WebhookCreatedOut,
    WebhookIn,
    WebhookOut,
)
from server.http.errors import ApiError
from server.http.framework import Api, Ctx

api = Api()


@api.route(
    "GET",
    "/api/network/webhooks",
    summary="Webhooks of the court",
    tag=TAG,
    roles=ADMIN,
    response=list[WebhookOut],
)
async def list_webhooks(ctx: Ctx) -> list[WebhookOut]:
    """Each webhook with its health: `failing`, `consecutive_failures`, `last_error`."""
    rows = await ctx.db.scalars(
        select(Webhook).where(Webhook.court_id == ctx.staff.court_id).order_by(Webhook.created_at)
    )
    return [WebhookOut.model_validate(hook) for hook in rows]


@api.route(
    "GET",
    "/api/network/webhooks/alerts",
    summary="The court's failing webhooks (alerts for the web page)",
    tag=TAG,
    roles=ADMIN,
    response=list[WebhookAlertOut],
)
async def webhook_alerts(ctx: Ctx) -> list[WebhookAlertOut]:
    """Active webhooks that count as failing (`alert_after` failed attempts in a row, or a
    delivery given up after its retries), longest failing first; empty when all is well."""
    hooks = await ctx.db.scalars(
        select(Webhook)
        .where(
            Webhook.court_id == ctx.staff.court_id,
            Webhook.active.is_(True),
            Webhook.failing_since.is_not(None),
        )
        .order_by(Webhook.failing_since)
    )
    alerts = []
    for hook in hooks:
        assert hook.failing_since is not None
        given_up_q = (
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == hook.id, WebhookDelivery.status == "failed")
        )
        if hook.last_success_at is not None:
            given_up_q = given_up_q.where(WebhookDelivery.created_at > hook.last_success_at)
        given_up = await ctx.db.scalar(given_up_q)
        alerts.append(
            WebhookAlertOut(
                webhook_id=hook.id,
                url=hook.url,
                active=hook.active,
                failing_since=hook.failing_since,
                consecutive_failures=hook.consecutive_failures,
                last_error=hook.last_error,
                last_failure_at=hook.last_failure_at,
                failed_deliveries=given_up or 0,
            )
        )
    return alerts


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
            body.url.host or "",
            body.url.port or 443,
            ctx.state.settings.webhook_allow_private_targets,
        )
    except EgressRefused as exc:
        raise ApiError(
            400,
            "webhook_target_refused",
            "回调地址须为公网地址（本机、内网及保留地址不可用；对接本院内网系统须由管理员开启 "
            f"webhook_allow_private_targets） / webhook target refused: {exc}",
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
async def disable_webhook(ctx: Ctx) -> WebhookOut:
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
    return WebhookOut.model_validate(hook)


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
