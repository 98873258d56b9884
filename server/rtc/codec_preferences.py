"""Codec preferences that make a subscriber's transceiver carry the publisher's codec.

Forwarding cannot transcode, so the subscriber must be offered exactly the codec the publisher
sends. aiortc applies `setCodecPreferences` only to transceivers it creates (hence the server
makes the offer to subscribers).
"""

from __future__ import annotations

from aiortc import RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters


def _is_rtx(mime: str) -> bool:
    return mime.lower().endswith("/rtx")


def forwarding_preferences(kind: str, codec: RTCRtpCodecParameters) -> list[RTCRtpCodecCapability]:
    """aiortc capabilities matching the publisher's `codec` (plus RTX for video retransmission).

    Matching is on MIME type, clock rate and format parameters (H.264 profile and packetization
    mode matter); if nothing matches exactly, every capability with the same MIME type is kept.
    """
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    same_mime = [
        c
        for c in capabilities
        if c.mimeType.lower() == codec.mimeType.lower() and c.clockRate == codec.clockRate
    ]
    exact = [c for c in same_mime if dict(c.parameters) == dict(codec.parameters)]
    chosen = exact or same_mime
    if not chosen:
        raise ValueError(f"aiortc cannot send {codec.mimeType}")
    rtx = [c for c in capabilities if _is_rtx(c.mimeType)] if kind == "video" else []
    return chosen + rtx
