"""One track's Matroska/WebM file, written by stream copy: encoded frames in, no codec runs."""

from __future__ import annotations

import contextlib
import io
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.container import OutputContainer
from av.stream import Stream

from server.rtc.frame import MediaKind

MS = Fraction(1, 1000)


@dataclass(frozen=True, slots=True)
class CodecSpec:
    """How a negotiated codec is stored."""

    mime: str
    kind: MediaKind
    ffmpeg_name: str
    container_format: str
    extension: str


_SPECS = {
    "video/vp8": CodecSpec("video/VP8", "video", "vp8", "webm", ".webm"),
    # WebM admits only VP8/VP9/AV1 video, so H.264 goes into plain Matroska.
    "video/h264": CodecSpec("video/H264", "video", "h264", "matroska", ".mkv"),
    "audio/opus": CodecSpec("audio/opus", "audio", "libopus", "webm", ".webm"),
}


class UnsupportedCodec(ValueError):
    pass


def codec_spec(mime: str) -> CodecSpec:
    """The storage recipe for a codec MIME type; raises UnsupportedCodec for anything else."""
    try:
        return _SPECS[mime.lower()]
    except KeyError:
        raise UnsupportedCodec(f"cannot record codec {mime!r}") from None


def opus_head(channels: int = 2, input_rate: int = 48000) -> bytes:
    """RFC 7845 identification header; Matroska stores it as the Opus CodecPrivate.

    WebRTC always signals Opus as two channels (a mono stream decodes fine as stereo). Pre-skip
    is 0 because the recording taps a stream already running: there is no encoder start-up
    delay to hide, and a non-zero value would shift the audio against the wall clock.
    """
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, 0, input_rate, 0, 0)


class _DiskFile:
    """The file PyAV writes through: every byte is written or an error is raised and kept.

    libavformat ignores short writes (the usual first sign of a full disk) and may drop an error
    met while writing the trailer; without this a full disk could lose the last cluster
    silently.
    """

    def __init__(self, path: Path) -> None:
        self._raw = io.FileIO(path, "w")
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        try:
            while view:
                view = view[self._raw.write(view) or 0 :]
        except OSError as exc:
            self.error = self.error or exc
            raise
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def flush(self) -> None:
        pass  # unbuffered: each write() above is already a write(2)

    def fileno(self) -> int:
        return self._raw.fileno()

    def close(self) -> None:
        self._raw.close()


class TrackFileWriter:
    """Writes packets of one track into one file, flushing a cluster at least every ``cluster_ms``.

    Matroska clusters are written whole, so a process killed with SIGKILL leaves a file that
    plays up to its last complete cluster; a short cluster bounds what a crash can lose.
    Blocking: call it from a writer thread, never from the event loop.
    """

    def __init__(
        self,
        path: Path,
        spec: CodecSpec,
        *,
        tags: Mapping[str, str],
        dimensions: tuple[int, int] | None = None,
        cluster_ms: int = 500,
    ) -> None:
        self.path = path
        self._file = _DiskFile(path)
        options = {"cluster_time_limit": str(cluster_ms), "flush_packets": "1"}
        try:
            self._container: OutputContainer = av.open(
                self._file, "w", format=spec.container_format, options=options
            )
            self._container.metadata.update(tags)
            self._stream = self._add_stream(spec, dimensions)
        except BaseException:
            self._file.close()
            raise

    def _add_stream(self, spec: CodecSpec, dimensions: tuple[int, int] | None) -> Stream:
        if spec.kind == "video":
            width, height = dimensions or (0, 0)
            return self._container.add_mux_stream(
                spec.ffmpeg_name, width=width, height=height, time_base=MS
            )
        # A mux-only stream cannot carry extradata in PyAV, so Opus gets a codec context that is
        # opened (cheap for libopus) but never fed; opening it first stops it from replacing
        # our OpusHead with its own.
        stream = self._container.add_stream(spec.ffmpeg_name, rate=48000)
        stream.codec_context.open()
        stream.codec_context.extradata = opus_head()
        return stream

    def write(self, pts_ms: int, data: bytes, keyframe: bool) -> None:
        packet = av.Packet(data)
        packet.stream = self._stream
        packet.time_base = MS
        packet.pts = packet.dts = pts_ms
        packet.is_keyframe = keyframe
        # The header is written with the first packet, not before: PyAV derives H.264's
        # CodecPrivate (avcC) from the SPS/PPS in that first keyframe.
        self._container.mux(packet)
        self._raise_disk_error()

    def _raise_disk_error(self) -> None:
        if self._file.error is not None:
            raise self._file.error

    def sync(self) -> None:
        """Push what the OS holds to the disk (a kill -9 loses nothing the muxer flushed anyway)."""
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Write the remaining cluster, cues and duration; raises OSError when the disk refuses."""
        try:
            self._container.close()
            self._raise_disk_error()
            self.sync()
        finally:
            self._file.close()

    def abandon(self) -> None:
        """Give up after an error: keep whatever complete clusters reached the file."""
        # The disk already failed; the file is kept as it is.
        with contextlib.suppress(Exception):
            self._container.close()
        self._file.close()
