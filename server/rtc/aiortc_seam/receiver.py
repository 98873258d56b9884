"""Receiver seams (1-3): complete encoded frames straight out of aiortc's jitter buffer.

`ReceiverTap` replaces `RTCRtpReceiver.__decoder_queue` before the decoder thread starts (so no
decoder is ever created), wraps `__jitter_buffer` to keep the RFC 6464 audio level and SSRC the
frame loses, asks the publisher for keyframes through `_send_rtcp_pli` and caps the REMB by
wrapping `__remote_bitrate_estimator`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from .pin import (
    RECEIVER_BITRATE_ESTIMATOR,
    RECEIVER_DECODER_QUEUE,
    RECEIVER_DECODER_THREAD,
    RECEIVER_JITTER_BUFFER,
    RECEIVER_SEND_PLI,
    RECEIVER_STARTED,
    AiortcSeamError,
    check_aiortc_compatibility,
)


@dataclass(frozen=True, slots=True)
class TappedFrame:
    """A complete encoded frame as the receiver's jitter buffer produced it."""

    codec: RTCRtpCodecParameters
    data: bytes
    # Mapped by aiortc so that each track starts at 0 and never wraps.
    timestamp: int
    audio_level: int | None


class _AnnotatedJitterFrame(JitterFrame):
    def __init__(self, data: bytes, timestamp: int, audio_level: int | None) -> None:
        super().__init__(data=data, timestamp=timestamp)
        self.audio_level = audio_level


class _JitterBufferTap:
    """Wraps aiortc's JitterBuffer to remember packet-level facts the reassembled frame drops."""

    _MAX_REMEMBERED = 64

    def __init__(self, inner: JitterBuffer) -> None:
        self._inner = inner
        self._levels: dict[int, int] = {}
        self.media_ssrc: int | None = None

    @property
    def capacity(self) -> int:
        return self._inner.capacity

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        self.media_ssrc = packet.ssrc
        level = packet.extensions.audio_level
        if level is not None:
            # (voice activity flag, level in -dBov): the frame takes its packet's level.
            self._levels[packet.timestamp] = int(level[1])
            if len(self._levels) > self._MAX_REMEMBERED:
                del self._levels[next(iter(self._levels))]
        pli, frame = self._inner.add(packet)
        if frame is None:
            return pli, None
        return pli, _AnnotatedJitterFrame(
            frame.data, frame.timestamp, self._levels.pop(frame.timestamp, None)
        )


class _DecoderQueueStandIn:
    """Takes the place of the `queue.Queue` between aiortc's receiver and its decoder thread."""

    def __init__(self, on_frame: Callable[[TappedFrame], None], on_end: Callable[[], None]) -> None:
        self._on_frame = on_frame
        self._on_end = on_end
        self._ended = False

    def get(self, *args: object, **kwargs: object) -> None:
        # Runs in the decoder thread: answering "end of stream" makes it exit before it creates
        # a decoder, so the tapped receiver never decodes.
        return None

    def put(self, item: tuple[RTCRtpCodecParameters, JitterFrame] | None) -> None:
        if item is None:
            if not self._ended:
                self._ended = True
                self._on_end()
            return
        if self._ended:
            return
        codec, frame = item
        self._on_frame(
            TappedFrame(
                codec=codec,
                data=frame.data,
                timestamp=frame.timestamp,
                audio_level=getattr(frame, "audio_level", None),
            )
        )


class _CappedBitrateEstimator:
    """Caps the REMB the server's receiver sends, so publishers stay under a room limit."""

    def __init__(self, inner: Any, max_bitrate_bps: int) -> None:
        self._inner = inner
        self._max = max_bitrate_bps

    def add(
        self, arrival_time_ms: int, abs_send_time: int, payload_size: int, ssrc: int
    ) -> tuple[int, list[int]] | None:
        remb: tuple[int, list[int]] | None = self._inner.add(
            arrival_time_ms=arrival_time_ms,
            abs_send_time=abs_send_time,
            payload_size=payload_size,
            ssrc=ssrc,
        )
        if remb is None:
            return None
        return min(remb[0], self._max), remb[1]


class ReceiverTap:
    """Delivers a receiver's complete encoded frames to a callback; its decoder never runs.

    Install it synchronously from the peer connection's ``track`` event: that is after aiortc
    creates the receiver and before ``receive()`` would start the decoder thread.
    """

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        on_frame: Callable[[TappedFrame], None],
        on_end: Callable[[], None],
        *,
        max_bitrate_bps: int | None = None,
    ) -> None:
        check_aiortc_compatibility()
        for name in (RECEIVER_DECODER_QUEUE, RECEIVER_JITTER_BUFFER, RECEIVER_STARTED):
            if not hasattr(receiver, name):
                raise AiortcSeamError(f"RTCRtpReceiver has no {name}")
        if getattr(receiver, RECEIVER_STARTED):
            raise AiortcSeamError("receiver already started: its decoder thread is running")
        self._receiver = receiver
        self._jitter = _JitterBufferTap(getattr(receiver, RECEIVER_JITTER_BUFFER))
        setattr(receiver, RECEIVER_JITTER_BUFFER, self._jitter)
        setattr(receiver, RECEIVER_DECODER_QUEUE, _DecoderQueueStandIn(on_frame, on_end))
        estimator = getattr(receiver, RECEIVER_BITRATE_ESTIMATOR, None)
        if max_bitrate_bps is not None and estimator is not None:
            setattr(
                receiver,
                RECEIVER_BITRATE_ESTIMATOR,
                _CappedBitrateEstimator(estimator, max_bitrate_bps),
            )
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def media_ssrc(self) -> int | None:
        """SSRC of the media last received, or None before the first packet."""
        return self._jitter.media_ssrc

    def request_keyframe(self) -> bool:
        """Send an RTCP PLI to the publisher; False when no media has arrived yet."""
        ssrc = self._jitter.media_ssrc
        if ssrc is None:
            return False
        send_pli = getattr(self._receiver, RECEIVER_SEND_PLI)
        task: asyncio.Task[None] = asyncio.ensure_future(send_pli(ssrc))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return True


def decoder_thread_alive(receiver: RTCRtpReceiver) -> bool:
    """Whether the receiver's decoder thread runs (for seam tests: it must not, when tapped)."""
    thread = getattr(receiver, RECEIVER_DECODER_THREAD, None)
    is_alive = getattr(thread, "is_alive", None)
    return bool(is_alive()) if callable(is_alive) else False
