"""Behind the court's nginx every request arrives from the proxy's address. Without trusted
proxies one address's failed logins locked every user out, and the live room's per-address
socket cap counted the whole court as one client. A client talking to the server directly
cannot borrow another address through X-Forwarded-For."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from server.config import Settings
from server.http.client_address import client_address, parse_trusted
from tests.conftest import PASSWORD, Harness, skip_or_fail
from tests.support.nginx import nginx_binary, reverse_proxy

WRONG = "not-the-password"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"trusted_proxies": ["127.0.0.1"]})


@pytest.fixture
def proxy(harness: Harness, tmp_path: Path) -> Iterator[str]:
    if nginx_binary() is None:
        skip_or_fail("nginx not installed (apt-get install nginx-light)")
    port = harness.server.port
    assert port is not None
    with reverse_proxy(port, tmp_path / "nginx") as url:
        yield url


def _from(address: str) -> aiohttp.ClientSession:
    """A client on its own loopback address (all of 127/8 is this machine)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


async def _login(session: aiohttp.ClientSession, base: str, user: str, password: str,
                 **headers: str) -> int:
    async with session.post(f"{base}/api/auth/login", headers=headers,
                            json={"username": user, "password": password}) as resp:
        return resp.status


async def test_one_address_locked_out_through_nginx_leaves_the_others_alone(
    harness: Harness, proxy: str, settings: Settings
) -> None:
    async with _from("127.0.0.2") as attacker, _from("127.0.0.3") as clerk:
        statuses = [
            await _login(attacker, proxy, f"nobody{i}", WRONG)
            for i in range(settings.login_max_failures + 1)
        ]
        assert statuses[-1] == 429, statuses
        # Another person of the court, through the same proxy.
        assert await _login(clerk, proxy, "judge_a", PASSWORD) == 200


async def test_a_direct_client_cannot_claim_another_address(
    harness: Harness, settings: Settings
) -> None:
    base = str(harness.server.make_url("")).rstrip("/")
    async with _from("127.0.0.5") as direct:
        statuses = [
            await _login(direct, base, f"nobody{i}", WRONG, **{"X-Forwarded-For": f"10.9.9.{i}"})
            for i in range(settings.login_max_failures + 1)
        ]
    assert statuses[-1] == 429, statuses


def test_the_client_is_the_right_most_untrusted_hop() -> None:
    trusted = parse_trusted(["127.0.0.1", "10.0.0.0/8"])
    # Peer not trusted: its header is the client's own word, ignored.
    assert client_address("198.51.100.7", ["203.0.113.9"], trusted) == "198.51.100.7"
    # Through our proxies: skip them from the right; what the client wrote further left stays
    # unread.
    assert client_address("127.0.0.1", ["6.6.6.6, 203.0.113.9, 10.1.2.3"], trusted) == (
        "203.0.113.9"
    )
    assert client_address("127.0.0.1", ["203.0.113.9:5123"], trusted) == "203.0.113.9"
    assert client_address("127.0.0.1", ["[2001:db8::5]:443"], trusted) == "2001:db8::5"
    assert client_address("::ffff:127.0.0.1", ["203.0.113.9"], trusted) == "203.0.113.9"
    # A proxy that adds no header, or garbage: the proxy's own address.
    assert client_address("127.0.0.1", [], trusted) == "127.0.0.1"
    assert client_address("127.0.0.1", ["garbage"], trusted) == "127.0.0.1"
    # Nothing configured: the peer, whatever the header says.
    assert client_address("127.0.0.1", ["203.0.113.9"], ()) == "127.0.0.1"


async def test_live_room_sockets_through_nginx_are_counted_per_client(
    harness: Harness, proxy: str, tmp_path: Path
) -> None:
    import socketio

    from server.app import SIGNALING_KEY
    from tests.signaling.conftest import make_session

    _, tokens, _ = await make_session(harness)
    guard = harness.app[SIGNALING_KEY].guard
    cap = harness.app[SIGNALING_KEY].state.settings.max_sockets_per_address
    guard.per_address = 2  # as max_sockets_per_address = 2, without 100 sockets in a test
    opened: list[socketio.AsyncClient] = []
    sessions: list[aiohttp.ClientSession] = []

    async def open_from(address: str) -> bool:
        http = _from(address)
        sessions.append(http)
        sio = socketio.AsyncClient(http_session=http, reconnection=False)
        try:
            # Through nginx's WebSocket upgrade, with a party's join link.
            await sio.connect(proxy, auth={"token": tokens["applicant"]},
                              transports=["websocket"], wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            return False
        opened.append(sio)
        return True

    try:
        assert cap == 100
        assert [await open_from("127.0.0.2") for _ in range(3)] == [True, True, False]
        assert guard.connections_from("127.0.0.2") == 2
        assert await open_from("127.0.0.3")  # someone else of the court, same proxy
        assert guard.connections_from("127.0.0.1") == 0  # nobody is counted as the proxy
    finally:
        for sio in opened:
            await sio.disconnect()
        for http in sessions:
            await http.close()
