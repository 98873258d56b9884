"""The one place that reaches into aiortc's private internals.

aiortc has no SFU mode. Its receiver reassembles complete encoded frames in a jitter buffer and
hands them to a decoder thread through a `queue.Queue`; its sender packetizes `av.Packet`s without
encoding. We use four private seams, all pinned to aiortc 1.16.0 and covered by
`tests/rtc/test_seam.py`, which fails loudly when an upgrade moves them:

1. `RTCRtpReceiver.__decoder_queue` is replaced *before* `receive()` starts the decoder thread, by
   a stand-in whose `get()` ends that thread at once (no decoder is ever created) and whose
   `put()` hands each complete frame to us on the event loop.
2. `RTCRtpReceiver.__jitter_buffer` is wrapped to keep per-packet facts the frame loses (RFC 6464
   audio level, SSRC).
3. `RTCRtpReceiver._send_rtcp_pli()` asks the publisher for a keyframe;
   `__remote_bitrate_estimator` is wrapped to cap the REMB we send (room bitrate limit).
4. `RTCRtpSender._send_keyframe()` is shadowed per instance, so a subscriber's PLI/FIR reaches
   us instead of a (non-existent) encoder; `RTCRtpSender._stream_id` names the msid stream.
5. `aiortc.rtcpeerconnection.HEADER_EXTENSIONS` and `.CODECS` (the tables `createOffer` resets
   every transceiver's header extensions and codecs from) are wrapped so that the server's
   renegotiation offers keep the extension ids and payload types the client chose in its first
   offer. aiortc re-offers with its own defaults; a browser that negotiated others (Chromium:
   mid is extension 4, Opus is payload type 111) then switches to them, while aiortc's started
   receivers stay registered under the old payload types and drop every packet.
6. Direct sending (`PacketSender`): `RTCRtpSender.send` is wrapped per instance to learn the
   negotiated parameters when aiortc starts the sender; forwarded packets are then protected
   with `RTCDtlsTransport._tx_srtp` and written to the socket of the ICE pair aioice nominated
   (`Connection._nominated`), which is what `RTCDtlsTransport._send_rtp` does through three
   coroutines; the transport's tx counters are kept. Incoming SRTP media is taken the same way
   from the nominated pair's `StunProtocol.datagram_received` and run through
   `RTCDtlsTransport._handle_rtp_data` in place (`receive_rtp_inline`). `RTCRtpSender._retransmit` is shadowed to answer NACKs from our own packet history, and the
   sender's private SR counters are kept up to date so its RTCP sender reports stay true.
   aiortc's own per-frame RTP task still runs, parked in the track's `recv()`.
7. Reusing a send-only m-line (aiortc cannot remove one): `RTCRtpSender._ssrc`/`_rtx_ssrc` are
   renewed and the sender re-registered with its transport's `_rtp_router`, so the next offer
   announces a new RTP stream on the old m-line and the subscriber's RTCP reaches the sender.

Nothing else in `server.rtc` may touch a name starting with an underscore on an aiortc object.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import importlib.metadata
import logging
import random
import re
import socket
import struct
import sys
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol

import aiortc.rtcpeerconnection as _aiortc_pc
import pylibsrtp
from aiortc import (
    RTCDtlsTransport,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.codecs import is_rtx
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcpeerconnection import is_codec_compatible as _is_codec_compatible
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import RtpPacket, is_rtcp

from .rtp_writer import ntp_milliseconds

logger = logging.getLogger(__name__)

SUPPORTED_AIORTC_VERSION: Final = "1.16.0"

# Name-mangled private attributes of RTCRtpReceiver that the tap replaces.
RECEIVER_DECODER_QUEUE: Final = "_RTCRtpReceiver__decoder_queue"
RECEIVER_DECODER_THREAD: Final = "_RTCRtpReceiver__decoder_thread"
RECEIVER_JITTER_BUFFER: Final = "_RTCRtpReceiver__jitter_buffer"
RECEIVER_BITRATE_ESTIMATOR: Final = "_RTCRtpReceiver__remote_bitrate_estimator"
RECEIVER_STARTED: Final = "_RTCRtpReceiver__started"
# Private methods the seam calls or shadows.
RECEIVER_SEND_PLI: Final = "_send_rtcp_pli"
SENDER_SEND_KEYFRAME: Final = "_send_keyframe"
SENDER_STREAM_ID: Final = "_stream_id"
SENDER_STARTED: Final = "_RTCRtpSender__started"
SENDER_RETRANSMIT: Final = "_retransmit"
SENDER_SSRC: Final = "_ssrc"
SENDER_RTX_SSRC: Final = "_rtx_ssrc"
# What RTCRtpSender._run_rtcp puts into its sender reports.
SENDER_REPORT_COUNTERS: Final = (
    "_RTCRtpSender__ntp_timestamp",
    "_RTCRtpSender__rtp_timestamp",
    "_RTCRtpSender__packet_count",
    "_RTCRtpSender__octet_count",
)
DTLS_RTP_ROUTER: Final = "_rtp_router"
DTLS_SEND_RTP: Final = "_send_rtp"
DTLS_TX_SRTP: Final = "_tx_srtp"
DTLS_TX_PACKETS: Final = "_RTCDtlsTransport__tx_packets"
DTLS_TX_BYTES: Final = "_RTCDtlsTransport__tx_bytes"
DTLS_RX_SRTP: Final = "_rx_srtp"
DTLS_RX_PACKETS: Final = "_RTCDtlsTransport__rx_packets"
DTLS_RX_BYTES: Final = "_RTCDtlsTransport__rx_bytes"
DTLS_HANDLE_RTP: Final = "_handle_rtp_data"
ICE_CONNECTION: Final = "_connection"
ICE_NOMINATED: Final = "_nominated"
TRANSCEIVER_CODECS: Final = "_codecs"


class AiortcSeamError(RuntimeError):
    """aiortc no longer has the internals this module relies on; re-check the seam."""


def installed_aiortc_version() -> str:
    return importlib.metadata.version("aiortc")


def check_aiortc_compatibility() -> None:
    """Raise `AiortcSeamError` unless the installed aiortc is the one the seam was built on."""
    version = installed_aiortc_version()
    if version != SUPPORTED_AIORTC_VERSION:
        raise AiortcSeamError(
            f"aiortc {version} installed, the SFU seam was verified against "
            f"{SUPPORTED_AIORTC_VERSION}: run tests/rtc/test_seam.py and update aiortc_seam.py"
        )
    for cls, name in (
        (RTCRtpReceiver, RECEIVER_SEND_PLI),
        (RTCRtpReceiver, "_handle_rtp_packet"),
        (RTCRtpSender, SENDER_SEND_KEYFRAME),
        (RTCRtpSender, "_handle_rtcp_packet"),
        (RTCRtpSender, SENDER_RETRANSMIT),
        (RTCDtlsTransport, DTLS_SEND_RTP),
        (JitterBuffer, "add"),
    ):
        if not callable(getattr(cls, name, None)):
            raise AiortcSeamError(f"{cls.__name__}.{name} is gone")


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


def intercept_keyframe_requests(sender: RTCRtpSender, on_request: Callable[[], None]) -> None:
    """Route PLI/FIR that a subscriber sends to `sender` to `on_request`.

    aiortc's sender answers PLI/FIR by flagging its encoder; a forwarding sender has no encoder,
    so the request has to go upstream to the publisher instead.
    """
    if not callable(getattr(sender, SENDER_SEND_KEYFRAME, None)):
        raise AiortcSeamError("RTCRtpSender._send_keyframe is gone")
    setattr(sender, SENDER_SEND_KEYFRAME, on_request)


def set_sender_stream_id(sender: RTCRtpSender, stream_id: str) -> None:
    """Set the msid stream id the sender announces (aiortc uses one per peer connection)."""
    if not hasattr(sender, SENDER_STREAM_ID):
        raise AiortcSeamError("RTCRtpSender._stream_id is gone")
    setattr(sender, SENDER_STREAM_ID, stream_id)


# ---- direct sending (seam 6) ----------------------------------------------------------------


def on_sender_started(
    sender: RTCRtpSender, callback: Callable[[RTCRtpSendParameters], None]
) -> None:
    """Call `callback` with the negotiated send parameters when aiortc starts `sender` (once)."""
    if not hasattr(sender, SENDER_STARTED):
        raise AiortcSeamError("RTCRtpSender.__started is gone")
    original = sender.send

    async def send(parameters: RTCRtpSendParameters) -> None:
        was_started = bool(getattr(sender, SENDER_STARTED))
        await original(parameters)
        if not was_started and getattr(sender, SENDER_STARTED):
            callback(parameters)

    setattr(sender, "send", send)  # noqa: B010


def sender_ssrcs(sender: RTCRtpSender) -> tuple[int, int]:
    """(media SSRC, RTX SSRC) the sender announces in SDP."""
    ssrc, rtx = getattr(sender, SENDER_SSRC, None), getattr(sender, SENDER_RTX_SSRC, None)
    if not isinstance(ssrc, int) or not isinstance(rtx, int):
        raise AiortcSeamError("RTCRtpSender._ssrc/_rtx_ssrc are gone")
    return ssrc, rtx


def renew_sender_ssrcs(sender: RTCRtpSender) -> tuple[int, int]:
    """Give `sender` a new (media, RTX) SSRC pair; returns it.

    The m-line stays, the RTP stream on it is new: the subscriber starts a fresh receive stream
    (decoder, jitter buffer) as it would for a new m-line. A started sender is re-registered
    under the new SSRC so PLI, NACK and receiver reports for it keep reaching us.
    """
    old = sender_ssrcs(sender)
    used = set(old)
    ssrc = rtx = 0
    while ssrc in used or rtx in used or ssrc == rtx or 0 in (ssrc, rtx):
        ssrc, rtx = random.getrandbits(32), random.getrandbits(32)
    setattr(sender, SENDER_SSRC, ssrc)
    setattr(sender, SENDER_RTX_SSRC, rtx)
    if getattr(sender, SENDER_STARTED):
        router = getattr(sender.transport, DTLS_RTP_ROUTER, None)
        if router is None or not callable(getattr(router, "register_sender", None)):
            raise AiortcSeamError("RTCDtlsTransport._rtp_router.register_sender is gone")
        router.unregister_sender(sender)
        router.register_sender(sender, ssrc=ssrc)
    return ssrc, rtx


def intercept_retransmissions(
    sender: RTCRtpSender, retransmit: Callable[[int], Awaitable[None]]
) -> None:
    """Answer the subscriber's NACKs (one call per lost sequence number) with `retransmit`."""
    if not callable(getattr(sender, SENDER_RETRANSMIT, None)):
        raise AiortcSeamError("RTCRtpSender._retransmit is gone")
    setattr(sender, SENDER_RETRANSMIT, retransmit)


def report_sent(
    sender: RTCRtpSender, *, ntp_timestamp: int, rtp_timestamp: int, packets: int, octets: int
) -> None:
    """Keep the sender's RTCP SR (and getStats) true for packets sent around its RTP task."""
    values = (ntp_timestamp, rtp_timestamp, packets, octets)
    for name, value in zip(SENDER_REPORT_COUNTERS, values, strict=True):
        setattr(sender, name, value)


# Linux UDP generic segmentation offload (UDP_SEGMENT, since 4.18): one sendmsg carries equal
# sized datagrams, the kernel (or the NIC) splits them. At most 64 segments and 64 KiB.
UDP_SEGMENT: Final = 103
GSO_MAX_SEGMENTS: Final = 40
_GSO_SIZE: Final = struct.Struct("=H")


class _DatagramTransport(Protocol):
    """What an asyncio datagram transport offers (aioice's sockets; get_write_buffer_size is
    implemented by the selector loop's transport, not declared by DatagramTransport)."""

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None: ...
    def get_extra_info(self, name: str) -> Any: ...
    # Only asyncio's own datagram transports have these (not aioice's TurnTransport); they
    # are called only when the route has a socket of its own, i.e. not through TURN.
    def is_closing(self) -> bool: ...
    def get_write_buffer_size(self) -> int: ...


class RtpRoute:
    """Where a connected transport's RTP goes: its SRTP session and the datagram socket of the
    ICE pair it nominated. Valid while the DTLS transport stays connected; one per transport.

    `send` does what `RTCDtlsTransport._send_rtp` does through three awaited coroutines (SRTP
    protect, aioice `sendto`, the datagram transport), without the coroutines. A frame's
    packets all go to one address and all but the last have the same size (the packetizer
    splits at a fixed MTU), so on Linux they leave in one `sendmsg` with UDP_SEGMENT instead
    of one syscall each; the receiver still gets ordinary datagrams.
    """

    __slots__ = (
        "__weakref__",
        "_address",
        "_datagram",
        "_dtls",
        "_protect",
        "_sendto",
        "_socket",
    )

    def __init__(
        self,
        dtls: RTCDtlsTransport,
        protect: Callable[[bytes], bytes],
        datagram: _DatagramTransport,
        address: tuple[str, int],
        gso_socket: socket.socket | None,
    ) -> None:
        self._dtls = dtls
        self._protect = protect
        self._datagram = datagram
        self._sendto = datagram.sendto
        self._address = address
        self._socket = gso_socket

    @property
    def connected(self) -> bool:
        if self._socket is not None:
            # A socket of our own: aiortc closes the ICE transport (and it) when DTLS ends.
            return not self._datagram.is_closing()
        # A TURN-relayed pair's transport (aioice TurnTransport) has no is_closing().
        return self._dtls.state == "connected"

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def send(self, packets: list[bytes]) -> int:
        """Protect and send packets in place; returns the bytes put on the wire."""
        protect = self._protect
        data = [protect(packet) for packet in packets]
        sent = 0
        start = 0
        # Datagrams the transport queued (socket buffer was full) must leave first.
        if (self._socket is not None and len(data) > 1
                and not self._datagram.get_write_buffer_size()):
            sent, start = self._send_segmented(data)
        sendto, address = self._sendto, self._address
        for datagram in data[start:]:
            sendto(datagram, address)
            sent += len(datagram)
        return sent

    def _send_segmented(self, data: list[bytes]) -> tuple[int, int]:
        """Send runs of equal-sized datagrams (the last of a run may be shorter) with GSO;
        returns (bytes sent, index of the first datagram not sent)."""
        sock = self._socket
        assert sock is not None
        sent = index = 0
        while index < len(data) - 1:
            size = len(data[index])
            end = index + 1
            while (end < len(data) and end - index < GSO_MAX_SEGMENTS
                   and len(data[end]) == size):
                end += 1
            if end < len(data) and end - index < GSO_MAX_SEGMENTS and len(data[end]) < size:
                end += 1  # a shorter last segment is allowed
            if end - index < 2:
                break
            buffer = b"".join(data[index:end])
            try:
                sock.sendmsg([buffer], [(socket.SOL_UDP, UDP_SEGMENT, _GSO_SIZE.pack(size))],
                               0, self._address)
            except BlockingIOError:
                break  # the datagram transport queues the rest
            except OSError as exc:
                # No GSO here (old kernel, a device without it): plain datagrams from now on.
                logger.info("UDP GSO unavailable (%s); sending datagrams one by one", exc)
                self.close()
                break
            sent += len(buffer)
            index = end
        return sent, index


_ROUTES: weakref.WeakKeyDictionary[RTCDtlsTransport, RtpRoute] = weakref.WeakKeyDictionary()


def _gso_socket(datagram: _DatagramTransport) -> socket.socket | None:
    if sys.platform != "linux":
        return None
    info = datagram.get_extra_info("socket")
    # A TURN-relayed pair has no socket of its own: its datagrams are wrapped for the relay.
    if info is None or getattr(info, "type", None) != socket.SOCK_DGRAM:
        return None
    sock: socket.socket = info.dup()
    weakref.finalize(sock, sock.close)
    return sock


def nominated_pair(dtls: RTCDtlsTransport) -> Any:
    """The aioice `CandidatePair` ICE nominated for `dtls` (component 1), or None yet."""
    nominated = getattr(getattr(dtls.transport, ICE_CONNECTION, None), ICE_NOMINATED, None)
    if not isinstance(nominated, dict):
        raise AiortcSeamError("aioice Connection._nominated is gone")
    return nominated.get(1)


def rtp_route(dtls: RTCDtlsTransport) -> RtpRoute | None:
    """The direct route for `dtls`'s RTP (shared by its senders), None while not connected."""
    route = _ROUTES.get(dtls)
    if route is not None:
        if route.connected:
            return route
        route.close()
        del _ROUTES[dtls]
    if dtls.state != "connected":
        return None
    srtp = getattr(dtls, DTLS_TX_SRTP, None)
    if srtp is None:
        raise AiortcSeamError("RTCDtlsTransport._tx_srtp is gone")
    pair = nominated_pair(dtls)
    if pair is None:
        return None
    datagram = pair.protocol.transport
    route = RtpRoute(dtls, srtp.protect, datagram, pair.remote_addr, _gso_socket(datagram))
    _ROUTES[dtls] = route
    return route


class _InlineRtpReceiver:
    """Takes SRTP media packets straight from the socket callback to aiortc's RTP handling.

    aioice first tries every datagram as STUN, then queues it for the DTLS transport's task,
    which wakes, unprotects and awaits `_handle_rtp_data`. For media that is a parse attempt,
    a queue, a future and a task step per packet. `_handle_rtp_data` (parse, route, receiver:
    statistics, NACK, REMB, jitter buffer, our frame tap) never suspends, so it is run to
    completion right in the callback. DTLS, RTCP and STUN keep aioice's path.
    """

    def __init__(self, dtls: RTCDtlsTransport, protocol: Any) -> None:
        self._dtls = dtls
        self._protocol = protocol
        self._fallback: Callable[[bytes, tuple[Any, ...]], None] = protocol.datagram_received
        self._handle = getattr(dtls, DTLS_HANDLE_RTP)
        self.packets = 0
        protocol.datagram_received = self.datagram_received

    def uninstall(self) -> None:
        if self._protocol.datagram_received == self.datagram_received:
            self._protocol.datagram_received = self._fallback

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        srtp = getattr(self._dtls, DTLS_RX_SRTP)
        if not (srtp is not None and len(data) > 12 and 127 < data[0] < 192
                and not is_rtcp(data)):
            self._fallback(data, addr)
            return
        arrival_ms = ntp_milliseconds()
        try:
            plain = srtp.unprotect(data)
        except pylibsrtp.Error:
            return
        self.packets += 1
        _add_to_counters(self._dtls, (DTLS_RX_PACKETS, 1), (DTLS_RX_BYTES, len(data)))
        coroutine = self._handle(plain, arrival_time_ms=arrival_ms)
        try:
            coroutine.send(None)
        except StopIteration:
            return
        except Exception:
            logger.exception("inline RTP handling failed")
            return
        coroutine.close()
        logger.error("RTCDtlsTransport._handle_rtp_data suspended: inline receiving disabled")
        self.uninstall()


def receive_rtp_inline(dtls: RTCDtlsTransport) -> bool:
    """Handle `dtls`'s incoming media packets in the socket callback (see `_InlineRtpReceiver`).
    Call once DTLS is connected; False when there is nothing to install on yet."""
    if dtls.state != "connected":
        return False
    if not hasattr(dtls, DTLS_RX_SRTP):
        raise AiortcSeamError("RTCDtlsTransport._rx_srtp is gone")
    pair = nominated_pair(dtls)
    if pair is None:
        return False
    current = pair.protocol.datagram_received
    if isinstance(getattr(current, "__self__", None), _InlineRtpReceiver):
        return True
    _InlineRtpReceiver(dtls, pair.protocol)
    return True


def receive_media_inline(pc: RTCPeerConnection) -> None:
    """`receive_rtp_inline` for every transport of a connected peer connection."""
    seen: set[int] = set()
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        if id(dtls) not in seen:
            seen.add(id(dtls))
            receive_rtp_inline(dtls)


def count_sent(dtls: RTCDtlsTransport, *, packets: int, octets: int) -> None:
    """Add directly sent packets to the DTLS transport's own counters (its getStats)."""
    _add_to_counters(dtls, (DTLS_TX_PACKETS, packets), (DTLS_TX_BYTES, octets))


def _add_to_counters(dtls: RTCDtlsTransport, *increments: tuple[str, int]) -> None:
    for name, value in increments:
        setattr(dtls, name, getattr(dtls, name) + value)


async def send_rtp(transport: RTCDtlsTransport, data: bytes) -> None:
    """Protect and send one RTP packet (for retransmissions, off the hot path)."""
    await getattr(transport, DTLS_SEND_RTP)(data)


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """Codecs negotiated for a transceiver, preferred first (what the remote will send)."""
    codecs = getattr(transceiver, TRANSCEIVER_CODECS, None)
    if not isinstance(codecs, list):
        raise AiortcSeamError("RTCRtpTransceiver._codecs is gone")
    return list(codecs)


def decoder_thread_alive(receiver: RTCRtpReceiver) -> bool:
    """Whether the receiver's decoder thread runs (for seam tests: it must not, when tapped)."""
    thread = getattr(receiver, RECEIVER_DECODER_THREAD, None)
    is_alive = getattr(thread, "is_alive", None)
    return bool(is_alive()) if callable(is_alive) else False


# ---- header-extension ids of renegotiation offers (seam 5) ----------------------------------

_EXTMAP = re.compile(r"^a=extmap:(\d+)(?:/\w+)?\s+(\S+)", re.MULTILINE)
_NEGOTIATED_EXTENSIONS: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar(
    "negotiated_header_extensions", default=None
)
_NEGOTIATED_CODECS: contextvars.ContextVar[dict[str, list[RTCRtpCodecParameters]] | None] = (
    contextvars.ContextVar("negotiated_codecs", default=None)
)


def header_extension_ids(sdp: str) -> dict[str, int]:
    """`uri -> id` of every a=extmap line of an SDP (the ids are shared across a BUNDLE)."""
    return {uri: int(ext_id) for ext_id, uri in _EXTMAP.findall(sdp)}


class _NegotiatedHeaderExtensions(dict[str, list[RTCRtpHeaderExtensionParameters]]):
    """aiortc's per-kind extension table; inside `offer_with_extension_ids` it answers with the
    ids the remote side negotiated and leaves out extensions it did not negotiate."""

    def __getitem__(self, kind: str) -> list[RTCRtpHeaderExtensionParameters]:
        defaults = super().__getitem__(kind)
        ids = _NEGOTIATED_EXTENSIONS.get()
        if ids is None:
            return defaults
        return [
            RTCRtpHeaderExtensionParameters(id=ids[ext.uri], uri=ext.uri)
            for ext in defaults
            if ext.uri in ids
        ]


def _pt(codec: RTCRtpCodecParameters) -> int:
    if codec.payloadType is None:
        raise AiortcSeamError(f"{codec.mimeType} has no payload type")
    return codec.payloadType


def _codecs_keeping_payload_types(
    defaults: dict[str, list[RTCRtpCodecParameters]],
    negotiated: dict[str, list[RTCRtpCodecParameters]],
) -> dict[str, list[RTCRtpCodecParameters]]:
    """aiortc's codecs (its format parameters, so codec preferences still match) renumbered to
    the payload types the client negotiated. Codecs the client did not negotiate keep aiortc's
    payload type where it is free, else get a free one: aiortc routes packets by payload type
    across the whole BUNDLE, so no number may mean two codecs."""
    taken = {c.payloadType for codecs in negotiated.values() for c in codecs}

    def free(preferred: int) -> int:
        if preferred not in taken:
            taken.add(preferred)
            return preferred
        for pt in range(96, 128):
            if pt not in taken:
                taken.add(pt)
                return pt
        raise AiortcSeamError("no free dynamic payload type")

    tables: dict[str, list[RTCRtpCodecParameters]] = {}
    for kind in sorted(defaults):
        ours = negotiated.get(kind, [])
        assigned: dict[int, int] = {}  # aiortc's payload type -> the one we offer
        for codec in defaults[kind]:
            if is_rtx(codec):
                continue
            match = next(
                (
                    n
                    for n in ours
                    if not is_rtx(n)
                    and n.payloadType not in assigned.values()
                    and _is_codec_compatible(codec, n)
                ),
                None,
            )
            assigned[_pt(codec)] = _pt(match) if match is not None else free(_pt(codec))
        table: list[RTCRtpCodecParameters] = []
        for codec in defaults[kind]:
            if not is_rtx(codec):
                table.append(dataclasses.replace(codec, payloadType=assigned[_pt(codec)]))
                continue
            apt = assigned.get(int(str(codec.parameters.get("apt", -1))))
            if apt is None:
                continue
            rtx = next((n for n in ours if is_rtx(n) and n.parameters.get("apt") == apt), None)
            pt = _pt(rtx) if rtx is not None else free(_pt(codec))
            table.append(dataclasses.replace(codec, payloadType=pt, parameters={"apt": apt}))
        tables[kind] = table
    return tables


class _NegotiatedCodecs(dict[str, list[RTCRtpCodecParameters]]):
    """aiortc's per-kind codec table; inside `offer_as_negotiated` it keeps the payload types
    negotiated on the client's first offer."""

    def __getitem__(self, kind: str) -> list[RTCRtpCodecParameters]:
        tables = _NEGOTIATED_CODECS.get()
        if tables and kind in tables:
            return list(tables[kind])
        return super().__getitem__(kind)

    def defaults(self) -> dict[str, list[RTCRtpCodecParameters]]:
        return {kind: dict.__getitem__(self, kind) for kind in self}


def _install_tables() -> None:
    # Private re-exports of aiortc.codecs inside aiortc.rtcpeerconnection.
    table = getattr(_aiortc_pc, "HEADER_EXTENSIONS")  # noqa: B009
    if not isinstance(table, _NegotiatedHeaderExtensions):
        setattr(_aiortc_pc, "HEADER_EXTENSIONS", _NegotiatedHeaderExtensions(table))  # noqa: B010
    codecs = getattr(_aiortc_pc, "CODECS")  # noqa: B009
    if not isinstance(codecs, _NegotiatedCodecs):
        setattr(_aiortc_pc, "CODECS", _NegotiatedCodecs(codecs))  # noqa: B010


_install_tables()


def transceiver_codecs_by_kind(
    transceivers: list[RTCRtpTransceiver],
) -> dict[str, list[RTCRtpCodecParameters]]:
    """Per kind, the codecs (with the remote's payload types) negotiated so far."""
    out: dict[str, list[RTCRtpCodecParameters]] = {}
    for transceiver in transceivers:
        codecs = getattr(transceiver, TRANSCEIVER_CODECS, None)
        if isinstance(codecs, list) and codecs and transceiver.kind not in out:
            out[transceiver.kind] = list(codecs)
    return out


@contextmanager
def offer_as_negotiated(
    extension_ids: dict[str, int] | None,
    codecs: dict[str, list[RTCRtpCodecParameters]] | None,
) -> Iterator[None]:
    """Within this block, `RTCPeerConnection.createOffer` keeps the header-extension ids and
    payload types negotiated on the client's first offer.

    Context variables, so concurrent offers of other peers (other tasks) are unaffected.
    """
    ext_token = _NEGOTIATED_EXTENSIONS.set(extension_ids)
    table = getattr(_aiortc_pc, "CODECS")  # noqa: B009
    tables = (
        _codecs_keeping_payload_types(table.defaults(), codecs)
        if codecs and isinstance(table, _NegotiatedCodecs)
        else None
    )
    codec_token = _NEGOTIATED_CODECS.set(tables)
    try:
        yield
    finally:
        _NEGOTIATED_CODECS.reset(codec_token)
        _NEGOTIATED_EXTENSIONS.reset(ext_token)
