"""Webhook egress: only globally reachable targets (no SSRF into the court's network or a cloud
metadata service), whatever form the address takes, for every address of a name, and with the
address connected to being the one that was checked (DNS rebinding)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlalchemy import select

from server.court_network import egress
from server.court_network.egress import EgressRefused, check_literal, forbidden_address
from server.court_network.models import WebhookDelivery
from server.court_network.service import runtime
from server.state import STATE_KEY
from tests.api.world import ok_json
from tests.court_network.net import intake_body
from tests.court_network.test_integration import Receiver, fast_dispatcher, wait_for

PUBLIC = "93.184.215.14"  # a public address; never actually connected to below

FORBIDDEN = [
    "100.64.0.1",  # shared address space (CGNAT) …
    "100.100.100.200",  # … which holds Alibaba Cloud's metadata service
    "100.127.255.254",
    "169.254.169.254",
    "10.1.2.3",
    "127.0.0.1",
    "0.0.0.0",
    "192.0.0.170",
    "198.18.0.1",
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
    "::1",
    "::",
    "fc00::1",
    "fe80::1%eth0",
    "fec0::1",  # site-local (deprecated), called global by Python 3.11
    "ff0e::1",
    "2001:db8::1",
    "::ffff:100.64.0.1",  # IPv4-mapped
    "::ffff:100.100.100.200",
    "::ffff:127.0.0.1",
    "64:ff9b::6464:64c8",  # NAT64 of 100.100.100.200
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2002:6464:64c8::1",  # 6to4 of 100.100.100.200
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "::6464:64c8",  # IPv4-compatible (deprecated)
]
ALLOWED = [
    "8.8.8.8",
    PUBLIC,
    "100.128.0.1",  # just past 100.64.0.0/10
    "100.63.255.255",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_non_global_addresses_are_forbidden(address: str) -> None:
    assert forbidden_address(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_global_addresses_are_allowed(address: str) -> None:
    assert not forbidden_address(address)


@pytest.mark.parametrize("host", ["100.100.100.200", "[::ffff:100.64.0.1]", "127.1", "2130706433"])
def test_literal_hosts_are_checked_without_the_resolver(host: str) -> None:
    # aiohttp takes all of these for addresses and never asks the connector's resolver
    with pytest.raises(EgressRefused):
        check_literal(host, allow_private=False)
    check_literal(host, allow_private=True)


class FakeDNS(AbstractResolver):
    """Answers from a script: each lookup of a name takes the next answer, the last repeats."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        script = self.answers.get(host)
        if not script:
            raise OSError(f"NXDOMAIN {host}")
        addrs = script.pop(0) if len(script) > 1 else script[0]
        return [
            {
                "hostname": host,
                "host": a,
                "port": port,
                "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for a in addrs
        ]

    async def close(self) -> None:
        pass


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    fake = FakeDNS()
    monkeypatch.setattr(egress, "DefaultResolver", lambda: fake)
    return fake


def private_targets(h: Any, allowed: bool) -> None:
    state = h.app[STATE_KEY]
    state.settings.webhook_allow_private_targets = allowed
    runtime(state).dispatcher.allow_private_targets = allowed


async def register(n: Any, url: str) -> Any:
    return await n.admin.post(
        "/api/network/webhooks", json={"url": url, "events": ["intake.received"]}
    )


async def test_registration_refuses_shared_address_space_and_embedded_forms(h2: Any) -> None:
    h, n = h2
    private_targets(h, False)
    for url in (
        "http://100.100.100.200/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://[::ffff:100.100.100.200]/latest/meta-data/",
        "http://[64:ff9b::100.100.100.200]/hook",
        "http://[2002:6464:64c8::1]/hook",
        "http://[fec0::1]/hook",
    ):
        resp = await register(n, url)
        assert resp.status == 400, url
        assert (await resp.json())["error"]["code"] == "webhook_target_refused"
    # public literals, IPv6 in brackets included, are accepted
    for url in ("https://[2001:4860:4860::8888]/hook", "https://[64:ff9b::8.8.8.8]/hook"):
        await ok_json(await register(n, url), 201)


async def test_every_address_of_a_name_must_be_public(h2: Any, dns: FakeDNS) -> None:
    h, n = h2
    private_targets(h, False)
    dns.answers = {
        "mixed.example": [[PUBLIC, "100.100.100.200"]],
        "mapped.example": [["::ffff:100.100.100.200"]],
        "nat64.example": [["2001:4860:4860::8888", "64:ff9b::a9fe:a9fe"]],
        "public.example": [[PUBLIC, "2001:4860:4860::8888"]],
    }
    for host in ("mixed.example", "mapped.example", "nat64.example"):
        resp = await register(n, f"https://{host}/hook")
        assert resp.status == 400, host
        assert (await resp.json())["error"]["code"] == "webhook_target_refused"
    await ok_json(await register(n, "https://public.example/hook"), 201)


async def _deliveries(h: Any) -> list[WebhookDelivery]:
    async with h.app[STATE_KEY].db.session() as db:
        return list(await db.scalars(select(WebhookDelivery)))


async def _new_intake(h: Any, n: Any) -> None:
    anon = await h.anon()
    await ok_json(
        await anon.post("/api/network/intakes/online", json=intake_body(shared_court_id=n.village)),
        201,
    )


async def test_rebinding_name_is_refused_at_delivery(h2: Any, dns: FakeDNS) -> None:
    """Public when registered, then the receiver's loopback address behind a public decoy: the
    delivery is refused outright, not sent to whichever address survives a filter."""
    h, n = h2
    fast_dispatcher(h)
    runtime(h.app[STATE_KEY]).dispatcher.timeout = 2.0
    private_targets(h, False)
    rx = Receiver()
    await rx.start()
    try:
        port = int(rx.url.rsplit(":", 1)[1].split("/")[0])
        dns.answers = {"rebind.example": [[PUBLIC], [PUBLIC, "127.0.0.1"]]}
        await ok_json(await register(n, f"http://rebind.example:{port}/hook"), 201)
        await _new_intake(h, n)

        async def failed() -> bool:
            return any(d.status == "failed" for d in await _deliveries(h))

        await wait_for(failed)
        (delivery,) = await _deliveries(h)
        assert delivery.last_error.startswith("EgressRefused"), delivery.last_error
        assert rx.calls == []
        # one lookup at registration, then exactly one per attempt: the one connected with
        assert len(dns.lookups) == 1 + delivery.attempts
    finally:
        await rx.stop()


async def test_delivery_connects_to_the_address_it_checked(h2: Any, dns: FakeDNS) -> None:
    """With private targets allowed, a name reaches the receiver through the connector's own
    (checking) resolver, looked up once per delivery: no separate, earlier lookup whose answer
    a rebinding name could change before the connection is made."""
    h, n = h2
    fast_dispatcher(h)
    private_targets(h, True)
    rx = Receiver()
    await rx.start()
    try:
        port = int(rx.url.rsplit(":", 1)[1].split("/")[0])
        dns.answers = {"receiver.example": [["127.0.0.1"]]}
        await ok_json(await register(n, f"http://receiver.example:{port}/hook"), 201)
        registered_lookups = len(dns.lookups)
        await _new_intake(h, n)

        async def delivered() -> bool:
            return any(d.status == "delivered" for d in await _deliveries(h))

        await wait_for(delivered)
        assert len(rx.calls) == 1
        assert len(dns.lookups) == registered_lookups + 1
    finally:
        await rx.stop()
