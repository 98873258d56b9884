"""Synthetic camera and microphone for headless participants (probe, tests, benchmarks)."""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

VIDEO_CLOCK_RATE = 90000
AUDIO_SAMPLE_RATE = 48000
AUDIO_PTIME_S = 0.020


class _Pacer:
    """Keeps a track on wall-clock time, like a real device would be."""

    def __init__(self, period_s: float) -> None:
        self._period = period_s
        self._start: float | None = None
        self.index = 0

    async def tick(self) -> int:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self.index += 1
            delay = self._start + self.index * self._period - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        return self.index


class MovingPatternTrack(MediaStreamTrack):
    """A moving colour-bar pattern, so every frame differs (inter frames are not trivial)."""

    kind = "video"

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0) -> None:
        super().__init__()
        self.width = width
        self.height = height
        self._fps = fps
        self._pacer = _Pacer(1.0 / fps)
        stripe = (np.arange(width * 2, dtype=np.int32) * 255 // 160) % 256
        rows = (np.arange(height, dtype=np.int32)[:, None] // 4) * 3
        # Twice as wide as a frame: each frame is a shifted window of it.
        self._luma = ((stripe[None, :] + rows) % 256).astype(np.uint8)
        chroma = np.arange(width, dtype=np.int32)[None, :] // 3 + np.arange(height // 2)[:, None]
        self._chroma = (chroma % 256).astype(np.uint8)

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        index = await self._pacer.tick()
        shift = (index * 8) % self.width
        y = self._luma[:, shift : shift + self.width]
        u = np.roll(self._chroma, index * 2, axis=1)[:, : self.width // 2]
        v = np.roll(self._chroma, -index * 2, axis=1)[:, : self.width // 2]
        uv = np.concatenate([u.reshape(-1), v.reshape(-1)]).reshape(self.height // 2, self.width)
        frame = av.VideoFrame.from_ndarray(np.concatenate([y, uv]), format="yuv420p")
        frame.pts = int(index * VIDEO_CLOCK_RATE / self._fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        return frame


class ToneTrack(MediaStreamTrack):
    """A sine tone (or digital silence with `amplitude=0`), 20 ms mono frames at 48 kHz."""

    kind = "audio"

    def __init__(self, frequency_hz: float = 440.0, amplitude: float = 0.3) -> None:
        super().__init__()
        self._pacer = _Pacer(AUDIO_PTIME_S)
        self._samples = int(AUDIO_SAMPLE_RATE * AUDIO_PTIME_S)
        period = AUDIO_SAMPLE_RATE / frequency_hz
        # Whole periods per 20 ms keep consecutive frames continuous for 50 Hz multiples;
        # otherwise a phase offset per frame is applied below.
        self._phase_step = 2 * math.pi * self._samples / period
        t = np.arange(self._samples) * 2 * math.pi / period
        self._base = t
        self._amplitude = amplitude

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        index = await self._pacer.tick()
        if self._amplitude > 0:
            wave = np.sin(self._base + index * self._phase_step) * (self._amplitude * 32767)
            samples = wave.astype(np.int16)
        else:
            samples = np.zeros(self._samples, dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_SAMPLE_RATE
        frame.pts = index * self._samples
        frame.time_base = fractions.Fraction(1, AUDIO_SAMPLE_RATE)
        return frame
