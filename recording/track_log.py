"""A track file's sidecar: its start, gaps and end, appended as they happen.

It lets recovery describe a file whose writer was killed, and the manifest list each file's
gaps without reading the media.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

from server.rtc.frame import MediaKind

from .failure import StopReason
from .timeline import Gap


@dataclass(slots=True)
class TrackFileInfo:
    """Everything known about one recorded track file."""

    name: str
    kind: MediaKind
    codec: str
    segment: int
    start_wallclock: float
    end_wallclock: float | None = None
    width: int | None = None
    height: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)
    frames: int = 0
    dropped_frames: int = 0
    stop_reason: StopReason = "interrupted"
    error: str | None = None
    # False when the writer never wrote its end line (killed, or the sidecar itself hit the disk).
    complete: bool = False


class TrackLogWriter:
    """Appends sidecar lines; each line is flushed to the OS at once so a kill -9 keeps it."""

    def __init__(self, path: Path, info: TrackFileInfo) -> None:
        self.path = path
        self._file: TextIO = path.open("x", encoding="utf-8")
        self._line({
            "event": "start", "file": info.name, "kind": info.kind, "codec": info.codec,
            "segment": info.segment, "start_wallclock": info.start_wallclock,
            "width": info.width, "height": info.height, "tags": info.tags,
        })

    def _line(self, obj: dict[str, Any]) -> None:
        self._file.write(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n")
        self._file.flush()

    def gap(self, gap: Gap) -> None:
        self._line({"event": "gap", "start": gap.start, "end": gap.end})

    def end(self, info: TrackFileInfo) -> None:
        self._line({
            "event": "end", "end_wallclock": info.end_wallclock, "frames": info.frames,
            "dropped_frames": info.dropped_frames, "stop_reason": info.stop_reason,
            "error": info.error,
        })

    def sync(self) -> None:
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def read_track_log(path: Path) -> TrackFileInfo | None:
    """Rebuild a TrackFileInfo from a sidecar; a torn last line (crash mid-write) is ignored."""
    info: TrackFileInfo | None = None
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            break
        event = obj.get("event")
        if event == "start":
            info = TrackFileInfo(
                name=obj["file"], kind=cast(MediaKind, obj["kind"]), codec=obj["codec"],
                segment=int(obj["segment"]), start_wallclock=float(obj["start_wallclock"]),
                width=obj.get("width"), height=obj.get("height"), tags=dict(obj.get("tags", {})),
            )
        elif info is not None and event == "gap":
            info.gaps.append(Gap(float(obj["start"]), float(obj["end"])))
        elif info is not None and event == "end":
            info.end_wallclock = obj.get("end_wallclock")
            info.frames = int(obj.get("frames", 0))
            info.dropped_frames = int(obj.get("dropped_frames", 0))
            info.stop_reason = obj.get("stop_reason", "ended")
            info.error = obj.get("error")
            info.complete = True
    return info
