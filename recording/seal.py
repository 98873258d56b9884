"""Sealing: write the manifest and its detached Ed25519 signature, then close the folder."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .event_log import EventLog, EventType
from .fsutil import atomic_write, fsync_dir, sha256_file
from .keys import ServerKey
from .layout import (
    DOCUMENTS_DIR,
    EVENT_LOG_NAME,
    MANIFEST_NAME,
    OPEN_MARKER_NAME,
    SIGNATURE_NAME,
    safe_name,
)
from .manifest import build_manifest
from .track_log import TrackFileInfo


def seal_folder(
    folder: Path,
    key: ServerKey,
    *,
    interrupted: bool = False,
    known_tracks: Mapping[str, TrackFileInfo] | None = None,
) -> dict[str, Any]:
    """Write ``manifest.json`` and ``manifest.json.sig`` (raw 64-byte Ed25519 signature of the
    manifest's exact bytes), then remove the open-recording marker. Returns the manifest.

    Sealing a folder that is already sealed makes a new revision that names the previous
    manifest's hash (used when documents are added after the session). Blocking.
    """
    manifest_path = folder / MANIFEST_NAME
    previous: dict[str, Any] | None = None
    previous_sha: str | None = None
    if manifest_path.exists():
        raw = manifest_path.read_bytes()
        previous_sha = hashlib.sha256(raw).hexdigest()
        previous = json.loads(raw)
    manifest = build_manifest(
        folder, key, interrupted=interrupted, known_tracks=known_tracks,
        previous=previous, previous_sha256=previous_sha,
    )
    data = json.dumps(manifest, ensure_ascii=False, indent=2).encode() + b"\n"
    # Manifest, then signature, then marker: a crash in between leaves the marker, and recovery
    # seals again.
    atomic_write(manifest_path, data)
    atomic_write(folder / SIGNATURE_NAME, key.sign(data))
    (folder / OPEN_MARKER_NAME).unlink(missing_ok=True)
    fsync_dir(folder)
    return manifest


def place_document(folder: Path, source: Path, *, move: bool = False) -> tuple[str, str, int]:
    """Copy (or move) a file into ``<folder>/documents/``; returns (manifest name, sha256, size).

    An existing document of the same name is never overwritten: a suffix is added.
    """
    docs = folder / DOCUMENTS_DIR
    docs.mkdir(exist_ok=True)
    stem, suffix = safe_name(source.stem), source.suffix
    target = docs / f"{stem}{suffix}"
    n = 1
    while target.exists():
        n += 1
        target = docs / f"{stem}-{n}{suffix}"
    if move:
        shutil.move(source, target)
    else:
        shutil.copyfile(source, target)
    sha, size = sha256_file(target)
    fsync_dir(docs)
    return f"{DOCUMENTS_DIR}/{target.name}", sha, size


def add_documents(
    folder: Path,
    key: ServerKey,
    documents: Sequence[tuple[Path, str]],
    *,
    actor: str | None = None,
    kind: str = "export",
) -> dict[str, Any]:
    """Add (path, title) documents to an already sealed folder and seal a new revision.

    The additions are logged in the event log, so the chain records what came after the first
    seal. Blocking.
    """
    log = EventLog(folder / EVENT_LOG_NAME)
    try:
        for source, title in documents:
            name, sha, size = place_document(folder, source)
            log.append(EventType.DOCUMENT_ADDED, actor,
                       {"file": name, "title": title, "kind": kind, "sha256": sha, "size": size})
    finally:
        log.close()
    return seal_folder(folder, key)


def folder_facts(folder: Path) -> tuple[str, int]:
    """SHA-256 of the sealed manifest and the folder's size (blocking: run in a thread)."""
    manifest = folder / "manifest.json"
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.exists() else ""
    return digest, sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
