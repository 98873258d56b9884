"""A participant cannot make the server probe arbitrary addresses through ICE candidates."""

from __future__ import annotations

import pytest

from server.rtc import remote_candidates as rc
from server.rtc.host_addresses import limit_host_addresses


@pytest.fixture
def server_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server gathers on 192.0.2.2 (its public address) only, as in production."""
    monkeypatch.setattr(rc.aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["192.0.2.2"])
    monkeypatch.setattr(rc, "_own", (0.0, frozenset()))


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("203.0.113.7", True),  # a phone on a carrier network
        ("192.168.1.20", True),  # a village terminal behind the court's LAN
        ("10.8.0.3", True),
        ("3f2a1c9e-1b2c-4d5e-8f90-1234567890ab.local", True),  # browser mDNS name
        ("127.0.0.1", False),  # the server's own loopback services
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("169.254.169.254", False),  # cloud metadata (link-local)
        ("fe80::1", False),
        ("224.0.0.251", False),
        ("0.0.0.0", False),
        ("240.0.0.1", False),
        ("192.0.2.2", False),  # the server itself
        ("metadata.google.internal", False),  # DNS names are never resolved for a client
    ],
)
def test_candidate_addresses(server_on: None, host: str, ok: bool) -> None:
    assert rc.acceptable(host) is ok


def test_loopback_is_accepted_when_the_server_itself_runs_on_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rc, "_own", (0.0, frozenset()))
    limit_host_addresses(["127.0.0.1"])  # what every test and benchmark here does
    assert rc.acceptable("127.0.0.1")


def test_sdp_candidates_are_filtered(server_on: None) -> None:
    sdp = (
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        "a=candidate:1 1 udp 2122260223 203.0.113.7 50000 typ host\r\n"
        "a=candidate:2 1 udp 2122260223 169.254.169.254 80 typ host\r\n"
        "a=candidate:3 1 udp 2122260223 127.0.0.1 6379 typ host\r\n"
        "a=end-of-candidates\r\n"
    )
    out = rc.filter_sdp(sdp)
    assert "203.0.113.7" in out and "169.254.169.254" not in out and "127.0.0.1" not in out
    assert out.endswith("a=end-of-candidates\r\n")
