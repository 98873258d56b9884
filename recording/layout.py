"""Names of the files in a session folder; the one place that knows the folder's layout."""

from __future__ import annotations

import re
from pathlib import Path

from server.rtc.frame import MediaKind

EVENT_LOG_NAME = "events.jsonl"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.json.sig"
# Present from the first byte written until the seal is complete: its presence after a restart
# is how recovery knows the recording was interrupted.
OPEN_MARKER_NAME = "recording.open"
DOCUMENTS_DIR = "documents"
TRACK_LOG_SUFFIX = ".track.jsonl"

# Files that describe the folder rather than belong to the evidence listed in the manifest.
SEAL_FILES = frozenset({MANIFEST_NAME, SIGNATURE_NAME, OPEN_MARKER_NAME})

_UNSAFE = re.compile(r"[^\w.-]+", re.UNICODE)


def safe_name(text: str) -> str:
    """Turn an id (case numbers like "(2024)京0105民初123号" included) into one path component."""
    cleaned = _UNSAFE.sub("_", text).strip("._")
    return cleaned[:120] or "_"


def track_stem(
    participant_id: str,
    kind: MediaKind,
    segment: int,
    *,
    label: str | None = None,
    caucus_group: str | None = None,
) -> str:
    """File name without extension, e.g. ``p1.video.s01`` or ``p1.audio.s02.caucus-g1``."""
    parts = [safe_name(participant_id), kind]
    if label:
        parts.append(safe_name(label))
    parts.append(f"s{segment:02d}")
    if caucus_group is not None:
        parts.append("caucus-" + safe_name(caucus_group))
    return ".".join(parts)


def track_log_path(media_path: Path) -> Path:
    """The sidecar that records a track file's start, gaps and end as they happen."""
    return media_path.with_name(media_path.name + TRACK_LOG_SUFFIX)


def media_path_of_track_log(track_log: Path) -> Path:
    return track_log.with_name(track_log.name[: -len(TRACK_LOG_SUFFIX)])


def relative_name(folder: Path, path: Path) -> str:
    """Manifest names are POSIX paths relative to the session folder."""
    return path.relative_to(folder).as_posix()
