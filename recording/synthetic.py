"""Real encoded media with realistic RTP timing, for tests, benchmarks and demos without a browser.

A 640x480 moving pattern is encoded with libvpx (or libx264) and a tone with libopus, each
into ``EncodedFrame`` objects as the SFU's receiver seam delivers them: RTP timestamps on a
90 kHz / 48 kHz clock, wall-clock arrival times with a little jitter, keyframes flagged.
``mutes`` leave holes where no frame is sent while both clocks keep running, as a muted or
disconnected sender does; the first video frame after a hole is a keyframe, as after a PLI.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import av
import numpy as np
from av.video.frame import PictureType

from server.rtc.frame import EncodedFrame

VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000
OPUS_SAMPLES = 960  # 20 ms

_ENCODERS = {"video/VP8": "libvpx", "video/H264": "libx264"}


def _muted(t: float, mutes: Sequence[tuple[float, float]]) -> bool:
    return any(start <= t < end for start, end in mutes)


def _pattern(i: int, width: int, height: int) -> av.VideoFrame:
    y = np.empty((height, width), np.uint8)
    y[:] = (np.arange(width, dtype=np.uint16) * 255 // width).astype(np.uint8)
    bar = (i * 8) % max(width - 48, 1)
    y[:, bar : bar + 48] = 235
    uv = np.full((height // 2, width), 128, np.uint8)
    uv[: height // 4, :] = (i * 3) % 256
    return av.VideoFrame.from_ndarray(np.vstack([y, uv]), format="yuv420p")


def synthetic_video(
    seconds: float,
    *,
    start_wallclock: float,
    codec: str = "video/VP8",
    fps: int = 30,
    width: int = 640,
    height: int = 480,
    keyframe_interval_s: float = 2.0,
    mutes: Sequence[tuple[float, float]] = (),
    rtp_start: int = 0,
    jitter_s: float = 0.004,
    seed: int = 1,
) -> list[EncodedFrame]:
    """Encoded video frames covering ``seconds`` (minus ``mutes``, in seconds from the start)."""
    enc = av.CodecContext.create(_ENCODERS[codec], "w")
    assert isinstance(enc, av.VideoCodecContext)
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = Fraction(1, fps)
    enc.framerate = Fraction(fps, 1)
    enc.bit_rate = 600_000
    enc.gop_size = int(keyframe_interval_s * fps)
    enc.thread_count = 1
    enc.options = (
        {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        if codec == "video/VP8"
        else {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline"}
    )
    rng = random.Random(seed)
    out: list[EncodedFrame] = []
    after_gap = False
    packets: list[av.Packet[Any]] = []
    times: dict[int, float] = {}
    for i in range(int(seconds * fps)):
        t = i / fps
        if _muted(t, mutes):
            after_gap = True
            continue
        frame = _pattern(i, width, height)
        frame.pts = i
        if after_gap:
            frame.pict_type = PictureType.I
            after_gap = False
        times[i] = t
        packets.extend(enc.encode(frame))
    packets.extend(enc.encode(None))
    for packet in packets:
        assert packet.pts is not None
        t = times[packet.pts]
        out.append(EncodedFrame(
            kind="video", codec=codec, data=bytes(packet),
            rtp_timestamp=rtp_start + round(t * VIDEO_CLOCK), clock_rate=VIDEO_CLOCK,
            keyframe=packet.is_keyframe,
            wallclock=start_wallclock + t + rng.uniform(0, jitter_s),
        ))
    return out


def synthetic_audio(
    seconds: float,
    *,
    start_wallclock: float,
    frequency: float = 440.0,
    mutes: Sequence[tuple[float, float]] = (),
    rtp_start: int = 0,
    jitter_s: float = 0.004,
    seed: int = 2,
) -> list[EncodedFrame]:
    """Opus frames (20 ms, mono tone) covering ``seconds`` minus ``mutes``."""
    enc = av.CodecContext.create("libopus", "w")
    assert isinstance(enc, av.AudioCodecContext)
    enc.sample_rate, enc.layout, enc.format = AUDIO_CLOCK, "mono", "s16"
    enc.time_base = Fraction(1, AUDIO_CLOCK)
    enc.bit_rate = 32_000
    rng = random.Random(seed)
    out: list[EncodedFrame] = []
    n = np.arange(OPUS_SAMPLES)
    for i in range(int(seconds * AUDIO_CLOCK / OPUS_SAMPLES)):
        t = i * OPUS_SAMPLES / AUDIO_CLOCK
        start = i * OPUS_SAMPLES
        wave = np.sin(2 * np.pi * frequency * (n + start) / AUDIO_CLOCK) * 8000
        frame = av.AudioFrame.from_ndarray(
            wave.astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = AUDIO_CLOCK
        frame.pts = start
        # Encode every frame so the encoder state runs on; a muted sender sends nothing.
        packets = list(enc.encode(frame))
        if _muted(t, mutes):
            continue
        for packet in packets:
            out.append(EncodedFrame(
                kind="audio", codec="audio/opus", data=bytes(packet),
                rtp_timestamp=rtp_start + start, clock_rate=AUDIO_CLOCK, keyframe=True,
                wallclock=start_wallclock + t + rng.uniform(0, jitter_s), audio_level=40,
            ))
    return out


def interleave(*tracks: Sequence[EncodedFrame]) -> list[EncodedFrame]:
    """All frames of several tracks in arrival order, as one SFU loop would deliver them."""
    merged = [f for track in tracks for f in track]
    merged.sort(key=lambda f: f.wallclock)
    return merged
