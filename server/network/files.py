"""Uploaded files (evidence, 普法 videos): streamed, size-limited, type-checked by content,
stored content-addressed by SHA-256 under <data_dir>/network/."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aiohttp import BodyPartReader, web

from server.api.errors import ApiError, bad_request

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS_PER_INTAKE = 20
MAX_VIDEO_BYTES = 200 * 1024 * 1024

# Content type -> allowed file name extensions. The content is checked, never only the name.
EVIDENCE_TYPES: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "application/pdf": (".pdf",),
}
VIDEO_TYPES: dict[str, tuple[str, ...]] = {"video/mp4": (".mp4",), "video/webm": (".webm",)}


def sniff(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return None


@dataclass
class StoredFile:
    filename: str
    content_type: str
    size: int
    sha256: str
    path: Path


def store_root(data_dir: Path, kind: str) -> Path:
    root = data_dir / "network" / kind
    root.mkdir(parents=True, exist_ok=True)
    return root


def stored_path(data_dir: Path, kind: str, sha256: str) -> Path:
    return store_root(data_dir, kind) / sha256[:2] / sha256


def _clean_name(name: str | None) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    base = "".join(c for c in base if c.isprintable() and c not in '<>:"|?*')
    return base[:200] or "file"


async def receive_file(
    request: web.Request,
    data_dir: Path,
    kind: str,
    *,
    allowed: dict[str, tuple[str, ...]],
    max_bytes: int,
) -> StoredFile:
    """Read the multipart field `file`; refuse empty, too large, or mismatching files."""
    if not request.content_type.startswith("multipart/"):
        raise bad_request(
            "请以 multipart/form-data 上传 / upload as multipart/form-data",
            code="multipart_required",
        )
    reader = await request.multipart()
    part = await reader.next()
    while part is not None and (not isinstance(part, BodyPartReader) or part.name != "file"):
        part = await reader.next()
    if part is None or not isinstance(part, BodyPartReader):
        raise bad_request("缺少文件 / multipart field 'file' missing", code="file_missing")
    filename = _clean_name(part.filename)
    root = store_root(data_dir, kind)
    digest = hashlib.sha256()
    size = 0
    head = b""
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=".upload-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await part.read_chunk(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise ApiError(
                        413,
                        "file_too_large",
                        f"文件过大 / file larger than {max_bytes // (1024 * 1024)} MiB",
                    )
                if len(head) < 16:
                    head = (head + chunk)[:16]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise bad_request("文件为空 / empty file", code="file_empty")
        detected = sniff(head)
        if detected is None or detected not in allowed:
            raise ApiError(
                415,
                "file_type_not_allowed",
                "文件类型不允许 / allowed: " + ", ".join(sorted(allowed)),
            )
        if not filename.lower().endswith(allowed[detected]):
            raise ApiError(
                415,
                "file_type_mismatch",
                f"文件名与内容不符 / content is {detected}, name is {filename}",
            )
        sha = digest.hexdigest()
        final = _commit(tmp, stored_path(data_dir, kind, sha))
        return StoredFile(filename, detected, size, sha, final)
    finally:
        _discard(tmp)


def _commit(tmp: Path, final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():  # same content already stored
        tmp.unlink()
    else:
        os.replace(tmp, final)
    return final


def _discard(tmp: Path) -> None:
    tmp.unlink(missing_ok=True)
