"""Publisher tracks that replay media encoded once at start-up.

Benchmarks need many publishers on a 2-core machine; encoding 640x480 VP8 per publisher would
measure the clients' encoders, not the server. These tracks yield `av.Packet`s, which aiortc's
sender packetizes as-is (the same seam the server forwards through).
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

VIDEO_TB = fractions.Fraction(1, 90000)
AUDIO_TB = fractions.Fraction(1, 48000)


def encode_vp8(width: int = 640, height: int = 480, fps: int = 30, seconds: float = 3.0,
               bitrate: int = 600_000) -> list[tuple[bytes, bool]]:
    """A moving pattern as VP8 frames (bytes, keyframe); the first frame is a keyframe."""
    enc = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = fractions.Fraction(1, fps)
    enc.bit_rate = bitrate
    enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    enc.gop_size = int(fps * seconds)
    out: list[tuple[bytes, bool]] = []
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(int(fps * seconds)):
        img = np.zeros((height, width, 3), dtype=np.uint8)
        img[..., 0] = (xx + i * 8) % 256
        img[..., 1] = (yy + i * 4) % 256
        img[..., 2] = ((xx // 40 + yy // 40 + i // 8) % 2) * 255
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        for pkt in enc.encode(frame):
            out.append((bytes(pkt), bool(pkt.is_keyframe)))
    for pkt in enc.encode(None):
        out.append((bytes(pkt), bool(pkt.is_keyframe)))
    return out


def encode_opus(seconds: float = 3.0) -> list[bytes]:
    """A 440 Hz tone as 20 ms Opus frames."""
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format = 48000, "stereo", "s16"
    enc.time_base = AUDIO_TB
    out: list[bytes] = []
    n = 960
    for i in range(int(seconds * 50)):
        t = (np.arange(n) + i * n) / 48000
        tone = (np.sin(2 * math.pi * 440 * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(tone[None, :], 2, axis=0).reshape(1, -1),
                                           format="s16", layout="stereo")
        frame.sample_rate = 48000
        frame.pts = i * n
        out.extend(bytes(p) for p in enc.encode(frame))
    return out


class _Paced(MediaStreamTrack):
    def __init__(self, period: float) -> None:
        super().__init__()
        self._period = period
        self._start: float | None = None
        self._n = 0

    async def _tick(self) -> int:
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self._n * self._period
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        n = self._n
        self._n += 1
        return n


class ReplayVideoTrack(_Paced):
    kind = "video"

    def __init__(self, frames: list[tuple[bytes, bool]], fps: int = 30) -> None:
        super().__init__(1 / fps)
        self._frames = frames
        self._step = 90000 // fps

    async def recv(self) -> av.Packet:  # type: ignore[override]
        n = await self._tick()
        data, _ = self._frames[n % len(self._frames)]
        pkt = av.Packet(data)
        pkt.pts = n * self._step
        pkt.time_base = VIDEO_TB
        return pkt


class ReplayAudioTrack(_Paced):
    kind = "audio"

    def __init__(self, frames: list[bytes]) -> None:
        super().__init__(0.02)
        self._frames = frames

    async def recv(self) -> av.Packet:  # type: ignore[override]
        n = await self._tick()
        pkt = av.Packet(self._frames[n % len(self._frames)])
        pkt.pts = n * 960
        pkt.time_base = AUDIO_TB
        return pkt
