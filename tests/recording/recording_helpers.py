"""Helpers shared by the recording tests."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from server.rtc.frame import EncodedFrame, FrameSink

T0 = 1_700_000_000.0  # wall clock of the first frame in every synthetic stream


@dataclass(frozen=True)
class Decoded:
    width: int
    height: int
    times: list[float]  # presentation time of each decoded frame, seconds

    @property
    def duration(self) -> float:
        return self.times[-1] - self.times[0] if self.times else 0.0


def decode(path: Path) -> Decoded:
    """Decode every frame of a one-track file with PyAV's real decoders."""
    times: list[float] = []
    width = height = 0
    with av.open(str(path)) as container:
        stream = container.streams[0]
        for frame in container.decode(stream):
            assert isinstance(frame, av.VideoFrame | av.AudioFrame) and frame.time is not None
            times.append(frame.time)
            if isinstance(frame, av.VideoFrame):
                width, height = frame.width, frame.height
    return Decoded(width, height, times)


def feed(sink: FrameSink, frames: Iterable[EncodedFrame]) -> None:
    for frame in frames:
        sink.on_frame(frame)


def manifest_of(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return data


def tracks_of(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in manifest["files"] if f["kind"] == "track"]
