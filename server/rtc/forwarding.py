"""The track an RTCRtpSender sends to one subscriber: a publisher's encoded frames, re-timed as
`av.Packet`s so aiortc's codec `pack()` packetizes them without encoding."""

from __future__ import annotations

import asyncio
import fractions
from collections import deque
from dataclasses import dataclass
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .frame import EncodedFrame
from .publication import PublishedTrack


@dataclass(slots=True)
class ForwardingStats:
    forwarded: int = 0
    # Frames dropped because the subscriber's sender fell behind (queue full).
    dropped: int = 0
    # Inter frames skipped while waiting for a keyframe (start, resume, after a drop).
    skipped: int = 0


class ForwardingTrack(MediaStreamTrack):
    """Per (subscriber, published track) queue between the publisher's fan-out and the
    subscriber's sender. It is also the `FrameSink` registered on the `PublishedTrack`.

    The queue is bounded: when the subscriber cannot keep up, video is dropped wholesale and the
    track waits for the next keyframe (asking for one), audio drops its oldest frame. Either way
    memory stays flat instead of growing with the subscriber's lag.
    """

    def __init__(self, source: PublishedTrack, *, max_queue: int, track_id: str) -> None:
        super().__init__()
        self.kind = source.kind
        self._id = track_id
        self.source = source
        self.stats = ForwardingStats()
        self._queue: deque[EncodedFrame] = deque()
        self._max_queue = max_queue
        self._ready = asyncio.Event()
        self._attached = False
        self._needs_keyframe = source.kind == "video"

    @property
    def attached(self) -> bool:
        return self._attached

    @property
    def queued(self) -> int:
        return len(self._queue)

    def attach(self) -> None:
        """Start receiving the source's frames (from its next keyframe for video)."""
        if self._attached:
            return
        self._attached = True
        self._needs_keyframe = self.kind == "video"
        self.source.add_sink(self)

    def detach(self) -> None:
        """Stop receiving at once and discard what is queued: after a subscription is revoked
        not a single further frame of the source may reach the subscriber."""
        self._attached = False
        self.source.remove_sink(self)
        self._queue.clear()

    def resync(self) -> None:
        """Drop the backlog and restart from a fresh keyframe (the sender was just enabled)."""
        if not self._attached:
            return
        self._queue.clear()
        if self.kind == "video":
            self._needs_keyframe = True
            self.source.request_keyframe()

    def request_keyframe(self) -> None:
        """The subscriber reported picture loss (PLI/FIR reached our sender)."""
        if self._attached:
            self.source.request_keyframe()

    # FrameSink
    def on_frame(self, frame: EncodedFrame) -> None:
        if not self._attached or self.readyState != "live":
            return
        if self._needs_keyframe:
            if not frame.keyframe:
                self.stats.skipped += 1
                return
            self._needs_keyframe = False
        if len(self._queue) >= self._max_queue:
            if self.kind == "video":
                self.stats.dropped += len(self._queue)
                self._queue.clear()
                if not frame.keyframe:
                    self.stats.dropped += 1
                    self._needs_keyframe = True
                    self.source.request_keyframe()
                    return
            else:
                self._queue.popleft()
                self.stats.dropped += 1
        self._queue.append(frame)
        self._ready.set()

    def on_end(self) -> None:
        # The publisher left; the sender stays parked in recv() until the room retires it.
        self._attached = False
        self._queue.clear()

    # MediaStreamTrack
    async def recv(self) -> av.Packet[Any]:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        if self.readyState != "live":
            raise MediaStreamError
        frame = self._queue.popleft()
        packet = av.Packet(frame.data)
        packet.pts = frame.rtp_timestamp
        packet.time_base = fractions.Fraction(1, frame.clock_rate)
        self.stats.forwarded += 1
        return packet

    def stop(self) -> None:
        self.detach()
        super().stop()
        self._ready.set()
