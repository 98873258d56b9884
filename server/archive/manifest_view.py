"""Read a sealed folder's manifest into what the clerk's player needs (blocking file reads: call
from a thread)."""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from recording.layout import EVENT_LOG_NAME, MANIFEST_NAME, SIGNATURE_NAME

from .schemas import GapOut, ManifestDocumentOut, ManifestParticipantOut, ManifestSummary, TrackOut

SEAL_NAMES = (MANIFEST_NAME, SIGNATURE_NAME)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MANIFEST_NAME).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def content_type(name: str, media: str | None = None) -> str:
    lower = name.lower()
    if lower.endswith(".webm"):
        return "audio/webm" if media == "audio" else "video/webm"
    if lower.endswith(".mkv"):
        return "video/x-matroska"
    if lower.endswith(".jsonl"):
        return "application/x-ndjson"
    if lower.endswith(".json"):
        return "application/json"
    if lower.endswith(".sig"):
        return "application/octet-stream"
    if lower.endswith(".mp4"):
        return "video/mp4"
    if lower.endswith(".zip"):
        return "application/zip"
    guessed, _ = mimetypes.guess_type(lower)
    return guessed or "application/octet-stream"


def safe_member(name: str) -> bool:
    p = PurePosixPath(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and "\\" not in name


@dataclass(frozen=True)
class FileEntry:
    name: str
    kind: str
    caucus: bool
    media: str | None


def file_entries(manifest: dict[str, Any]) -> dict[str, FileEntry]:
    """Every downloadable file of a sealed folder: the manifest's files plus the seal."""
    out: dict[str, FileEntry] = {}
    track_caucus: dict[str, bool] = {}
    for f in manifest.get("files", []):
        name = str(f.get("name", ""))
        if not safe_member(name):
            continue
        caucus = bool(f.get("caucus"))
        if f.get("kind") == "track":
            track_caucus[name] = caucus
        out[name] = FileEntry(name, str(f.get("kind", "other")), caucus, f.get("media"))
    # A track's sidecar (start, gaps, end) belongs with its track, caucus flag included.
    for name, entry in list(out.items()):
        if entry.kind == "track_log":
            media = name.rsplit(".track.jsonl", 1)[0]
            if track_caucus.get(media):
                out[name] = FileEntry(name, entry.kind, True, None)
    for name in SEAL_NAMES:
        out[name] = FileEntry(name, "seal", False, None)
    return out


def track_bounds(manifest: dict[str, Any], include_caucus: bool = True) -> tuple[float, float] | None:
    starts, ends = [], []
    for f in manifest.get("files", []):
        if f.get("kind") != "track" or (f.get("caucus") and not include_caucus):
            continue
        start = f.get("start_wallclock")
        if isinstance(start, int | float):
            starts.append(float(start))
            end = f.get("end_wallclock")
            ends.append(float(end) if isinstance(end, int | float) else float(start))
    if not starts:
        return None
    return min(starts), max(ends)


def summarize(manifest: dict[str, Any], origin: float, *, show_caucus: bool) -> ManifestSummary:
    names = {
        str(p.get("id")): p.get("name") for p in manifest.get("participants", []) if p.get("id")
    }
    tracks: list[TrackOut] = []
    documents: list[ManifestDocumentOut] = []
    hidden = 0
    for f in manifest.get("files", []):
        kind = f.get("kind")
        if kind == "document":
            documents.append(
                ManifestDocumentOut(
                    name=f["name"], title=f.get("title"), kind=f.get("document_kind"),
                    size=int(f.get("size", 0)), sha256=str(f.get("sha256", "")),
                )
            )
            continue
        if kind != "track":
            continue
        if f.get("caucus") and not show_caucus:
            hidden += 1
            continue
        start = float(f.get("start_wallclock") or origin)
        end = f.get("end_wallclock")
        end_f = float(end) if isinstance(end, int | float) else start
        gaps = [
            GapOut(offset_s=round(float(g["start"]) - origin, 3),
                   duration_s=round(float(g.get("duration", g["end"] - g["start"])), 3))
            for g in f.get("gaps", [])
            if isinstance(g, dict) and "start" in g and "end" in g
        ]
        participant = f.get("participant")
        tracks.append(
            TrackOut(
                name=f["name"],
                participant=participant,
                participant_name=names.get(str(participant)) if participant else None,
                role=f.get("role"),
                media=str(f.get("media")),
                codec=f.get("codec"),
                width=f.get("width"),
                height=f.get("height"),
                segment=f.get("segment"),
                caucus=bool(f.get("caucus")),
                caucus_group=f.get("caucus_group"),
                start_utc=f.get("start_utc"),
                end_utc=f.get("end_utc"),
                offset_s=round(start - origin, 3),
                duration_s=round(max(0.0, end_f - start), 3),
                gaps=gaps,
                frames=f.get("frames"),
                stop_reason=f.get("stop_reason"),
                size=int(f.get("size", 0)),
                sha256=str(f.get("sha256", "")),
                content_type=content_type(str(f["name"]), f.get("media")),
            )
        )
    tracks.sort(key=lambda t: (t.offset_s, t.participant or "", t.media))
    event_log = manifest.get("event_log") or {}
    signer = manifest.get("signer") or {}
    return ManifestSummary(
        revision=int(manifest.get("revision", 1)),
        interrupted=bool(manifest.get("interrupted")),
        record_caucus=bool(manifest.get("record_caucus")),
        sealed_at=manifest.get("sealed_at"),
        recording_started_utc=manifest.get("recording_started_utc"),
        recording_ended_utc=manifest.get("recording_ended_utc"),
        participants=[
            ManifestParticipantOut(id=str(p.get("id")), name=p.get("name"), role=p.get("role"))
            for p in manifest.get("participants", [])
        ],
        tracks=tracks,
        documents=documents,
        caucus_tracks_hidden=hidden,
        event_log_entries=int(event_log.get("entries", 0) or 0),
        consents=len(manifest.get("consents", [])),
        admissions=len(manifest.get("admissions", [])),
        caucus_changes=len(manifest.get("caucus_changes", [])),
        signer_fingerprint=signer.get("public_key_fingerprint_sha256"),
    )


__all__ = [
    "EVENT_LOG_NAME",
    "FileEntry",
    "content_type",
    "file_entries",
    "read_manifest",
    "safe_member",
    "summarize",
    "track_bounds",
]
