"""Start-up recovery: seal the sessions whose recording was cut off (crash, kill -9, power loss).

Track files are left byte for byte as the dead writer left them: Matroska clusters are written
whole, so each file plays up to its last complete cluster without repair, and rewriting it
would only weaken it as evidence. What recovery adds is the account of it: a
``recording.interrupted`` event, each file's end found by demuxing, and a seal with
``"interrupted": true``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .event_log import EventLog, EventType, repair_tail
from .keys import ServerKey
from .layout import EVENT_LOG_NAME, MANIFEST_NAME, OPEN_MARKER_NAME
from .seal import seal_folder

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecoveredSession:
    folder: Path
    sealed: bool
    # Bytes of a half-written last event-log line that were cut off (kept in the new event).
    discarded_log_bytes: int = 0
    error: str | None = None


def _read_marker(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / OPEN_MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _still_recording(marker: dict[str, Any]) -> bool:
    """Another live process on this host owns the folder (e.g. a second media worker)."""
    pid = marker.get("pid")
    if marker.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_interrupted(folder: Path) -> bool:
    """An open-recording marker, or an event log without a manifest."""
    if (folder / OPEN_MARKER_NAME).exists():
        return True
    return (folder / EVENT_LOG_NAME).exists() and not (folder / MANIFEST_NAME).exists()


def find_interrupted(recordings_dir: Path) -> list[Path]:
    if not recordings_dir.is_dir():
        return []
    return [p for p in sorted(recordings_dir.iterdir()) if p.is_dir() and is_interrupted(p)]


def recover_folder(folder: Path, key: ServerKey) -> RecoveredSession:
    """Close the event log, note the interruption in it and seal the folder as interrupted."""
    marker = _read_marker(folder)
    log_path = folder / EVENT_LOG_NAME
    torn = repair_tail(log_path) if log_path.exists() else b""
    events = EventLog(log_path)
    try:
        events.append(EventType.INTERRUPTED, None, {
            "recovered_at": datetime.now(UTC).isoformat(),
            "open_marker": marker,
            "discarded_tail_bytes": len(torn),
            "discarded_tail_sha256": hashlib.sha256(torn).hexdigest() if torn else None,
            "discarded_tail_text": torn.decode("utf-8", "replace") if torn else None,
        })
    finally:
        events.close()
    seal_folder(folder, key, interrupted=True)
    return RecoveredSession(folder, True, len(torn))


def recover_interrupted(recordings_dir: Path, key: ServerKey) -> list[RecoveredSession]:
    """Find and seal every interrupted session under ``recordings_dir``. Call it at start-up,
    before new recordings begin (blocking: hashes files; use a thread from async code).

    One folder's failure is reported in its result and does not stop the others; folders still
    owned by another live process on this host are skipped.
    """
    results = []
    for folder in find_interrupted(recordings_dir):
        if _still_recording(_read_marker(folder)):
            log.info("skipping %s: still being recorded by another process", folder)
            continue
        try:
            results.append(recover_folder(folder, key))
            log.warning("sealed interrupted recording %s", folder)
        except Exception as exc:
            log.exception("could not recover %s", folder)
            results.append(RecoveredSession(folder, False, error=str(exc)))
    return results
