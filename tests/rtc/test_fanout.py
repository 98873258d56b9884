"""Fan-out, mute, bounded forwarding queues and keyframe rate limiting, fed with frames directly
at the receiver seam (real aiortc receiver objects, no network)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from server.rtc.aiortc_seam import TappedFrame
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


async def test_forwarding_starts_at_a_keyframe_and_yields_timed_packets(
    pc: RTCPeerConnection,
) -> None:
    track = publish(pc, "video")
    forward = ForwardingTrack(track, max_queue=10, track_id="alice~video~0")
    forward.attach()
    inject(track, VP8_INTER, 0)
    inject(track, VP8_KEY, 3000)
    inject(track, VP8_INTER, 6000)
    assert forward.stats.skipped == 1
    first = await forward.recv()
    second = await forward.recv()
    assert bytes(first) == VP8_KEY and first.pts == 3000
    assert first.time_base.denominator == 90000
    assert bytes(second) == VP8_INTER and second.pts == 6000


async def test_slow_video_subscriber_drops_and_waits_for_keyframe(
    pc: RTCPeerConnection,
) -> None:
    track = publish(pc, "video")
    forward = ForwardingTrack(track, max_queue=4, track_id="t")
    forward.attach()
    inject(track, VP8_KEY, 0)
    for i in range(1, 20):
        inject(track, VP8_INTER, i * 3000)
    # Memory stays bounded: the backlog was thrown away, nothing is queued until a keyframe.
    assert forward.queued == 0
    assert forward.stats.dropped >= 4
    inject(track, VP8_KEY, 60_000)
    inject(track, VP8_INTER, 63_000)
    assert forward.queued == 2
    assert bytes(await forward.recv()) == VP8_KEY


async def test_slow_audio_subscriber_drops_oldest(pc: RTCPeerConnection) -> None:
    track = publish(pc, "audio")
    forward = ForwardingTrack(track, max_queue=3, track_id="t")
    forward.attach()
    for i in range(10):
        inject(track, bytes([i]), i * 960)
    assert forward.queued == 3 and forward.stats.dropped == 7
    assert bytes(await forward.recv()) == bytes([7])


async def test_detach_discards_queued_frames_at_once(pc: RTCPeerConnection) -> None:
    track = publish(pc, "audio")
    forward = ForwardingTrack(track, max_queue=10, track_id="t")
    forward.attach()
    inject(track, b"\x01", 0)
    forward.detach()
    inject(track, b"\x02", 960)
    assert forward.queued == 0
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
