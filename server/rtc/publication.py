"""A track a participant publishes, and the fan-out of its encoded frames to FrameSinks."""

from __future__ import annotations

import fractions
import logging
import time
from dataclasses import dataclass

import av
from aiortc import RTCRtpReceiver
from aiortc.codecs import get_encoder
from aiortc.codecs.base import Encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from .aiortc_seam.receiver import ReceiverTap, TappedFrame
from .frame import EncodedFrame, FrameSink, MediaKind
from .keyframe_requests import KeyframeRequestLimiter
from .keyframes import is_keyframe

logger = logging.getLogger(__name__)

# Separates publisher id, kind and mid in a track id; a legal msid character (RFC 8830 token).
TRACK_ID_SEPARATOR = "~"


def published_track_id(publisher_id: str, kind: MediaKind, mid: str, incarnation: int = 1) -> str:
    """Id of a published track; subscribers see it as their remote track's id (msid).

    `incarnation` counts the publisher's peer connections in the room. A publisher who reloads
    or reconnects publishes on the same mids again, and the subscriber's retired (inactive)
    m-line of the old track keeps its msid: without the count the new m-line would repeat it,
    and Chromium rejects the whole offer ("Duplicate a=msid lines detected").
    """
    return TRACK_ID_SEPARATOR.join((publisher_id, kind, f"{incarnation}.{mid}"))


def publisher_of_track_id(track_id: str) -> str | None:
    """Publisher id encoded in a forwarded track's id, or None for a foreign id."""
    parts = track_id.rsplit(TRACK_ID_SEPARATOR, 2)
    return parts[0] if len(parts) == 3 else None


@dataclass(slots=True)
class PublicationStats:
    frames: int = 0
    keyframes: int = 0
    bytes: int = 0
    # Frames that arrived while muted and were forwarded to nobody.
    muted_frames: int = 0


class PublishedTrack:
    """One remote track the server receives; fans its encoded frames out, never decodes them.

    Subscribers' forwarding tracks, the recorder and the transcriber are all `FrameSink`s added
    with `add_sink`. While `muted`, nothing is delivered to any sink.
    """

    def __init__(
        self,
        *,
        publisher_id: str,
        kind: MediaKind,
        mid: str,
        codec: RTCRtpCodecParameters,
        receiver: RTCRtpReceiver,
        incarnation: int = 1,
        keyframe_interval_s: float = 0.5,
        max_bitrate_bps: int | None = None,
    ) -> None:
        self.publisher_id = publisher_id
        self.kind: MediaKind = kind
        self.mid = mid
        self.incarnation = incarnation
        self.id = published_track_id(publisher_id, kind, mid, incarnation)
        self.codec = codec
        self.stats = PublicationStats()
        self._sinks: list[FrameSink] = []
        self._muted = False
        self._ended = False
        self._tap = ReceiverTap(
            receiver,
            self._on_tapped_frame,
            self.end,
            max_bitrate_bps=max_bitrate_bps if kind == "video" else None,
        )
        self._keyframes = KeyframeRequestLimiter(self._tap.request_keyframe, keyframe_interval_s)
        self._packetizer: Encoder | None = None
        self._packetized: tuple[EncodedFrame, list[bytes]] | None = None

    def __repr__(self) -> str:
        return f"PublishedTrack({self.id!r}, {self.codec.mimeType})"

    @property
    def muted(self) -> bool:
        return self._muted

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def keyframe_requests_sent(self) -> int:
        """PLIs actually sent to the publisher (after rate limiting)."""
        return self._keyframes.sent

    @property
    def sinks(self) -> tuple[FrameSink, ...]:
        return tuple(self._sinks)

    def add_sink(self, sink: FrameSink) -> None:
        """Start delivering frames to `sink` (idempotent); video sinks get a keyframe soon."""
        if self._ended:
            sink.on_end()
            return
        if sink not in self._sinks:
            self._sinks.append(sink)
        if self.kind == "video":
            self.request_keyframe()

    def remove_sink(self, sink: FrameSink) -> None:
        """Stop delivering to `sink` immediately (idempotent); `on_end` is not called."""
        if sink in self._sinks:
            self._sinks.remove(sink)

    def set_muted(self, muted: bool) -> None:
        """Pause (True) or resume delivery to every sink; resuming video asks for a keyframe."""
        if self._muted == muted:
            return
        self._muted = muted
        if not muted and self.kind == "video":
            self.request_keyframe()

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, rate-limited per track."""
        if self.kind == "video" and not self._ended:
            self._keyframes.request()

    def payloads(self, frame: EncodedFrame) -> list[bytes]:
        """`frame` split into RTP payloads (codec payload descriptors included), computed once
        per frame however many subscribers forward it. aiortc's codec `pack()` does the split,
        without encoding; VP8 picture ids then run per publication, the same for everyone."""
        cached = self._packetized
        if cached is not None and cached[0] is frame:
            return cached[1]
        if self.kind == "audio" and self.codec.mimeType.lower() == "audio/opus":
            # An Opus frame is one RTP payload as it is (RFC 7587).
            self._packetized = (frame, [frame.data])
            return self._packetized[1]
        if self._packetizer is None:
            self._packetizer = get_encoder(self.codec)
        packet = av.Packet(frame.data)
        packet.pts = frame.rtp_timestamp
        packet.time_base = fractions.Fraction(1, frame.clock_rate)
        payloads, _ = self._packetizer.pack(packet)
        self._packetized = (frame, payloads)
        return payloads

    def end(self) -> None:
        """The publisher stopped or left: tell every sink once, then forget them."""
        if self._ended:
            return
        self._ended = True
        self._packetized = None
        self._keyframes.close()
        sinks, self._sinks = self._sinks, []
        for sink in sinks:
            try:
                sink.on_end()
            except Exception:
                logger.exception("sink %r failed in on_end", sink)

    def _on_tapped_frame(self, tapped: TappedFrame) -> None:
        if self._ended:
            return
        if tapped.codec.mimeType.lower() != self.codec.mimeType.lower():
            logger.warning("%s: publisher switched codec to %s", self.id, tapped.codec.mimeType)
            self.codec = tapped.codec
            self._packetizer = None
        frame = EncodedFrame(
            kind=self.kind,
            codec=tapped.codec.mimeType,
            data=tapped.data,
            rtp_timestamp=tapped.timestamp,
            clock_rate=tapped.codec.clockRate,
            keyframe=is_keyframe(tapped.codec.mimeType, tapped.data),
            wallclock=time.time(),
            audio_level=tapped.audio_level,
        )
        self.stats.frames += 1
        self.stats.bytes += len(frame.data)
        if frame.keyframe and self.kind == "video":
            self.stats.keyframes += 1
        if self._muted:
            self.stats.muted_frames += 1
            return
        for sink in tuple(self._sinks):
            try:
                sink.on_frame(frame)
            except Exception:
                # One broken tap (say, a recorder) must not starve the others.
                logger.exception("sink %r failed in on_frame", sink)
