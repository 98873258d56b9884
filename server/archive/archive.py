"""Stream a recording folder as one ZIP: original track files, sidecars, event log, documents,
manifest.json and its signature, the server's public key and a short note on verifying it.

The ZIP is written by a worker thread into a bounded queue that the response drains, so nothing
is staged on disk and memory stays at a few chunks whatever the recording's size. Media is
stored, not deflated (it is already compressed; the bytes inside are the sealed bytes).
"""

from __future__ import annotations

import asyncio
import io
import threading
import zipfile
from collections.abc import Iterable
from pathlib import Path

from aiohttp import web

CHUNK_QUEUE = 8
README = """共享法庭录像归档 / Shared Court recording archive

{folder}/ 为密封时的原始文件夹（逐字节未改动）。/ {folder}/ holds the sealed folder, byte for byte.
校验 / To verify: shared-court verify {folder} --key shared-court-seal.pem
或 / or: openssl pkeyutl -verify -pubin -inkey shared-court-seal.pem -rawin \\
        -in {folder}/manifest.json -sigfile {folder}/manifest.json.sig
然后核对 manifest.json 中每个文件的 SHA-256。/ then compare each file's SHA-256 with manifest.json.
{omitted}"""


class _Cancelled(Exception):
    pass


class _QueueWriter(io.RawIOBase):
    """A write-only, unseekable file whose bytes go to an asyncio queue (with backpressure)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | None],
                 cancelled: threading.Event) -> None:
        self._loop = loop
        self._queue = queue
        self._cancelled = cancelled
        self._buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self._cancelled.is_set():
            raise _Cancelled
        self._buf += b
        if len(self._buf) >= 256 * 1024:
            self._push()
        return len(b)

    def _push(self) -> None:
        if not self._buf:
            return
        data, self._buf = bytes(self._buf), bytearray()
        fut = asyncio.run_coroutine_threadsafe(self._queue.put(data), self._loop)
        while True:
            try:
                fut.result(timeout=1.0)
                return
            except TimeoutError:
                if self._cancelled.is_set():
                    fut.cancel()
                    raise _Cancelled from None

    def flush(self) -> None:
        self._push()


def _write_zip(
    writer: _QueueWriter, folder: Path, members: Iterable[str], public_pem: bytes,
    omitted: list[str],
) -> None:
    with zipfile.ZipFile(writer, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name in members:
            path = folder / name
            if path.is_file():
                zf.write(path, f"{folder.name}/{name}")
        zf.writestr("shared-court-seal.pem", public_pem)
        note = ""
        if omitted:
            note = ("\n以下保密的单独会谈文件未包含（无权限），校验会报告其缺失 / confidential caucus files "
                    "left out (no permission); verify reports them missing:\n"
                    + "\n".join(f"  {n}" for n in omitted) + "\n")
        zf.writestr(
            "README.txt",
            README.format(folder=folder.name, omitted=note),
            compress_type=zipfile.ZIP_DEFLATED,
        )
    writer.flush()


async def stream_zip(
    request: web.Request,
    response: web.StreamResponse,
    folder: Path,
    members: list[str],
    public_pem: bytes,
    omitted: list[str],
) -> web.StreamResponse:
    """Prepare ``response`` and write the ZIP into it; returns it finished."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(CHUNK_QUEUE)
    cancelled = threading.Event()
    writer = _QueueWriter(loop, queue, cancelled)

    def work() -> None:
        try:
            _write_zip(writer, folder, members, public_pem, omitted)
        except _Cancelled:
            return
        finally:
            if not cancelled.is_set():
                asyncio.run_coroutine_threadsafe(queue.put(None), loop)

    await response.prepare(request)
    task = loop.run_in_executor(None, work)
    try:
        while (chunk := await queue.get()) is not None:
            await response.write(chunk)
        await task
        await response.write_eof()
    finally:
        cancelled.set()
        # Unblock a writer waiting on a full queue, then let it see the flag and stop.
        while not queue.empty():
            queue.get_nowait()
    return response
