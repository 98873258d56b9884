"""Sender seams (4, 6 and 7): an `RTCRtpSender` that forwards instead of encoding.

Seam 4: the sender's keyframe requests (PLI/FIR) are routed to us, and its msid stream id is
set. Seam 6, the sender's side of direct sending: learning the negotiated parameters when aiortc
starts it, answering NACKs from our own packet history and keeping its SR counters true (the
packets themselves go out through `transport`). Seam 7: renewing its SSRCs to reuse an m-line.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

from aiortc import RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpSendParameters

from .pin import (
    DTLS_RTP_ROUTER,
    SENDER_REPORT_COUNTERS,
    SENDER_RETRANSMIT,
    SENDER_RTX_SSRC,
    SENDER_SEND_KEYFRAME,
    SENDER_SSRC,
    SENDER_STARTED,
    SENDER_STREAM_ID,
    AiortcSeamError,
)


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
