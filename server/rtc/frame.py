"""The unit that moves through the SFU: one complete encoded media frame.

The forwarder, the recorder and the transcriber all consume the same objects, taken at the
receiver's jitter buffer before any decoder would run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

MediaKind = Literal["audio", "video"]


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    kind: MediaKind
    # MIME type as negotiated, e.g. "video/VP8", "video/H264", "audio/opus".
    codec: str
    data: bytes
    # RTP timestamp of the frame (unwrapped, monotonic within one track), in clock_rate units.
    rtp_timestamp: int
    clock_rate: int
    keyframe: bool
    # time.time() when the frame was complete at the server; taps use it for wall-clock alignment.
    wallclock: float
    # RFC 6464 audio level in -dBov (0 loudest .. 127 silence), audio only, when the sender set it.
    audio_level: int | None = None


class FrameSink(Protocol):
    """Anything that taps a published track: a subscriber's forwarding track, a recorder, ASR."""

    def on_frame(self, frame: EncodedFrame) -> None:
        """Called on the event loop for every frame; must be cheap and never block."""

    def on_end(self) -> None:
        """The published track ended (publisher left, track stopped)."""
