"""Reading back what a killed writer left: how many frames a track file holds and where it ends."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av


@dataclass(frozen=True, slots=True)
class ProbeResult:
    frames: int
    # Seconds from the file's first timestamp to the end of its last readable frame.
    duration_s: float


def probe_media(path: Path) -> ProbeResult:
    """Demux (never decode) a track file up to the first unreadable byte."""
    frames = 0
    end = 0.0
    try:
        with av.open(str(path)) as container:
            stream = container.streams[0]
            tb = stream.time_base
            first: float | None = None
            for packet in container.demux(stream):
                if packet.pts is None or tb is None:
                    continue
                start = float(packet.pts * tb)
                first = start if first is None else first
                frames += 1
                end = max(end, start + float((packet.duration or 0) * tb) - first)
    except (av.FFmpegError, IndexError):
        # A file cut off mid-cluster ends in an error: everything before it still counts.
        pass
    return ProbeResult(frames, end)
