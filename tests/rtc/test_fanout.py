"""Fan-out, mute, per-subscriber forwarding and keyframe rate limiting, fed with frames directly
at the receiver seam (real aiortc receiver objects, no network)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from server.rtc.aiortc_seam.receiver import TappedFrame
from server.rtc.forwarding import ForwardingTrack
from server.rtc.frame import EncodedFrame, MediaKind
from server.rtc.keyframe_requests import KeyframeRequestLimiter
from server.rtc.publication import PublishedTrack

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=96)
# Smallest payloads the keyframe test accepts as VP8 key / inter frames.
VP8_KEY = b"\x00\x00\x00\x9d\x01\x2a\x80\x02\xe0\x01"
VP8_INTER = b"\x01\x00\x00\x00\x00\x00"


class Collect:
    def __init__(self) -> None:
        self.frames: list[EncodedFrame] = []
        self.ended = False

    def on_frame(self, frame: EncodedFrame) -> None:
        self.frames.append(frame)

    def on_end(self) -> None:
        self.ended = True


@pytest.fixture
async def pc() -> AsyncIterator[RTCPeerConnection]:
    connection = RTCPeerConnection()
    yield connection
    await connection.close()


def publish(pc: RTCPeerConnection, kind: MediaKind) -> PublishedTrack:
    transceiver = pc.addTransceiver(kind, direction="recvonly")
    return PublishedTrack(
        publisher_id="alice",
        kind=kind,
        mid="0",
        codec=VP8 if kind == "video" else OPUS,
        receiver=transceiver.receiver,
    )


def inject(track: PublishedTrack, data: bytes, ts: int, level: int | None = None) -> None:
    codec = VP8 if track.kind == "video" else OPUS
    track._on_tapped_frame(TappedFrame(codec=codec, data=data, timestamp=ts, audio_level=level))


async def test_fan_out_to_every_sink_and_mute(pc: RTCPeerConnection) -> None:
    track = publish(pc, "audio")
    a, b = Collect(), Collect()
    track.add_sink(a)
    track.add_sink(b)
    inject(track, b"\x01", 0, level=30)
    track.set_muted(True)
    inject(track, b"\x02", 960, level=30)
    track.set_muted(False)
    track.remove_sink(b)
    inject(track, b"\x03", 1920)
    assert [f.data for f in a.frames] == [b"\x01", b"\x03"]
    assert [f.data for f in b.frames] == [b"\x01"]
    assert a.frames[0].audio_level == 30 and a.frames[1].audio_level is None
    assert a.frames[0].codec == "audio/opus" and a.frames[0].clock_rate == 48000
    assert track.stats.muted_frames == 1
    track.end()
    assert a.ended and not b.ended


class RecordingSender:
    """A FrameSender that keeps what it was asked to send (the real one is tested with peers)."""

    def __init__(self, started: bool = True, ok: bool = True) -> None:
        self.started = started
        self.ok = ok
        self.sent: list[tuple[list[bytes], int, int | None]] = []

    def send_frame(self, payloads: list[bytes], timestamp: int, audio_level: int | None) -> bool:
        if self.ok:
            self.sent.append((payloads, timestamp, audio_level))
        return self.ok


def forwarder(
    track: PublishedTrack, sender: RecordingSender | None = None, track_id: str = "t"
) -> tuple[ForwardingTrack, RecordingSender]:
    """A forwarding track on `track`, attached, sending into a RecordingSender."""
    forward = ForwardingTrack(track, track_id=track_id)
    sender = sender or RecordingSender()
    forward.bind(sender)
    forward.attach()
    return forward, sender


async def test_forwarding_starts_at_a_keyframe_and_sends_timed_payloads(
    pc: RTCPeerConnection,
) -> None:
    track = publish(pc, "video")
    forward, sender = forwarder(track, track_id="alice~video~1.0")
    inject(track, VP8_INTER, 0)
    inject(track, VP8_KEY, 3000)
    inject(track, VP8_INTER, 6000)
    assert forward.stats.skipped == 1 and forward.stats.forwarded == 2
    (key_payloads, key_ts, _), (inter_payloads, inter_ts, _) = sender.sent
    assert (key_ts, inter_ts) == (3000, 6000)
    # VP8 payload descriptor (X bit, 15-bit picture id, S bit) ahead of the unchanged frame.
    assert key_payloads[0][0] & 0x90 == 0x90 and key_payloads[0][4:] == VP8_KEY
    assert inter_payloads[0][4:] == VP8_INTER


async def test_payloads_are_packetized_once_per_frame_for_all_subscribers(
    pc: RTCPeerConnection,
) -> None:
    track = publish(pc, "video")
    senders = [RecordingSender() for _ in range(3)]
    for i, sender in enumerate(senders):
        forwarder(track, sender, track_id=f"t{i}")
    inject(track, VP8_KEY + bytes(3000), 0)
    payloads = [s.sent[0][0] for s in senders]
    assert len(payloads[0]) == 3  # 3 kB split into MTU-sized packets
    assert payloads[1] is payloads[0] and payloads[2] is payloads[0]


async def test_audio_level_travels_with_the_frame(pc: RTCPeerConnection) -> None:
    track = publish(pc, "audio")
    _, sender = forwarder(track)
    inject(track, b"\x01", 960, level=25)
    assert sender.sent == [([b"\x01"], 960, 25)]


async def test_nothing_is_sent_before_the_sender_starts_and_video_resumes_at_a_keyframe(
    pc: RTCPeerConnection,
) -> None:
    track = publish(pc, "video")
    forward, sender = forwarder(track, RecordingSender(started=False))
    inject(track, VP8_KEY, 0)
    inject(track, VP8_INTER, 3000)
    assert sender.sent == [] and forward.stats.skipped == 2
    sender.started = True
    forward.resync()
    inject(track, VP8_INTER, 6000)
    inject(track, VP8_KEY, 9000)
    assert [ts for _, ts, _ in sender.sent] == [9000]


async def test_a_failed_video_send_waits_for_the_next_keyframe(pc: RTCPeerConnection) -> None:
    track = publish(pc, "video")
    forward, sender = forwarder(track)
    inject(track, VP8_KEY, 0)
    sender.ok = False
    inject(track, VP8_INTER, 3000)
    sender.ok = True
    inject(track, VP8_INTER, 6000)
    inject(track, VP8_KEY, 9000)
    assert [ts for _, ts, _ in sender.sent] == [0, 9000]
    assert forward.stats.dropped == 1 and forward.stats.skipped == 1


async def test_detach_stops_forwarding_at_once(pc: RTCPeerConnection) -> None:
    track = publish(pc, "audio")
    forward, sender = forwarder(track)
    inject(track, b"\x01", 0)
    forward.detach()
    inject(track, b"\x02", 960)
    assert [p for p, _, _ in sender.sent] == [[b"\x01"]]
    forward.stop()


async def test_keyframe_requests_are_rate_limited_but_not_lost() -> None:
    sent: list[float] = []
    loop = asyncio.get_running_loop()

    def send() -> bool:
        sent.append(loop.time())
        return True

    limiter = KeyframeRequestLimiter(send, min_interval_s=0.2)
    for _ in range(10):
        limiter.request()
    assert len(sent) == 1
    await asyncio.sleep(0.3)
    assert len(sent) == 2
    assert sent[1] - sent[0] >= 0.19
    limiter.close()
