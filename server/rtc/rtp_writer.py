"""Plain-RTP bytes for forwarded frames, written directly instead of through aiortc's RtpPacket.

The forwarder sends every packet of every frame to every subscriber, so the per-packet cost is
what bounds how many rooms a process carries. aiortc builds an `RtpPacket` object, a header
extension table and a fresh extension block per packet; here the header is one `struct.pack`,
and the extension block (mid, abs-send-time, audio level) is built once per frame.
"""

from __future__ import annotations

import copy
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

URI_MID: Final = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_ABS_SEND_TIME: Final = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
URI_AUDIO_LEVEL: Final = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

# Seconds between the NTP epoch (1900) and the Unix epoch (1970).
NTP_UNIX_OFFSET_S: Final = 2_208_988_800

_HEADER: Final = struct.Struct("!BBHII")
_EXTENSION_HEADER: Final = struct.Struct("!HH")
_ONE_BYTE_PROFILE: Final = 0xBEDE
_TWO_BYTE_PROFILE: Final = 0x1000
_VERSION_2: Final = 0x80
_EXTENSION_BIT: Final = 0x10
_MARKER: Final = 0x80
_PADDING: Final = (b"", b"\x00", b"\x00\x00", b"\x00\x00\x00")


def ntp_time(now: float | None = None) -> int:
    """64-bit NTP timestamp (32.32 fixed point) of `now` (Unix seconds, default: the clock)."""
    seconds = time.time() if now is None else now
    return int((seconds + NTP_UNIX_OFFSET_S) * (1 << 32))


def abs_send_time(now: float | None = None) -> int:
    """The 24-bit abs-send-time value: NTP seconds in 6.18 fixed point."""
    seconds = time.time() if now is None else now
    return int((seconds + NTP_UNIX_OFFSET_S) * (1 << 18)) & 0xFFFFFF


@dataclass(frozen=True, slots=True)
class HeaderExtensionIds:
    """Extension ids negotiated for one sender (None: not negotiated, not written)."""

    mid: int | None = None
    abs_send_time: int | None = None
    audio_level: int | None = None

    @classmethod
    def from_uris(cls, pairs: Iterable[tuple[str, int]]) -> HeaderExtensionIds:
        ids = dict(pairs)
        return cls(
            mid=ids.get(URI_MID),
            abs_send_time=ids.get(URI_ABS_SEND_TIME),
            audio_level=ids.get(URI_AUDIO_LEVEL),
        )


class RtpWriter:
    """Writes the RTP packets of one outgoing stream (one SSRC, one payload type).

    Owns the stream's sequence numbers; timestamps are the frame's own (track-relative, mapped
    onto a random origin by the caller).
    """

    def __init__(
        self, *, ssrc: int, payload_type: int, mid: str | None, ids: HeaderExtensionIds,
        first_sequence_number: int,
    ) -> None:
        if not 0 <= payload_type <= 127:
            raise ValueError(f"payload type {payload_type} out of range")
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.sequence_number = first_sequence_number & 0xFFFF
        self._mid = mid.encode("utf-8") if mid is not None and ids.mid is not None else None
        self._ids = ids
        # RFC 8285: one-byte elements carry ids 1-14 and 1-16 bytes; else the two-byte form.
        self._two_byte = any(i is not None and i > 14 for i in (
            ids.mid if self._mid is not None else None, ids.abs_send_time, ids.audio_level
        )) or (self._mid is not None and len(self._mid) > 16)
        # One-byte form, precomputed: the mid element and the tags of the per-frame elements.
        self._mid_element = (
            bytes([(ids.mid << 4) | (len(self._mid) - 1)]) + self._mid
            if self._mid is not None and ids.mid is not None and not self._two_byte else b""
        )
        one_byte = not self._two_byte
        self._abs_tag = (
            bytes([(ids.abs_send_time << 4) | 2]) if ids.abs_send_time and one_byte else None
        )
        self._level_tag = bytes([ids.audio_level << 4]) if ids.audio_level and one_byte else None

    def for_stream(self, ssrc: int, *, first_sequence_number: int) -> RtpWriter:
        """The same payload type and extensions, written as another RTP stream."""
        other = copy.copy(self)
        other.ssrc = ssrc
        other.sequence_number = first_sequence_number & 0xFFFF
        return other

    def extension_block(self, *, send_time: int | None, audio_level: int | None) -> bytes:
        """The header extension block of one frame's packets (b"" when there is none)."""
        if self._two_byte:
            return self._two_byte_block(send_time, audio_level)
        body = self._mid_element
        if send_time is not None and self._abs_tag is not None:
            body += self._abs_tag + send_time.to_bytes(3, "big")
        if audio_level is not None and self._level_tag is not None:
            # Voice-activity flag left clear, as aiortc's own sender does.
            body += self._level_tag + bytes((min(127, max(0, audio_level)),))
        if not body:
            return b""
        body += _PADDING[-len(body) % 4]
        return _EXTENSION_HEADER.pack(_ONE_BYTE_PROFILE, len(body) // 4) + body

    def _two_byte_block(self, send_time: int | None, audio_level: int | None) -> bytes:
        elements: list[tuple[int, bytes]] = []
        if self._mid is not None and self._ids.mid is not None:
            elements.append((self._ids.mid, self._mid))
        if send_time is not None and self._ids.abs_send_time is not None:
            elements.append((self._ids.abs_send_time, send_time.to_bytes(3, "big")))
        if audio_level is not None and self._ids.audio_level is not None:
            # Voice-activity flag left clear, as aiortc's own sender does.
            elements.append((self._ids.audio_level, bytes([min(127, max(0, audio_level))])))
        if not elements:
            return b""
        body = b"".join(bytes([ext_id, len(value)]) + value for ext_id, value in elements)
        body += _PADDING[-len(body) % 4]
        return _EXTENSION_HEADER.pack(_TWO_BYTE_PROFILE, len(body) // 4) + body

    def packets(self, payloads: list[bytes], timestamp: int, extensions: bytes) -> list[bytes]:
        """One frame's packets, marker bit on the last; advances the sequence number."""
        first = _VERSION_2 | (_EXTENSION_BIT if extensions else 0)
        last = len(payloads) - 1
        seq = self.sequence_number
        out = []
        for i, payload in enumerate(payloads):
            second = self.payload_type | (_MARKER if i == last else 0)
            out.append(_HEADER.pack(first, second, seq, timestamp, self.ssrc) + extensions
                       + payload)
            seq = (seq + 1) & 0xFFFF
        self.sequence_number = seq
        return out


def sequence_number(packet: bytes) -> int:
    """The sequence number of a plain RTP packet."""
    return (packet[2] << 8) | packet[3]


def ntp_milliseconds(now: float | None = None) -> int:
    """Milliseconds since the NTP epoch: aiortc's arrival-time unit (`clock.current_ms`)."""
    seconds = time.time() if now is None else now
    return int((seconds + NTP_UNIX_OFFSET_S) * 1000)


def rtx_packet(
    original: bytes, *, payload_type: int, sequence_number: int, ssrc: int
) -> bytes:
    """RFC 4588 retransmission of `original` (a packet `RtpWriter` wrote: no CSRCs): same
    timestamp, marker and extensions, the original sequence number ahead of the payload."""
    first: int
    second: int
    original_seq: int
    timestamp: int
    first, second, original_seq, timestamp, _ = _HEADER.unpack_from(original)
    offset = _HEADER.size
    if first & _EXTENSION_BIT:
        words: int = _EXTENSION_HEADER.unpack_from(original, offset)[1]
        offset += _EXTENSION_HEADER.size + 4 * words
    header: bytes = _HEADER.pack(first, (second & _MARKER) | payload_type, sequence_number,
                                 timestamp, ssrc)
    return (header + original[_HEADER.size:offset] + original_seq.to_bytes(2, "big")
            + original[offset:])
