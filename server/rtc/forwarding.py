"""One published track forwarded to one subscriber: the FrameSink on the publication that sends
each encoded frame on the subscriber's RTP sender as it arrives, without decoding."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .frame import EncodedFrame
from .publication import PublishedTrack


class FrameSender(Protocol):
    """Where a forwarded frame's RTP payloads go (`PacketSender` on a real peer connection)."""

    @property
    def started(self) -> bool:
        """Negotiated and connected: frames sent now reach the subscriber."""

    def send_frame(self, payloads: list[bytes], timestamp: int, audio_level: int | None) -> bool:
        """Send the payloads of one frame now; False when they could not go out."""


@dataclass(slots=True)
class ForwardingStats:
    forwarded: int = 0
    # Frames that could not be sent (transport not connected).
    dropped: int = 0
    # Frames not sent while the sender was not started yet, or, for video, inter frames skipped
    # while waiting for a keyframe (start, resume, after a failed send).
    skipped: int = 0


class ForwardingTrack(MediaStreamTrack):
    """Per (subscriber, published track) forwarder; also the `FrameSink` on the publication.

    Frames are sent synchronously as the publication delivers them, so nothing queues per
    subscriber and memory stays flat. Video starts, and restarts after any gap, at a keyframe
    (asked for from the publisher). For aiortc this is the track of the subscriber's
    send-only transceiver; its `recv()` never yields, since packets bypass aiortc's RTP task.
    """

    def __init__(self, source: PublishedTrack, *, track_id: str) -> None:
        super().__init__()
        self.kind = source.kind
        self._id = track_id
        self.source = source
        self.stats = ForwardingStats()
        self._sender: FrameSender | None = None
        self._attached = False
        self._needs_keyframe = source.kind == "video"
        # Set while the subscriber has not yet accepted the offer that announces this track
        # (a reused m-line): its frames would arrive on a stream it does not know.
        self._held = False
        self._stopped = asyncio.Event()

    @property
    def attached(self) -> bool:
        return self._attached

    def bind(self, sender: FrameSender) -> None:
        """Send through `sender` from now on."""
        self._sender = sender

    def attach(self) -> None:
        """Start receiving the source's frames (from its next keyframe for video)."""
        if self._attached:
            return
        self._attached = True
        self._needs_keyframe = self.kind == "video"
        self.source.add_sink(self)

    def detach(self) -> None:
        """Stop at once: after a subscription is revoked not a single further frame of the
        source may reach the subscriber."""
        self._attached = False
        self.source.remove_sink(self)

    @property
    def held(self) -> bool:
        return self._held

    def retarget(self, source: PublishedTrack, *, track_id: str) -> None:
        """Forward another published track of the same kind from now on (a reused m-line).

        Detached, and held until `release()`: nothing of the new source goes out before the
        subscriber has accepted the offer that announces it.
        """
        if source.kind != self.kind:
            raise ValueError(f"cannot forward {source.kind} on a {self.kind} track")
        self.detach()
        self.source = source
        self._id = track_id
        self.stats = ForwardingStats()
        self._held = True

    def release(self) -> None:
        """The subscriber accepted the offer announcing this track: frames may go out."""
        if self._held:
            self._held = False
            self.resync()

    def resync(self) -> None:
        """Restart from a fresh keyframe (the sender was just started or enabled)."""
        if not self._attached:
            return
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
        if self._held:
            self.stats.skipped += 1
            return
        sender = self._sender
        if sender is None or not sender.started:
            self.stats.skipped += 1
            self._needs_keyframe = self.kind == "video"
            return
        if self._needs_keyframe:
            if not frame.keyframe:
                self.stats.skipped += 1
                return
            self._needs_keyframe = False
        if sender.send_frame(self.source.payloads(frame), frame.rtp_timestamp, frame.audio_level):
            self.stats.forwarded += 1
            return
        self.stats.dropped += 1
        if self.kind == "video":
            # The decoder lost a frame: continue from the next keyframe, not into garbage.
            self._needs_keyframe = True
            self.source.request_keyframe()

    def on_end(self) -> None:
        # The publisher left; the sender stays parked in recv() until the room retires it.
        self._attached = False

    # MediaStreamTrack
    async def recv(self) -> Any:
        # aiortc's RTP task waits here for good: PacketSender sends the frames.
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        self.detach()
        super().stop()
        self._stopped.set()
