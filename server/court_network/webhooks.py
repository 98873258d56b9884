"""Outgoing webhooks: HMAC-signed JSON, persisted deliveries, retries with exponential backoff.

Every event is written as one `WebhookDelivery` row per subscribed webhook, in the transaction of
the change that caused it (so an event is never announced for a change that rolled back). The
`WebhookDispatcher` task sends due deliveries; attempts are logged in `WebhookAttempt`. A
delivery that is still pending when the server stops is sent after the restart. Each attempt
also updates the webhook's health (`consecutive_failures`, `last_error`, `failing_since`): a
webhook that keeps failing is flagged and audited (`network.webhook.failing`), so the court is
alerted (`GET /api/network/webhooks/alerts`).

Signature: `X-SharedCourt-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
with `X-SharedCourt-Timestamp: <unix seconds>`; receivers should reject old timestamps.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from yarl import URL

from server import audit
from server.background import cancel_and_wait
from server.court_network.egress import EgressRefused, check_literal, connector_kwargs, refusal
from server.court_network.models import Webhook, WebhookAttempt, WebhookDelivery
from server.db import Database
from server.models import new_id

log = logging.getLogger(__name__)

# The events a receiver may subscribe to (`WebhookEvent` in schemas.py lists the same).
EVENTS = (
    "intake.received",
    "intake.assigned",
    "intake.unassignable",
    "intake.withdrawn",
    "session.scheduled",
    "session.cancelled",
    "session.ended",
)
SIGNATURE_HEADER = "X-SharedCourt-Signature"
TIMESTAMP_HEADER = "X-SharedCourt-Timestamp"
EVENT_HEADER = "X-SharedCourt-Event"
DELIVERY_HEADER = "X-SharedCourt-Delivery"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


async def enqueue(db: AsyncSession, court_id: str, event: str, data: dict[str, Any]) -> int:
    """Queue `event` for every active webhook of the court subscribed to it."""
    hooks = await db.scalars(
        select(Webhook).where(Webhook.court_id == court_id, Webhook.active.is_(True))
    )
    n = 0
    now = datetime.now(UTC)
    for hook in hooks:
        if event not in hook.events:
            continue
        delivery_id = new_id()
        payload = {"id": delivery_id, "event": event, "created_at": now.isoformat(), "data": data}
        db.add(
            WebhookDelivery(
                id=delivery_id,
                webhook_id=hook.id,
                court_id=court_id,
                event=event,
                payload=payload,
                next_attempt_at=now,
            )
        )
        n += 1
    return n


class WebhookDispatcher:
    """Sends due deliveries in the background. Backoff: base_delay * 2**(attempts-1), capped."""

    def __init__(
        self,
        db: Database,
        *,
        poll_interval: float = 1.0,
        base_delay: float = 10.0,
        max_delay: float = 3600.0,
        max_attempts: int = 8,
        timeout: float = 10.0,
        allow_private_targets: bool = False,
        alert_after: int = 5,
    ) -> None:
        self.db = db
        # Failed attempts in a row after which the webhook counts as failing (court alert).
        self.alert_after = alert_after
        self.allow_private_targets = allow_private_targets
        self.poll_interval = poll_interval
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.timeout = timeout
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None

    def backoff(self, attempts: int) -> float:
        return float(min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1)))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _run(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook dispatcher: round failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            except TimeoutError:
                pass
            self._wake.clear()

    async def deliver_due(self) -> int:
        """Send every delivery that is due now; returns how many were attempted."""
        now = datetime.now(UTC)
        async with self.db.session() as s:
            due = list(
                await s.execute(
                    select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
                    .where(
                        WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now
                    )
                    .order_by(WebhookDelivery.next_attempt_at)
                    .limit(50)
                )
            )
        sent = 0
        for delivery_id, due_at in due:
            # Claim: push next_attempt_at forward, so another node's dispatcher skips it.
            async with self.db.session() as s:
                claimed = await s.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id == delivery_id,
                        WebhookDelivery.status == "pending",
                        WebhookDelivery.next_attempt_at == due_at,
                    )
                    .values(next_attempt_at=now + timedelta(seconds=self.timeout + 30))
                )
                if getattr(claimed, "rowcount", 0) != 1:
                    continue
            await self._attempt(delivery_id)
            sent += 1
        return sent

    async def _attempt(self, delivery_id: str) -> None:
        async with self.db.session() as s:
            delivery = await s.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return
            hook = await s.get(Webhook, delivery.webhook_id)
            if hook is None or not hook.active:
                delivery.status = "failed"
                delivery.last_error = "webhook disabled"
                return
            url, secret = hook.url, hook.secret
            body = json.dumps(delivery.payload, ensure_ascii=False, sort_keys=True).encode()
            event = delivery.event
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: event,
            DELIVERY_HEADER: delivery_id,
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: sign(secret, ts, body),
            "User-Agent": "SharedCourt-Webhook/1",
        }
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(**connector_kwargs(self.allow_private_targets))
            )
        code: int | None = None
        error = ""
        started = time.monotonic()
        try:
            # aiohttp skips the resolver for IP literals: check those here. Names are checked
            # by the connector's resolver, whose checked answer is what gets connected to; a
            # lookup here would only vet an answer that a rebinding name need not give again.
            # Parsed with yarl, as aiohttp parses it, so both agree on what the host is.
            check_literal(URL(url).host or "", self.allow_private_targets)
            async with self._http.post(
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as resp:
                code = resp.status
                await resp.read()
                if not 200 <= code < 300:
                    error = f"HTTP {code}"
        except (aiohttp.ClientError, TimeoutError, EgressRefused, ValueError) as exc:
            cause: BaseException = refusal(exc) or exc
            error = f"{type(cause).__name__}: {cause}"[:500]
        elapsed = int((time.monotonic() - started) * 1000)
        async with self.db.session() as s:
            delivery = await s.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return
            delivery.attempts += 1
            delivery.last_status_code = code
            delivery.last_error = error
            s.add(
                WebhookAttempt(
                    delivery_id=delivery_id, status_code=code, error=error, duration_ms=elapsed
                )
            )
            now = datetime.now(UTC)
            if not error:
                delivery.status = "delivered"
                delivery.delivered_at = now
            elif delivery.attempts >= self.max_attempts:
                delivery.status = "failed"
            else:
                delivery.next_attempt_at = now + timedelta(seconds=self.backoff(delivery.attempts))
            hook = await s.get(Webhook, delivery.webhook_id)
            if hook is not None:
                self._note_health(s, hook, delivery, error, now)

    def _note_health(
        self, s: AsyncSession, hook: Webhook, delivery: WebhookDelivery, error: str, now: datetime
    ) -> None:
        """Keep the webhook's health and alert the court (an audit event) when it starts
        failing: `alert_after` failed attempts in a row, or a delivery given up after its
        retries, whichever comes first. A success clears it (audited as recovered)."""
        if not error:
            if hook.failing_since is not None:
                audit.record(
                    s,
                    actor="system",
                    action="network.webhook.recovered",
                    court_id=hook.court_id,
                    target=hook.id,
                    failing_since=hook.failing_since.isoformat(),
                    failed_attempts=hook.consecutive_failures,
                )
            hook.consecutive_failures = 0
            hook.failing_since = None
            hook.last_success_at = now
            return
        hook.consecutive_failures += 1
        hook.last_error = error
        hook.last_failure_at = now
        gave_up = delivery.status == "failed"
        if gave_up:
            audit.record(
                s,
                actor="system",
                action="network.webhook.delivery_failed",
                court_id=hook.court_id,
                target=delivery.id,
                webhook_id=hook.id,
                event=delivery.event,
                attempts=delivery.attempts,
                error=error,
            )
        if hook.failing_since is None and (gave_up or hook.consecutive_failures >= self.alert_after):
            hook.failing_since = now
            audit.record(
                s,
                actor="system",
                action="network.webhook.failing",
                court_id=hook.court_id,
                target=hook.id,
                url=hook.url,
                consecutive_failures=hook.consecutive_failures,
                delivery_given_up=gave_up,
                last_error=error,
            )
            log.warning(
                "webhook %s of court %s is failing: %s", hook.id, hook.court_id, error
            )
