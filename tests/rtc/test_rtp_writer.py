"""The forwarder's RTP bytes, read back with aiortc's own parser (what a receiver does)."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from server.rtc.rtp_writer import (
    URI_ABS_SEND_TIME,
    URI_AUDIO_LEVEL,
    URI_MID,
    HeaderExtensionIds,
    RtpWriter,
    abs_send_time,
    ntp_time,
    rtx_packet,
)


def extension_map(ids: dict[str, int]) -> HeaderExtensionsMap:
    table = HeaderExtensionsMap()
    table.configure(RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=i, uri=uri) for uri, i in ids.items()
    ]))
    return table


@pytest.mark.parametrize("ids", [
    {URI_MID: 4, URI_ABS_SEND_TIME: 2, URI_AUDIO_LEVEL: 1},  # Chromium's one-byte ids
    {URI_MID: 15, URI_ABS_SEND_TIME: 200, URI_AUDIO_LEVEL: 3},  # ids that need two bytes
])
def test_packets_parse_back_with_every_field(ids: dict[str, int]) -> None:
    writer = RtpWriter(ssrc=0x1234ABCD, payload_type=111, mid="3",
                       ids=HeaderExtensionIds.from_uris(ids.items()),
                       first_sequence_number=65534)
    block = writer.extension_block(send_time=0xABCDEF, audio_level=42)
    packets = writer.packets([b"a" * 10, b"b" * 7, b"c"], 0xFFFFFFF0, block)
    parsed = [RtpPacket.parse(p, extension_map(ids)) for p in packets]
    assert [p.sequence_number for p in parsed] == [65534, 65535, 0]
    assert writer.sequence_number == 1
    assert [p.marker for p in parsed] == [0, 0, 1]
    assert [p.payload for p in parsed] == [b"a" * 10, b"b" * 7, b"c"]
    for p in parsed:
        assert (p.version, p.payload_type, p.ssrc, p.timestamp) == (2, 111, 0x1234ABCD,
                                                                     0xFFFFFFF0)
        assert p.extensions.mid == "3"
        assert p.extensions.abs_send_time == 0xABCDEF
        assert p.extensions.audio_level == (False, 42)


def test_no_negotiated_extensions_means_no_extension_block() -> None:
    writer = RtpWriter(ssrc=1, payload_type=96, mid="0", ids=HeaderExtensionIds(),
                       first_sequence_number=7)
    block = writer.extension_block(send_time=1, audio_level=1)
    assert block == b""
    (packet,) = writer.packets([b"x"], 90, block)
    assert packet[0] == 0x80 and len(packet) == 13
    assert RtpPacket.parse(packet).payload == b"x"


def test_rtx_packet_carries_the_original_sequence_number() -> None:
    ids = {URI_MID: 1, URI_ABS_SEND_TIME: 2}
    writer = RtpWriter(ssrc=5, payload_type=96, mid="1",
                       ids=HeaderExtensionIds.from_uris(ids.items()), first_sequence_number=300)
    (original,) = writer.packets([b"payload"], 1000, writer.extension_block(send_time=9,
                                                                             audio_level=None))
    rtx = RtpPacket.parse(rtx_packet(original, payload_type=97, sequence_number=12, ssrc=6),
                          extension_map(ids))
    assert (rtx.payload_type, rtx.sequence_number, rtx.ssrc, rtx.timestamp) == (97, 12, 6, 1000)
    assert rtx.marker == 1 and rtx.extensions.mid == "1"
    assert rtx.payload == (300).to_bytes(2, "big") + b"payload"


def test_clock_values_match_ntp() -> None:
    now = 1_800_000_000.5
    ntp = ntp_time(now)
    assert ntp >> 32 == 1_800_000_000 + 2_208_988_800 and ntp & 0xFFFFFFFF == 1 << 31
    assert abs_send_time(now) == (ntp >> 14) & 0xFFFFFF
