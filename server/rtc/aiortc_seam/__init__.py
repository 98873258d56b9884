"""The one place that reaches into aiortc's private internals.

aiortc has no SFU mode. Its receiver reassembles complete encoded frames in a jitter buffer and
hands them to a decoder thread through a `queue.Queue`; its sender packetizes `av.Packet`s without
encoding. We use seven private seams, all pinned to aiortc 1.16.0 and covered by
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
   `RTCDtlsTransport._handle_rtp_data` in place (`receive_rtp_inline`).
   `RTCRtpSender._retransmit` is shadowed to answer NACKs from our own packet history, and the
   sender's private SR counters are kept up to date so its RTCP sender reports stay true.
   aiortc's own per-frame RTP task still runs, parked in the track's `recv()`.
7. Reusing a send-only m-line (aiortc cannot remove one): `RTCRtpSender._ssrc`/`_rtx_ssrc` are
   renewed and the sender re-registered with its transport's `_rtp_router`, so the next offer
   announces a new RTP stream on the old m-line and the subscriber's RTCP reaches the sender.

One module per concept:

- `pin`: the aiortc version the seams were verified against, every private name they use,
  `AiortcSeamError` and `check_aiortc_compatibility`.
- `receiver`: seams 1-3 (`ReceiverTap`, `TappedFrame`, `decoder_thread_alive`).
- `sender`: seam 4, the sender's side of seam 6 (`on_sender_started`,
  `intercept_retransmissions`, `report_sent`) and seam 7 (`sender_ssrcs`, `renew_sender_ssrcs`).
- `transport`: the DTLS/ICE side of seam 6 (`RtpRoute`, `rtp_route`, `nominated_pair`,
  `count_sent`, `send_rtp`, `receive_rtp_inline`, `receive_media_inline`).
- `negotiation`: seam 5 (`offer_as_negotiated`, `header_extension_ids`,
  `transceiver_codecs_by_kind`) and `negotiated_codecs` (`RTCRtpTransceiver._codecs`).

Nothing else in `server.rtc` may touch a name starting with an underscore on an aiortc object.
"""

# Imported with the package, as when the seam was one module: importing `negotiation` wraps
# aiortc's codec and header-extension tables (seam 5), whichever part of the seam comes first.
from . import negotiation as negotiation
from .pin import SUPPORTED_AIORTC_VERSION, AiortcSeamError, check_aiortc_compatibility

__all__ = ["SUPPORTED_AIORTC_VERSION", "AiortcSeamError", "check_aiortc_compatibility"]
