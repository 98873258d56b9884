"""TrackRecorder: a FrameSink that records one published track into one file, off the loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from server.rtc.frame import EncodedFrame, MediaKind

from .bitstream import video_dimensions
from .container import TrackFileWriter, codec_spec
from .failure import RecordingFailure, stop_reason_of
from .layout import track_log_path
from .timeline import Timeline
from .track_log import TrackFileInfo, TrackLogWriter

log = logging.getLogger(__name__)

# Matroska tag names (Matroska upper-cases them anyway).
TAG_START_WALLCLOCK = "SHARED_COURT_START_WALLCLOCK"
TAG_START_UTC = "SHARED_COURT_START_UTC"
TAG_SEGMENT = "SHARED_COURT_SEGMENT"


@dataclass(frozen=True, slots=True)
class RecorderOptions:
    """Tuning knobs; the defaults suit a court session on an ordinary disk."""

    # Frames waiting for the writer thread; beyond it frames are dropped rather than
    # letting a stalled disk grow memory without bound (1500 ≈ 50 s of 30 fps video).
    queue_limit: int = 1500
    # Longest stretch a kill -9 can lose.
    cluster_ms: int = 500
    # How often the writer thread wakes to drain the queue; batching keeps thread hops cheap.
    drain_interval_s: float = 0.05
    # How often written data is forced to the disk (power loss, not kill -9, needs this).
    fsync_interval_s: float = 2.0
    # Silences longer than this are listed as gaps.
    gap_threshold_s: float = 1.0
    resync_s: float = 3.0
    keyframe_request_interval_s: float = 1.0


def _utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")


class TrackRecorder:
    """Records one published track (VP8/H.264 video or Opus audio) by stream copy.

    Attach it to a published track like a subscriber: ``on_frame`` only queues the frame (it is
    safe and cheap on the event loop); a writer thread muxes, flushes and fsyncs. Video starts
    at a keyframe (``request_keyframe`` is called, at most once per
    ``keyframe_request_interval_s``, while waiting for one, so the SFU can send a PLI).

    The file ``<folder>/<stem>.webm`` (``.mkv`` for H.264) and its sidecar
    ``<file>.track.jsonl`` appear with the first recordable frame; no frame, no file.

    If writing fails (disk full or any other error) the recorder stops, keeps what it wrote
    playable, and calls ``on_failure`` on the event loop; later frames are ignored. A reconnect
    of the same participant is a new TrackRecorder with the next ``segment``.
    """

    def __init__(
        self,
        folder: Path,
        stem: str,
        kind: MediaKind,
        *,
        segment: int = 1,
        tags: Mapping[str, str] | None = None,
        on_failure: Callable[[RecordingFailure], None] | None = None,
        request_keyframe: Callable[[], None] | None = None,
        options: RecorderOptions | None = None,
    ) -> None:
        self.folder = folder
        self.stem = stem
        self.kind: MediaKind = kind
        self.segment = segment
        self._tags = dict(tags or {})
        self._on_failure = on_failure
        self._request_keyframe = request_keyframe
        self._opts = options or RecorderOptions()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

        # Shared between the loop thread (appends) and the writer thread (pops): deque's
        # append/popleft are atomic, so no lock is needed on the hot path.
        self._queue: deque[EncodedFrame] = deque()
        self._stopping = False
        self._need_keyframe = kind == "video"
        self._accepted_any = False
        self._dropped = 0
        self._last_keyframe_request = -1e9

        self._timeline = Timeline(
            gap_threshold_s=self._opts.gap_threshold_s, resync_s=self._opts.resync_s
        )
        self._writer: TrackFileWriter | None = None
        self._track_log: TrackLogWriter | None = None
        self._path: Path | None = None
        self._info: TrackFileInfo | None = None
        self._failure: RecordingFailure | None = None
        self._wake = threading.Event()
        self._result: concurrent.futures.Future[TrackFileInfo | None] = (
            concurrent.futures.Future()
        )
        self._thread = threading.Thread(target=self._run, name=f"rec-{stem}", daemon=True)
        self._thread.start()

    # ---- event-loop side -------------------------------------------------------------------

    def on_frame(self, frame: EncodedFrame) -> None:
        """Queue a frame for writing. Never blocks; drops (and counts) when the queue is full."""
        if self._stopping or frame.kind != self.kind:
            return
        if len(self._queue) >= self._opts.queue_limit:
            self._dropped += 1
            # A video frame lost breaks every frame up to the next keyframe.
            self._need_keyframe = self.kind == "video"
            return
        if self._need_keyframe:
            if not frame.keyframe:
                if self._accepted_any:
                    self._dropped += 1
                self._ask_keyframe()
                return
            self._need_keyframe = False
        self._accepted_any = True
        self._queue.append(frame)

    def on_end(self) -> None:
        """The track ended: write what is queued, close the file. Returns at once."""
        self._stopping = True
        self._wake.set()

    stop = on_end

    async def wait_closed(self) -> TrackFileInfo | None:
        """Wait until the file is closed; its description, or None if no frame was recorded."""
        return await asyncio.wrap_future(self._result)

    def close(self, timeout: float | None = None) -> TrackFileInfo | None:
        """Blocking ``on_end`` + wait, for code outside the event loop."""
        self.on_end()
        return self._result.result(timeout)

    def when_closed(self, callback: Callable[[TrackFileInfo | None], None]) -> None:
        """Call ``callback(info)`` once the file is closed, on the writer thread (or at once)."""
        self._result.add_done_callback(lambda done: callback(done.result()))

    @property
    def path(self) -> Path | None:
        """The media file, once the first frame created it."""
        return self._path

    @property
    def failure(self) -> RecordingFailure | None:
        """Why the recorder stopped early, if it did."""
        return self._failure

    @property
    def queued(self) -> int:
        return len(self._queue)

    def _ask_keyframe(self) -> None:
        if self._request_keyframe is None:
            return
        now = time.monotonic()
        if now - self._last_keyframe_request >= self._opts.keyframe_request_interval_s:
            self._last_keyframe_request = now
            self._request_keyframe()

    # ---- writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        last_sync = time.monotonic()
        try:
            while True:
                stopping = self._wake.wait(self._opts.drain_interval_s)
                self._drain()
                if self._writer is not None and (
                    stopping or time.monotonic() - last_sync >= self._opts.fsync_interval_s
                ):
                    self._writer.sync()
                    if self._track_log is not None:
                        self._track_log.sync()
                    last_sync = time.monotonic()
                if stopping:
                    break
            self._finish()
        except Exception as exc:
            self._fail(exc)
        finally:
            # The session keeps every recorder until its seal (to list what each file holds);
            # a closed one keeps only that. The writer holds the muxer and, for audio, an
            # opened encoder context: a session with a caucus every few minutes otherwise grew
            # by each segment's worth (found by bench/soak.py).
            self._writer = None
            self._track_log = None
            self._queue.clear()
            if not self._result.done():
                self._result.set_result(self._info)

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            self._write(queue.popleft())

    def _write(self, frame: EncodedFrame) -> None:
        if self._writer is None:
            self._open(frame)
        assert self._writer is not None and self._info is not None
        if frame.codec.lower() != self._info.codec.lower():
            self._info.dropped_frames += 1
            return
        placed = self._timeline.place(frame.rtp_timestamp, frame.clock_rate, frame.wallclock)
        if placed.gap is not None:
            self._info.gaps.append(placed.gap)
            assert self._track_log is not None
            self._track_log.gap(placed.gap)
        self._writer.write(placed.pts_ms, frame.data, frame.keyframe)
        self._info.frames += 1

    def _open(self, frame: EncodedFrame) -> None:
        spec = codec_spec(frame.codec)
        dims = video_dimensions(frame.codec, frame.data) if spec.kind == "video" else None
        path = self._path = self.folder / (self.stem + spec.extension)
        tags = {
            **self._tags,
            TAG_START_WALLCLOCK: f"{frame.wallclock:.6f}",
            TAG_START_UTC: _utc_iso(frame.wallclock),
            TAG_SEGMENT: str(self.segment),
            "creation_time": _utc_iso(frame.wallclock),
        }
        self._info = TrackFileInfo(
            name=path.name, kind=self.kind, codec=spec.mime, segment=self.segment,
            start_wallclock=frame.wallclock, width=dims[0] if dims else None,
            height=dims[1] if dims else None, tags=dict(self._tags),
        )
        # The sidecar first: if the media file is created, recovery can always describe it.
        self._track_log = TrackLogWriter(track_log_path(path), self._info)
        self._writer = TrackFileWriter(
            path, spec, tags=tags, dimensions=dims, cluster_ms=self._opts.cluster_ms
        )

    def _finish(self) -> None:
        if self._writer is None or self._info is None:
            return
        self._writer.close()
        self._info.end_wallclock = self._timeline.end_wallclock
        self._info.dropped_frames += self._dropped
        self._info.stop_reason = "ended"
        self._info.complete = True
        assert self._track_log is not None
        self._track_log.end(self._info)
        self._track_log.close()

    def _fail(self, exc: Exception) -> None:
        self._stopping = True
        self._queue.clear()
        if self._writer is not None:
            self._writer.abandon()
        name = self._info.name if self._info else self.stem
        log.warning("recording of %s stopped: %s", name, exc)
        if self._info is not None:
            self._info.end_wallclock = self._timeline.end_wallclock
            self._info.dropped_frames += self._dropped
            self._info.stop_reason = stop_reason_of(exc)
            self._info.error = str(exc)
            self._info.complete = True
            if self._track_log is not None:
                # Best effort: on a full disk the sidecar may not take its end line either.
                with contextlib.suppress(Exception):
                    self._track_log.end(self._info)
                with contextlib.suppress(Exception):
                    self._track_log.close()
        self._failure = RecordingFailure.from_exception("track", name, exc)
        # Alert first: whoever awaits the result then finds the failure already delivered.
        self._notify(self._failure)
        self._result.set_result(self._info)

    def _notify(self, failure: RecordingFailure) -> None:
        callback = self._on_failure
        if callback is None:
            return
        if self._loop is None:
            callback(failure)
            return
        with contextlib.suppress(RuntimeError):  # loop already closed: nobody left to tell
            self._loop.call_soon_threadsafe(callback, failure)
