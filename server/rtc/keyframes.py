"""Keyframe recognition from encoded payloads, without decoding.

A forwarder must know keyframes: a new or lagging subscriber can only start decoding at one.
"""

from __future__ import annotations

# VP8 keyframe start code (RFC 6386 section 9.1), after the 3-byte frame tag.
_VP8_START_CODE = b"\x9d\x01\x2a"
_H264_NAL_IDR = 5


def is_vp8_keyframe(frame: bytes) -> bool:
    """A VP8 frame is a keyframe when the frame tag's P bit is 0 and the start code follows."""
    return len(frame) >= 10 and frame[0] & 0x01 == 0 and frame[3:6] == _VP8_START_CODE


def vp8_dimensions(frame: bytes) -> tuple[int, int] | None:
    """(width, height) a VP8 keyframe announces, or None for an inter frame."""
    if not is_vp8_keyframe(frame):
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return width, height


def h264_nal_types(annex_b: bytes) -> list[int]:
    """NAL unit types in an Annex B byte stream (as aiortc's depacketizer produces it)."""
    types: list[int] = []
    pos = annex_b.find(b"\x00\x00\x01")
    while pos != -1:
        header = pos + 3
        if header < len(annex_b):
            types.append(annex_b[header] & 0x1F)
        pos = annex_b.find(b"\x00\x00\x01", header)
    return types


def is_h264_keyframe(annex_b: bytes) -> bool:
    """An H.264 access unit is a keyframe when it carries an IDR slice."""
    return _H264_NAL_IDR in h264_nal_types(annex_b)


def is_keyframe(codec_mime: str, data: bytes) -> bool:
    """Keyframe test for any forwarded codec; audio frames all count as keyframes."""
    mime = codec_mime.lower()
    if mime == "video/vp8":
        return is_vp8_keyframe(data)
    if mime == "video/h264":
        return is_h264_keyframe(data)
    # Audio (and unknown codecs) can be decoded from any frame.
    return not mime.startswith("video/")
