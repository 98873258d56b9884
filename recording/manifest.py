"""The manifest: a JSON description of everything in a session folder, with each file's hash.

Built from the folder itself (files, track sidecars, event log), so a live session and a
recovered one are described by the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .event_log import ChainCheck, EventType, LogEntry, check_chain
from .fsutil import sha256_file
from .keys import ServerKey
from .layout import (
    DOCUMENTS_DIR,
    EVENT_LOG_NAME,
    SEAL_FILES,
    TRACK_LOG_SUFFIX,
    media_path_of_track_log,
    relative_name,
    track_log_path,
)
from .probe import probe_media
from .track_log import TrackFileInfo, read_track_log

MANIFEST_FORMAT = "shared-court/recording-manifest"
MANIFEST_VERSION = 1

# Tags the session puts on every track file (and its sidecar).
TAG_CASE = "SHARED_COURT_CASE"
TAG_SESSION = "SHARED_COURT_SESSION"
TAG_PARTICIPANT = "SHARED_COURT_PARTICIPANT"
TAG_LABEL = "SHARED_COURT_LABEL"
TAG_CAUCUS_GROUP = "SHARED_COURT_CAUCUS_GROUP"

def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def folder_files(folder: Path) -> list[Path]:
    """Every file that belongs in the manifest: all regular files except the seal's own."""
    found = []
    for path in sorted(folder.rglob("*")):
        name = relative_name(folder, path)
        if not path.is_file() or name in SEAL_FILES:
            continue
        if name.endswith(".tmp") and name[: -len(".tmp")] in SEAL_FILES:
            continue  # an atomic write of the seal cut short by a crash
        found.append(path)
    return found


def _event_json(entry: LogEntry) -> dict[str, Any]:
    return {"seq": entry.seq, "time": entry.time, "type": entry.type, "actor": entry.actor,
            "payload": entry.payload}


def _track_info(path: Path, known: Mapping[str, TrackFileInfo]) -> TrackFileInfo | None:
    sidecar = track_log_path(path)
    info = read_track_log(sidecar) if sidecar.exists() else None
    if info is None or info.complete:
        return info
    remembered = known.get(path.name)
    if remembered is not None and remembered.complete:
        return remembered  # the sidecar's end line was lost (e.g. to a full disk)
    probe = probe_media(path)
    info.frames = probe.frames
    info.end_wallclock = info.start_wallclock + probe.duration_s
    info.stop_reason = "interrupted"
    return info


def _track_entry(info: TrackFileInfo, roles: Mapping[str, str | None]) -> dict[str, Any]:
    participant = info.tags.get(TAG_PARTICIPANT)
    group = info.tags.get(TAG_CAUCUS_GROUP)
    return {
        "participant": participant,
        "role": roles.get(participant) if participant else None,
        "media": info.kind,
        "label": info.tags.get(TAG_LABEL),
        "codec": info.codec,
        "width": info.width,
        "height": info.height,
        "segment": info.segment,
        "caucus": group is not None,
        "caucus_group": group,
        "start_wallclock": round(info.start_wallclock, 6),
        "end_wallclock": None if info.end_wallclock is None else round(info.end_wallclock, 6),
        "start_utc": iso(info.start_wallclock),
        "end_utc": iso(info.end_wallclock),
        "gaps": [gap.to_json() for gap in info.gaps],
        "frames": info.frames,
        "dropped_frames": info.dropped_frames,
        "stop_reason": info.stop_reason,
        "error": info.error,
    }


def _participants(events: tuple[LogEntry, ...]) -> list[dict[str, Any]]:
    people: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.type == EventType.PARTICIPANT_JOINED:
            pid = str(e.payload.get("participant"))
            person = people.setdefault(pid, {"id": pid, "name": None, "role": None, "joins": 0})
            person["name"] = e.payload.get("name", person["name"])
            person["role"] = e.payload.get("role", person["role"])
            person["joins"] += 1
    return list(people.values())


def build_manifest(
    folder: Path,
    key: ServerKey,
    *,
    interrupted: bool,
    known_tracks: Mapping[str, TrackFileInfo] | None = None,
    previous: Mapping[str, Any] | None = None,
    previous_sha256: str | None = None,
) -> dict[str, Any]:
    """Describe ``folder`` as it is now. Hashes every file: run it off the event loop."""
    known = known_tracks or {}
    log_path = folder / EVENT_LOG_NAME
    chain = check_chain(log_path) if log_path.exists() else ChainCheck(0, "0" * 64)
    events = chain.events
    opened = next((e.payload for e in events if e.type == EventType.SESSION_OPENED), {})
    participants = _participants(events)
    roles = {p["id"]: p["role"] for p in participants}
    titles = {
        str(e.payload.get("file")): e.payload for e in events
        if e.type == EventType.DOCUMENT_ADDED
    }

    files: list[dict[str, Any]] = []
    starts: list[float] = []
    ends: list[float] = []
    for path in folder_files(folder):
        name = relative_name(folder, path)
        sha, size = sha256_file(path)
        entry: dict[str, Any] = {"name": name, "sha256": sha, "size": size}
        if name == EVENT_LOG_NAME:
            entry["kind"] = "event_log"
        elif name.endswith(TRACK_LOG_SUFFIX) and media_path_of_track_log(path).exists():
            entry["kind"] = "track_log"
        elif "/" not in name and (info := _track_info(path, known)) is not None:
            entry["kind"] = "track"
            entry.update(_track_entry(info, roles))
            starts.append(info.start_wallclock)
            if info.end_wallclock is not None:
                ends.append(info.end_wallclock)
        elif name.startswith(DOCUMENTS_DIR + "/"):
            doc = titles.get(name, {})
            entry.update({"kind": "document", "title": doc.get("title"),
                          "document_kind": doc.get("kind")})
        else:
            entry["kind"] = "other"
        files.append(entry)

    def of(prefix: str) -> list[dict[str, Any]]:
        return [_event_json(e) for e in events if e.type.startswith(prefix)]

    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "revision": int(previous.get("revision", 1)) + 1 if previous else 1,
        "previous_manifest_sha256": previous_sha256,
        "case": opened.get("case"),
        "session": opened.get("session"),
        "record_caucus": bool(opened.get("record_caucus", False)),
        "interrupted": interrupted or bool(previous and previous.get("interrupted")),
        "sealed_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "recording_started_utc": iso(min(starts)) if starts else None,
        "recording_ended_utc": iso(max(ends)) if ends else None,
        "participants": participants,
        "files": files,
        "consents": of("consent."),
        "admissions": of("admission."),
        "caucus_changes": of("caucus."),
        "event_log": {
            "name": EVENT_LOG_NAME,
            "entries": chain.entries,
            "head_sha256": chain.head,
            "problem": None if chain.ok else f"line {chain.broken_line}: {chain.problem}",
        },
        "signer": {
            "algorithm": "Ed25519",
            "public_key_fingerprint_sha256": key.fingerprint,
            "public_key_pem": key.public_pem().decode(),
        },
    }
    return manifest
