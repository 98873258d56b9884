"""Keyframe recognition on real VP8 and H.264 encoder output."""

from __future__ import annotations

import av
import pytest

from server.rtc.keyframes import h264_nal_types, is_keyframe, vp8_dimensions
from server.rtc.synthetic import MovingPatternTrack


async def _encoded(codec_name: str, count: int) -> list[bytes]:
    source = MovingPatternTrack(fps=1000.0)
    codec = av.CodecContext.create(codec_name, "w")
    assert isinstance(codec, av.VideoCodecContext)
    codec.width, codec.height, codec.pix_fmt = 640, 480, "yuv420p"
    codec.bit_rate = 500_000
    codec.gop_size = 100
    if codec_name == "libx264":
        codec.options = {"tune": "zerolatency", "preset": "ultrafast"}
    frames: list[bytes] = []
    for _ in range(count):
        frame = await source.recv()
        frames += [bytes(p) for p in codec.encode(frame)]
    frames += [bytes(p) for p in codec.encode(None)]
    return frames


async def test_vp8_keyframe_then_inter_frames() -> None:
    frames = await _encoded("libvpx", 3)
    assert [is_keyframe("video/VP8", f) for f in frames] == [True, False, False]
    assert vp8_dimensions(frames[0]) == (640, 480)
    assert vp8_dimensions(frames[1]) is None


async def test_h264_idr_then_inter_frames() -> None:
    frames = await _encoded("libx264", 3)
    assert is_keyframe("video/H264", frames[0])
    assert {7, 8, 5} <= set(h264_nal_types(frames[0]))
    assert not any(is_keyframe("video/H264", f) for f in frames[1:])


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00\x01"])
def test_truncated_payloads_are_not_keyframes(data: bytes) -> None:
    assert not is_keyframe("video/VP8", data)
    assert not is_keyframe("video/H264", data)


def test_audio_frames_are_always_decodable() -> None:
    assert is_keyframe("audio/opus", b"\x78")
