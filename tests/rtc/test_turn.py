"""Media through a real TURN relay (coturn): the forwarder's direct send and inline receive
paths must work when the server's ICE pair is relayed (aioice's TurnTransport, no socket)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aioice.turn import create_turn_endpoint
from aiortc import RTCIceServer

from server.rtc import MediaConfig, MediaRoom
from server.rtc.aiortc_seam.transport import _InlineRtpReceiver, nominated_pair
from server.rtc.loopback import LoopbackSignaling
from server.rtc.turn_credentials import credentials_for

from ..conftest import _free_port, skip_or_fail
from ..signaling.conftest import live  # noqa: F401  (fixture)
from .conftest import TEST_FPS

TURN_USER, TURN_PASSWORD = "court", "relay-secret"


TURN_SECRET = "shared-court-turn-rest-secret"


@pytest.fixture(scope="module")
def turn_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway coturn on a free port, long-term credentials, loopback peers allowed."""
    yield from _coturn(
        tmp_path_factory, ["--lt-cred-mech", "--user", f"{TURN_USER}:{TURN_PASSWORD}"], 49160
    )


@pytest.fixture(scope="module")
def turn_rest_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same with coturn's use-auth-secret: only HMAC credentials of the secret work."""
    yield from _coturn(
        tmp_path_factory, ["--use-auth-secret", f"--static-auth-secret={TURN_SECRET}"], 49400
    )


def _coturn(
    tmp_path_factory: pytest.TempPathFactory, auth: list[str], min_port: int
) -> Iterator[str]:
    binary = shutil.which("turnserver")
    if binary is None:
        skip_or_fail("coturn not installed (apt-get install coturn)")
    workdir: Path = tmp_path_factory.mktemp("turn")
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "-n",
            "--listening-ip",
            "127.0.0.1",
            "--relay-ip",
            "127.0.0.1",
            "--listening-port",
            str(port),
            "--min-port",
            str(min_port),
            "--max-port",
            str(min_port + 200),
            *auth,
            "--realm",
            "court.test",
            "--allow-loopback-peers",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--pidfile",
            str(workdir / "turn.pid"),
            "--log-file",
            str(workdir / "turn.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                # A STUN binding request: coturn answers once it listens.
                probe.settimeout(0.2)
                probe.sendto(bytes.fromhex("000100002112a442") + bytes(12), ("127.0.0.1", port))
                try:
                    probe.recvfrom(1024)
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail("coturn did not start")
        yield f"turn:127.0.0.1:{port}?transport=udp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
async def relayed_room(turn_url: str) -> AsyncIterator[MediaRoom]:
    config = MediaConfig(
        ice_servers=(RTCIceServer(urls=turn_url, username=TURN_USER, credential=TURN_PASSWORD),),
        ice_transport_policy="relay",
    )
    room = MediaRoom("turn-room", config)
    yield room
    await room.close()


async def test_forwarding_through_a_turn_relay(relayed_room: MediaRoom) -> None:
    signaling = LoopbackSignaling(relayed_room)
    try:
        await signaling.connect("alice", fps=TEST_FPS)
        bob = await signaling.connect("bob", video=None, audio=False)
        relayed_room.set_subscriptions("bob", None)
        await bob.wait_for_frames("alice", "video", 10)
        await bob.wait_for_frames("alice", "audio", 10)
        for pid in ("alice", "bob"):
            dtls = relayed_room.peer(pid).pc.getTransceivers()[0].receiver.transport
            pair = nominated_pair(dtls)
            assert pair.local_candidate.type == "relay"
        # Alice's media came in through the inline path, bob's went out by the PacketSender.
        alice_dtls = relayed_room.peer("alice").pc.getTransceivers()[0].receiver.transport
        pair = nominated_pair(alice_dtls)
        inline = pair.protocol.datagram_received.__self__
        assert isinstance(inline, _InlineRtpReceiver) and inline.packets > 0
        outbound = relayed_room.peer("bob").outbound.values()
        assert all(o.sender.packets_sent > 0 and o.sender.send_errors == 0 for o in outbound)
        assert not signaling.errors, signaling.errors
    finally:
        await signaling.close()


async def _allocates(url: str, username: str | None, password: str | None) -> bool:
    host, port = url.removeprefix("turn:").split("?")[0].rsplit(":", 1)
    try:
        transport, _ = await asyncio.wait_for(
            create_turn_endpoint(asyncio.DatagramProtocol, (host, int(port)), username, password),
            timeout=5,
        )
    except Exception:
        return False
    transport.close()
    return True


async def test_per_participant_turn_credentials(turn_rest_url: str) -> None:
    """With a TURN secret, each participant gets its own expiring pair (TURN REST): it relays,
    an expired or forged one does not, and no static pair is handed out."""
    mine = credentials_for(
        username=None, credential=None, secret=TURN_SECRET, who="participant-1", ttl_s=600
    )
    assert mine[0] is not None and mine[0].endswith(":participant-1")
    assert await _allocates(turn_rest_url, *mine)
    expired = credentials_for(
        username=None, credential=None, secret=TURN_SECRET, who="participant-1", ttl_s=-60
    )
    assert not await _allocates(turn_rest_url, *expired)
    assert not await _allocates(turn_rest_url, mine[0], "forged-credential")
    # Media flows through the relay with such a pair.
    config = MediaConfig(
        ice_servers=(RTCIceServer(urls=turn_rest_url, username=mine[0], credential=mine[1]),),
        ice_transport_policy="relay",
    )
    room = MediaRoom("turn-rest-room", config)
    signaling = LoopbackSignaling(room)
    try:
        await signaling.connect("alice", fps=TEST_FPS)
        bob = await signaling.connect("bob", video=None, audio=False)
        room.set_subscriptions("bob", None)
        await bob.wait_for_frames("alice", "video", 10)
    finally:
        await signaling.close()
        await room.close()


async def test_join_hands_out_per_participant_turn_credentials(live: Any) -> None:  # noqa: F811
    from pydantic import SecretStr

    from server.config import IceServer
    from server.state import STATE_KEY

    state = live.harness.app[STATE_KEY]
    state.settings.ice_servers = [
        IceServer(urls=["turn:turn.court.example:3478"], secret=SecretStr(TURN_SECRET))
    ]
    anon = await live.harness.anon()
    got = {}
    for who in ("applicant", "respondent"):
        body = await (await anon.get(f"/api/join/{live.tokens[who]}")).json()
        (server,) = body["ice_servers"]
        expiry, pid = server["username"].split(":")
        assert pid == live.pids[who]
        assert int(expiry) > time.time() + 3600
        got[who] = server["credential"]
    assert got["applicant"] != got["respondent"]
    shown = state.settings.public_view()["ice_servers"][0]
    assert shown["secret"] == "********"
