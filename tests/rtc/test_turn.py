"""Media through a real TURN relay (coturn): the forwarder's direct send and inline receive
paths must work when the server's ICE pair is relayed (aioice's TurnTransport, no socket)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiortc import RTCIceServer

from server.rtc import MediaConfig, MediaRoom
from server.rtc.aiortc_seam import _InlineRtpReceiver, nominated_pair
from server.rtc.loopback import LoopbackSignaling

from ..conftest import _free_port, skip_or_fail
from .conftest import TEST_FPS

TURN_USER, TURN_PASSWORD = "court", "relay-secret"


@pytest.fixture(scope="module")
def turn_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway coturn on a free port, long-term credentials, loopback peers allowed."""
    binary = shutil.which("turnserver")
    if binary is None:
        skip_or_fail("coturn not installed (apt-get install coturn)")
    workdir: Path = tmp_path_factory.mktemp("turn")
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(binary), "-n", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1",
            "--listening-port", str(port), "--min-port", "49160", "--max-port", "49360",
            "--lt-cred-mech", "--user", f"{TURN_USER}:{TURN_PASSWORD}", "--realm", "court.test",
            "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli",
            "--pidfile", str(workdir / "turn.pid"), "--log-file", str(workdir / "turn.log"),
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
