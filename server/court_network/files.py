"""Uploaded files (evidence, 普法 videos and images): streamed, size-limited, type-checked by
content, stored content-addressed by SHA-256 under <data_dir>/network/."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import BodyPartReader, web

from server.http.errors import ApiError, bad_request

MAX_VIDEO_BYTES = 200 * 1024 * 1024
MAX_IMAGE_BYTES = 10 * 1024 * 1024

# Content type -> allowed file name extensions. The content is checked, never only the name.
EVIDENCE_TYPES: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "application/pdf": (".pdf",),
}
VIDEO_TYPES: dict[str, tuple[str, ...]] = {"video/mp4": (".mp4",), "video/webm": (".webm",)}
IMAGE_TYPES: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/webp": (".webp",),
}


def sniff(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
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


# Room for the multipart framing around the file (boundaries, part headers, small fields).
MULTIPART_SLACK = 64 * 1024


def too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "file_too_large", f"文件过大 / file larger than {_size(max_bytes)}")


def _size(n: int) -> str:
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


@dataclass
class PendingFile:
    """A received, checked upload still in its temporary file (removed unless stored)."""

    filename: str
    content_type: str
    size: int
    sha256: str
    tmp: Path

    def store(self, data_dir: Path, kind: str) -> StoredFile:
        final = _commit(self.tmp, stored_path(data_dir, kind, self.sha256))
        return StoredFile(self.filename, self.content_type, self.size, self.sha256, final)


@asynccontextmanager
async def receive_upload(
    request: web.Request,
    data_dir: Path,
    kind: str,
    *,
    allowed: dict[str, tuple[str, ...]],
    max_bytes: int,
) -> AsyncIterator[PendingFile]:
    """Stream the multipart field `file` to a temporary file; refuse empty, too large (413, as
    soon as the limit is passed: nothing more is read), or mismatching files. The temporary
    file is gone when the block ends unless `store` moved it into place."""
    if not request.content_type.startswith("multipart/"):
        raise bad_request(
            "请以 multipart/form-data 上传 / upload as multipart/form-data",
            code="multipart_required",
        )
    if request.content_length is not None and request.content_length > max_bytes + MULTIPART_SLACK:
        raise too_large(max_bytes)  # declared too large: refused before a byte is read
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
                    raise too_large(max_bytes)
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
        yield PendingFile(filename, detected, size, digest.hexdigest(), tmp)
    finally:
        _discard(tmp)


async def receive_file(
    request: web.Request,
    data_dir: Path,
    kind: str,
    *,
    allowed: dict[str, tuple[str, ...]],
    max_bytes: int,
) -> StoredFile:
    """Receive the multipart field `file` (as `receive_upload`) and store it at once."""
    async with receive_upload(
        request, data_dir, kind, allowed=allowed, max_bytes=max_bytes
    ) as pending:
        return pending.store(data_dir, kind)


def too_many_files(cap: int) -> ApiError:
    return ApiError(409, "too_many_attachments", f"附件过多 / at most {cap} files per intake")


class UploadSlots:
    """Uploads in progress per owner (an intake), counted against its cap with those stored.

    Checking and taking a slot happen without an await in between, so parallel uploads in
    this process cannot all pass the check while their bodies are still streaming; the
    conditional insert that records a file stays the final word (other processes)."""

    def __init__(self) -> None:
        self._busy: dict[str, int] = {}

    def in_flight(self, owner: str) -> int:
        return self._busy.get(owner, 0)

    @contextmanager
    def reserve(self, owner: str, stored: int, cap: int) -> Iterator[None]:
        busy = self._busy.get(owner, 0)
        if stored + busy >= cap:
            raise too_many_files(cap)
        self._busy[owner] = busy + 1
        try:
            yield
        finally:
            left = self._busy[owner] - 1
            if left:
                self._busy[owner] = left
            else:
                del self._busy[owner]


def _commit(tmp: Path, final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():  # same content already stored
        tmp.unlink()
    else:
        os.replace(tmp, final)
    return final


def _discard(tmp: Path) -> None:
    tmp.unlink(missing_ok=True)
