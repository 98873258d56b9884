"""Transport seams (6): RTP on the DTLS transport and the ICE pair it nominated, without
aiortc's per-packet coroutines.

Outgoing: `RtpRoute` protects forwarded packets with `RTCDtlsTransport._tx_srtp` and writes them
to the socket of the pair aioice nominated (`Connection._nominated`), keeping the transport's tx
counters. Incoming: `receive_rtp_inline` takes SRTP media from the nominated pair's
`StunProtocol.datagram_received` and runs `RTCDtlsTransport._handle_rtp_data` in place.
"""

from __future__ import annotations

import logging
import socket
import struct
import sys
import weakref
from collections.abc import Callable
from typing import Any, Final, Protocol

import pylibsrtp
from aiortc import RTCDtlsTransport, RTCPeerConnection
from aiortc.rtp import is_rtcp

from ..rtp_writer import ntp_milliseconds
from .pin import (
    DTLS_HANDLE_RTP,
    DTLS_RX_BYTES,
    DTLS_RX_PACKETS,
    DTLS_RX_SRTP,
    DTLS_SEND_RTP,
    DTLS_TX_BYTES,
    DTLS_TX_PACKETS,
    DTLS_TX_SRTP,
    ICE_CONNECTION,
    ICE_NOMINATED,
    AiortcSeamError,
)

logger = logging.getLogger(__name__)


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
        if (
            self._socket is not None
            and len(data) > 1
            and not self._datagram.get_write_buffer_size()
        ):
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
            while end < len(data) and end - index < GSO_MAX_SEGMENTS and len(data[end]) == size:
                end += 1
            if end < len(data) and end - index < GSO_MAX_SEGMENTS and len(data[end]) < size:
                end += 1  # a shorter last segment is allowed
            if end - index < 2:
                break
            buffer = b"".join(data[index:end])
            try:
                sock.sendmsg(
                    [buffer],
                    [(socket.SOL_UDP, UDP_SEGMENT, _GSO_SIZE.pack(size))],
                    0,
                    self._address,
                )
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
        if not (srtp is not None and len(data) > 12 and 127 < data[0] < 192 and not is_rtcp(data)):
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
