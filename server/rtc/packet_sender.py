"""Sends a forwarded track's encoded frames as RTP on one subscriber's `RTCRtpSender`.

aiortc's sender pulls one frame per `recv()` in a task of its own, then builds, serializes and
sends each packet through three awaited coroutines. For a forwarder that is the bulk of the
cost of a subscriber, paid per packet. `PacketSender` does the same job synchronously, on the
call that delivers the frame: the payloads are packetized once per frame for every subscriber
(`PublishedTrack.payloads`), each packet is one header `struct.pack`, and SRTP plus `sendto`
happen in place. The sender's RTCP (SR, NACK → retransmission, PLI → keyframe request) keeps
working through the seam.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from aiortc import RTCRtpSender
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters

from .aiortc_seam.sender import (
    intercept_retransmissions,
    on_sender_started,
    renew_sender_ssrcs,
    report_sent,
    sender_ssrcs,
)
from .aiortc_seam.transport import RtpRoute, count_sent, rtp_route, send_rtp
from .rtp_writer import (
    HeaderExtensionIds,
    RtpWriter,
    abs_send_time,
    ntp_time,
    rtx_packet,
)
from .rtp_writer import sequence_number as rtp_sequence_number

logger = logging.getLogger(__name__)

# Packets kept for retransmission (NACK); ~0.5 s of 640x480 video, as aiortc keeps.
HISTORY_SIZE = 128


class PacketSender:
    """Direct RTP sending for one `RTCRtpSender` whose track yields nothing itself."""

    def __init__(self, sender: RTCRtpSender, *, on_start: Callable[[], None] | None = None) -> None:
        self._sender = sender
        self._on_start = on_start
        self._writer: RtpWriter | None = None
        self._route: RtpRoute | None = None
        self._codec: RTCRtpCodecParameters | None = None
        self._rtx_payload_type: int | None = None
        self._rtx_sequence_number = random.getrandbits(16)
        self._timestamp_origin = random.getrandbits(32)
        self._history: list[bytes | None] = [None] * HISTORY_SIZE
        self._packets = 0
        self._octets = 0
        self.retransmitted = 0
        self.send_errors = 0
        on_sender_started(sender, self._started)
        intercept_retransmissions(sender, self._retransmit)

    @property
    def started(self) -> bool:
        """aiortc started the sender (negotiated and connected): frames can go out."""
        return self._writer is not None

    @property
    def codec(self) -> RTCRtpCodecParameters | None:
        """The codec negotiated for this sender (the subscriber will decode it)."""
        return self._codec

    @property
    def packets_sent(self) -> int:
        return self._packets

    def _started(self, parameters: RTCRtpSendParameters) -> None:
        codecs = [c for c in parameters.codecs if not is_rtx(c)]
        payload_type = codecs[0].payloadType if codecs else None
        if payload_type is None:
            logger.error("sender started without a media codec: %s", parameters.codecs)
            return
        codec = codecs[0]
        self._rtx_payload_type = next(
            (
                c.payloadType
                for c in parameters.codecs
                if is_rtx(c) and str(c.parameters.get("apt")) == str(codec.payloadType)
            ),
            None,
        )
        ssrc, _ = sender_ssrcs(self._sender)
        ids = HeaderExtensionIds.from_uris((e.uri, e.id) for e in parameters.headerExtensions)
        self._codec = codec
        self._writer = RtpWriter(
            ssrc=ssrc,
            payload_type=payload_type,
            mid=parameters.muxId or None,
            ids=ids,
            first_sequence_number=random.getrandbits(16),
        )
        if self._on_start is not None:
            self._on_start()

    def new_stream(self) -> None:
        """Send from now on as a new RTP stream (new SSRCs, sequence and timestamp origin).

        For an m-line reused by another forwarded track: the subscriber must not see the new
        track's frames as the continuation of the old one (its jitter buffer and decoder would
        take the jump in picture ids and timestamps for loss or reordering).
        """
        ssrc, _ = renew_sender_ssrcs(self._sender)
        self._timestamp_origin = random.getrandbits(32)
        self._history = [None] * HISTORY_SIZE
        self._packets = 0
        self._octets = 0
        writer = self._writer
        if writer is not None:
            self._writer = writer.for_stream(ssrc, first_sequence_number=random.getrandbits(16))

    def send_frame(self, payloads: list[bytes], timestamp: int, audio_level: int | None) -> bool:
        """Send one frame's RTP payloads now; False when it could not go out (not started,
        transport not connected). `timestamp` is the track's own RTP timestamp."""
        writer = self._writer
        if writer is None or not payloads:
            return False
        route = self._route
        if route is None or not route.connected:
            route = self._route = rtp_route(self._sender.transport)
            if route is None:
                self.send_errors += 1
                return False
        rtp_timestamp = (self._timestamp_origin + timestamp) & 0xFFFFFFFF
        extensions = writer.extension_block(send_time=abs_send_time(), audio_level=audio_level)
        packets = writer.packets(payloads, rtp_timestamp, extensions)
        wire_bytes = route.send(packets)
        count_sent(self._sender.transport, packets=len(packets), octets=wire_bytes)
        history = self._history
        for packet in packets:
            history[rtp_sequence_number(packet) % HISTORY_SIZE] = packet
        self._packets += len(payloads)
        self._octets += sum(len(p) for p in payloads)
        report_sent(
            self._sender,
            ntp_timestamp=ntp_time(),
            rtp_timestamp=rtp_timestamp,
            packets=self._packets & 0xFFFFFFFF,
            octets=self._octets & 0xFFFFFFFF,
        )
        return True

    async def _retransmit(self, sequence_number: int) -> None:
        packet = self._history[sequence_number % HISTORY_SIZE]
        if packet is None or rtp_sequence_number(packet) != sequence_number:
            return
        if self._rtx_payload_type is not None:
            _, rtx_ssrc = sender_ssrcs(self._sender)
            packet = rtx_packet(
                packet,
                payload_type=self._rtx_payload_type,
                sequence_number=self._rtx_sequence_number,
                ssrc=rtx_ssrc,
            )
            self._rtx_sequence_number = (self._rtx_sequence_number + 1) & 0xFFFF
        try:
            await send_rtp(self._sender.transport, packet)
        except ConnectionError:
            return
        self.retransmitted += 1
