"""Failing webhooks alert the court (audit events, the webhook's health, the alert list), and
IPv6-literal targets: a receiver on [::1] gets signed deliveries when private targets are
allowed, and is refused with a clear reason when they are not."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from server.court_network.egress import EgressRefused, PublicOnlyResolver, check_target
from server.court_network.models import WebhookDelivery
from server.court_network.service import runtime
from server.court_network.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from server.models import AuditEvent
from server.state import STATE_KEY
from tests.api.world import ok_json
from tests.court_network.net import intake_body
from tests.court_network.test_egress_filter import private_targets, register
from tests.court_network.test_integration import fast_dispatcher, wait_for


class Receiver:
    """An aiohttp receiver on `host` that answers `status` (changeable) and records requests."""

    def __init__(self, host: str = "127.0.0.1", status: int = 500) -> None:
        self.host = host
        self.status = status
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((dict(request.headers), await request.read()))
        return web.Response(status=self.status, text="boom" if self.status >= 400 else "ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.host, 0).start()
        port = self.runner.addresses[0][1]
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{port}/hook"

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


async def _audits(h: Any, action: str) -> list[AuditEvent]:
    async with h.app[STATE_KEY].db.session() as db:
        return list(await db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def _new_intake(n: Any) -> None:
    await ok_json(
        await n.clerk.post("/api/network/intakes", json=intake_body(shared_court_id=n.village)), 201
    )


async def test_given_up_delivery_alerts_the_court_and_success_clears_it(h2: Any) -> None:
    h, n = h2
    fast_dispatcher(h)  # 3 attempts
    runtime(h.app[STATE_KEY]).dispatcher.alert_after = 100  # only the give-up raises the alert
    rx = Receiver(status=500)
    await rx.start()
    try:
        hook = await ok_json(await register(n, rx.url), 201)
        hid = hook["webhook"]["id"]
        (listed,) = await ok_json(await n.admin.get("/api/network/webhooks"))
        assert listed["failing"] is False and listed["consecutive_failures"] == 0
        assert await ok_json(await n.admin.get("/api/network/webhooks/alerts")) == []
        await _new_intake(n)

        async def failing() -> bool:
            return bool(await ok_json(await n.admin.get("/api/network/webhooks/alerts")))

        await wait_for(failing)
        (alert,) = await ok_json(await n.admin.get("/api/network/webhooks/alerts"))
        assert alert["webhook_id"] == hid and alert["url"] == rx.url
        assert alert["consecutive_failures"] == 3 and alert["failed_deliveries"] == 1
        assert alert["last_error"] == "HTTP 500" and alert["failing_since"]
        (listed,) = await ok_json(await n.admin.get("/api/network/webhooks"))
        assert listed["failing"] is True
        assert listed["consecutive_failures"] == 3 and listed["last_error"] == "HTTP 500"
        assert len(rx.calls) == 3
        (given_up,) = await _audits(h, "network.webhook.delivery_failed")
        assert given_up.details["webhook_id"] == hid and given_up.details["attempts"] == 3
        (flagged,) = await _audits(h, "network.webhook.failing")
        assert flagged.target == hid and flagged.details["delivery_given_up"] is True
        assert flagged.court_id and flagged.details["last_error"] == "HTTP 500"
        # court B sees none of it
        ab = await h.login("admin_b")
        assert await ok_json(await ab.get("/api/network/webhooks/alerts")) == []

        # the receiver is fixed: a replay succeeds, the alert clears and that is audited too
        rx.status = 200
        rows = await ok_json(await n.admin.get(f"/api/network/webhooks/{hid}/deliveries"))
        await ok_json(
            await n.admin.post(f"/api/network/webhook-deliveries/{rows[0]['id']}/replay"), 201
        )

        async def healthy() -> bool:
            return not await ok_json(await n.admin.get("/api/network/webhooks/alerts"))

        await wait_for(healthy)
        (listed,) = await ok_json(await n.admin.get("/api/network/webhooks"))
        assert listed["failing"] is False and listed["consecutive_failures"] == 0
        assert listed["last_success_at"] and listed["last_error"] == "HTTP 500"
        (recovered,) = await _audits(h, "network.webhook.recovered")
        assert recovered.target == hid and recovered.details["failed_attempts"] == 3
    finally:
        await rx.stop()


async def test_consecutive_failed_attempts_alert_before_the_delivery_gives_up(h2: Any) -> None:
    h, n = h2
    fast_dispatcher(h)
    d = runtime(h.app[STATE_KEY]).dispatcher
    d.max_attempts, d.alert_after = 50, 2
    rx = Receiver(status=500)
    await rx.start()
    try:
        hook = await ok_json(await register(n, rx.url), 201)
        await _new_intake(n)

        async def flagged() -> bool:
            return bool(await _audits(h, "network.webhook.failing"))

        await wait_for(flagged)
        (event,) = await _audits(h, "network.webhook.failing")
        assert event.details["consecutive_failures"] == 2
        assert event.details["delivery_given_up"] is False
        (alert,) = await ok_json(await n.admin.get("/api/network/webhooks/alerts"))
        assert alert["webhook_id"] == hook["webhook"]["id"] and alert["failed_deliveries"] == 0
        # still failing, still one alert: the audit event marks the change, not every attempt
        await wait_for(lambda: _calls(rx, 4))
        assert len(await _audits(h, "network.webhook.failing")) == 1
    finally:
        # stop retrying before the receiver goes
        await ok_json(await n.admin.post(f"/api/network/webhooks/{hook['webhook']['id']}/disable"))
        await rx.stop()


async def _calls(rx: Receiver, k: int) -> bool:
    return len(rx.calls) >= k


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_ipv6_loopback_receiver(h2: Any) -> None:
    h, n = h2
    fast_dispatcher(h)
    rx = Receiver(host="::1", status=200)
    await rx.start()
    try:
        assert rx.url.startswith("http://[::1]:")
        # not allowed: refused at registration, with the reason
        private_targets(h, False)
        resp = await register(n, rx.url)
        assert resp.status == 400
        error = (await resp.json())["error"]
        assert error["code"] == "webhook_target_refused"
        assert "::1 is a non-public address (loopback)" in error["message"]
        assert "cannot be resolved" not in error["message"]
        # allowed: registered and delivered, signed
        private_targets(h, True)
        hook = await ok_json(await register(n, rx.url), 201)
        secret = hook["secret"]
        await _new_intake(n)
        await wait_for(lambda: _calls(rx, 1))
        headers, body = rx.calls[0]
        assert verify(secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
        assert json.loads(body)["event"] == "intake.received"
        # allowed when registered, refused at delivery once private targets are off again
        private_targets(h, False)
        await _new_intake(n)

        async def refused() -> bool:
            async with h.app[STATE_KEY].db.session() as db:
                rows = await db.scalars(
                    select(WebhookDelivery).where(WebhookDelivery.status == "failed")
                )
                return any(r.last_error.startswith("EgressRefused") for r in rows)

        await wait_for(refused)
        assert len(rx.calls) == 1
    finally:
        await rx.stop()


@pytest.mark.parametrize("host", ["[fd00::5]", "fd00::5", "[::1]", "[fe80::1%25eth0]"])
async def test_ipv6_literals_are_judged_not_resolved(host: str) -> None:
    await check_target(host, 8080, allow_private=True)  # never "cannot be resolved"
    with pytest.raises(EgressRefused, match="non-public address"):
        await check_target(host, 8080, allow_private=False)


async def test_resolver_answers_an_ipv6_literal_without_a_lookup() -> None:
    """Asked about an IPv6 address with the IPv4 family (its default), the resolver still
    answers it, as an IPv6 address; getaddrinfo would fail ("cannot be resolved")."""
    resolver = PublicOnlyResolver(allow_private=True)
    try:
        (result,) = await resolver.resolve("fd00::5", 8080, socket.AF_INET)
        assert result["host"] == "fd00::5" and result["family"] == socket.AF_INET6
        assert result["port"] == 8080
    finally:
        await resolver.close()
    with pytest.raises(EgressRefused, match="non-public"):
        await PublicOnlyResolver(allow_private=False).resolve("[fd00::5]", 8080)
