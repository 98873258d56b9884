"""What the seams are pinned to: the aiortc version they were verified against, the private
names they reach for, and the check that both are still what the seams expect.

`tests/rtc/test_seam.py` covers every name listed here.
"""

from __future__ import annotations

import importlib.metadata
from typing import Final

from aiortc import RTCDtlsTransport, RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer

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
    """aiortc no longer has the internals this package relies on; re-check the seam."""


def installed_aiortc_version() -> str:
    return importlib.metadata.version("aiortc")


def check_aiortc_compatibility() -> None:
    """Raise `AiortcSeamError` unless the installed aiortc is the one the seam was built on."""
    version = installed_aiortc_version()
    if version != SUPPORTED_AIORTC_VERSION:
        raise AiortcSeamError(
            f"aiortc {version} installed, the SFU seam was verified against "
            f"{SUPPORTED_AIORTC_VERSION}: run tests/rtc/test_seam.py and update "
            "server/rtc/aiortc_seam/"
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
