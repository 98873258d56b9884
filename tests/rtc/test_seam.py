"""Seam tests: fail loudly when an aiortc upgrade moves the private internals the SFU wraps."""

from __future__ import annotations

import inspect

import aiortc.rtcrtpreceiver as rtcrtpreceiver
from aioice.ice import Connection, StunProtocol
from aiortc import RTCDtlsTransport, RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RTCP_RTPFB_NACK, HeaderExtensions, RtcpRtpfbPacket

from server.rtc import MediaRoom
from server.rtc.aiortc_seam.pin import (
    RECEIVER_BITRATE_ESTIMATOR,
    RECEIVER_DECODER_QUEUE,
    RECEIVER_DECODER_THREAD,
    RECEIVER_JITTER_BUFFER,
    RECEIVER_STARTED,
    SENDER_REPORT_COUNTERS,
    SENDER_STREAM_ID,
    SUPPORTED_AIORTC_VERSION,
    TRANSCEIVER_CODECS,
    check_aiortc_compatibility,
    installed_aiortc_version,
)
from server.rtc.aiortc_seam.receiver import decoder_thread_alive
from server.rtc.aiortc_seam.sender import sender_ssrcs
from server.rtc.aiortc_seam.transport import _InlineRtpReceiver, nominated_pair
from server.rtc.client import MediaClient
from server.rtc.loopback import LoopbackSignaling
from server.rtc.rtp_writer import sequence_number

from .conftest import TEST_FPS


def test_aiortc_version_is_the_one_the_seam_was_built_on() -> None:
    assert installed_aiortc_version() == SUPPORTED_AIORTC_VERSION
    check_aiortc_compatibility()


async def test_receiver_and_sender_have_the_private_attributes_we_replace() -> None:
    pc = RTCPeerConnection()
    try:
        for kind in ("audio", "video"):
            transceiver = pc.addTransceiver(kind)
            receiver = transceiver.receiver
            assert isinstance(getattr(receiver, RECEIVER_JITTER_BUFFER), JitterBuffer)
            assert hasattr(getattr(receiver, RECEIVER_DECODER_QUEUE), "put")
            assert getattr(receiver, RECEIVER_DECODER_THREAD) is None
            assert getattr(receiver, RECEIVER_STARTED) is False
            assert hasattr(receiver, RECEIVER_BITRATE_ESTIMATOR)
            assert isinstance(getattr(transceiver.sender, SENDER_STREAM_ID), str)
            assert isinstance(getattr(transceiver, TRANSCEIVER_CODECS), list)
    finally:
        await pc.close()


def test_decoder_worker_and_jitter_buffer_contracts() -> None:
    # The stand-in queue relies on the worker reading (codec, frame) tuples via get(), ending on
    # None, and on the receiver putting into the queue the frame the jitter buffer returned.
    worker = inspect.signature(rtcrtpreceiver.decoder_worker)
    assert list(worker.parameters) == ["loop", "input_q", "output_q", "decode_error"]
    source = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__jitter_buffer.add(packet)" in source
    assert "self.__decoder_queue.put((codec, encoded_frame))" in source
    assert "encoded_frame.timestamp = self.__timestamp_mapper.map(" in source
    assert "self.__decoder_thread" in inspect.getsource(RTCRtpReceiver.receive)
    assert list(inspect.signature(JitterBuffer.add).parameters) == ["self", "packet"]
    assert {"data", "timestamp"} <= set(vars(JitterFrame(b"", 0)))
    assert hasattr(HeaderExtensions(), "audio_level")


def test_sender_routes_pli_and_fir_through_send_keyframe() -> None:
    source = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "RTCP_PSFB_PLI" in source and "RTCP_PSFB_FIR" in source
    assert "self._send_keyframe()" in source
    # Packets (not frames) are packed, not encoded.
    assert "self.__encoder.pack(data)" in inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "audio_level" in inspect.getsource(RTCRtpSender._run_rtp)


async def alice_seen_by_bob(
    room: MediaRoom, signaling: LoopbackSignaling, frames: int
) -> MediaClient:
    """Alice publishes, bob (publishing nothing) receives `frames` of her video; returns bob."""
    await signaling.connect("alice", fps=TEST_FPS)
    bob = await signaling.connect("bob", video=None, audio=False)
    room.set_subscriptions("bob", None)
    await bob.wait_for_frames("alice", "video", frames)
    return bob


async def test_tapped_server_receivers_never_run_a_decoder(
    room: MediaRoom, signaling: LoopbackSignaling
) -> None:
    await alice_seen_by_bob(room, signaling, 5)
    published = room.published_tracks("alice")
    assert {t.kind for t in published} == {"audio", "video"}
    receivers = [t.receiver for t in room.peer("alice").pc.getTransceivers()]
    assert receivers
    for receiver in receivers:
        assert getattr(receiver, RECEIVER_STARTED) is True
        assert not decoder_thread_alive(receiver)
    for track in published:
        assert track.stats.frames > 0


def test_direct_sending_relies_on_these_internals() -> None:
    # What PacketSender and RtpRoute replace or update (seam 6).
    recv = inspect.getsource(RTCDtlsTransport._recv_next)
    assert "data = self._rx_srtp.unprotect(data)" in recv
    assert "await self._handle_rtp_data(data, arrival_time_ms=arrival_time_ms)" in recv
    assert "arrival_time_ms = clock.current_ms()" in recv
    assert "self.receiver.data_received(" in inspect.getsource(StunProtocol.datagram_received)
    send_rtp = inspect.getsource(RTCDtlsTransport._send_rtp)
    assert "self._tx_srtp.protect(data)" in send_rtp
    assert "await self.transport._send(data)" in send_rtp
    assert "self.__tx_packets += 1" in send_rtp
    assert "await active_pair.protocol.send_data(data, active_pair.remote_addr)" in (
        inspect.getsource(Connection.sendto)
    )
    assert "self.transport.sendto(data, addr)" in inspect.getsource(StunProtocol.send_data)
    run_rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
    for counter in SENDER_REPORT_COUNTERS:
        assert "self." + counter.removeprefix("_RTCRtpSender") in run_rtcp
    assert "await self._retransmit(seq)" in inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "self.__started = True" in inspect.getsource(RTCRtpSender.send)


async def test_forwarded_media_goes_out_through_the_packet_sender(
    room: MediaRoom, signaling: LoopbackSignaling
) -> None:
    bob = await alice_seen_by_bob(room, signaling, 10)
    outbound = list(room.peer("bob").outbound.values())
    assert {o.source.kind for o in outbound} == {"audio", "video"}
    for out in outbound:
        sender = out.transceiver.sender
        assert out.sender.started and out.sender.packets_sent > 0
        # The sender's own statistics (and so its RTCP SR) count what we sent around it.
        stats = [s for s in (await sender.getStats()).values() if s.type == "outbound-rtp"]
        assert stats and stats[0].packetsSent >= out.sender.packets_sent - 5
    # A NACK is answered from the forwarder's own history, and media keeps flowing.
    video = next(o for o in outbound if o.source.kind == "video")
    ssrc, _ = sender_ssrcs(video.transceiver.sender)
    history = [p for p in video.sender._history if p is not None]
    seq = sequence_number(history[-1])
    nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=ssrc, lost=[seq])
    await video.transceiver.sender._handle_rtcp_packet(nack)
    assert video.sender.retransmitted == 1
    before = bob.frames_from("alice")
    await bob.wait_for_frames("alice", "video", before + 5)
    # Media reached the server's and bob's receivers through the inline path, not aioice's queue.
    for pc in (room.peer("alice").pc, bob.pc):
        dtls = pc.getTransceivers()[0].receiver.transport
        pair = nominated_pair(dtls)
        inline = pair.protocol.datagram_received.__self__
        assert isinstance(inline, _InlineRtpReceiver) and inline.packets > 0


def test_reusing_an_m_line_relies_on_these_internals() -> None:
    """Seam 7: a new SSRC pair on a started sender, announced in the next offer, and the
    transport's RTCP routing under the new SSRC."""
    from aiortc import rtcpeerconnection

    assert "transceiver.sender._ssrc" in inspect.getsource(
        rtcpeerconnection.create_media_description_for_transceiver
    )
    assert "transceiver.sender._rtx_ssrc" in inspect.getsource(
        rtcpeerconnection.create_media_description_for_transceiver
    )
    assert "self._rtp_router.register_sender(sender, ssrc=sender._ssrc)" in inspect.getsource(
        RTCDtlsTransport._register_rtp_sender
    )
    assert "self.senders.get(packet.media_ssrc)" in inspect.getsource(
        inspect.getmodule(RTCDtlsTransport).RtpRouter.route_rtcp  # type: ignore[union-attr]
    )


async def test_a_renewed_sender_gets_the_subscribers_rtcp_under_its_new_ssrc(
    room: MediaRoom, signaling: LoopbackSignaling
) -> None:
    from server.rtc.aiortc_seam.pin import DTLS_RTP_ROUTER

    await alice_seen_by_bob(room, signaling, 5)
    video = next(o for o in room.peer("bob").outbound.values() if o.source.kind == "video")
    sender = video.transceiver.sender
    old, _ = sender_ssrcs(sender)
    video.sender.new_stream()
    new, rtx = sender_ssrcs(sender)
    assert len({old, new, rtx}) == 3
    router = getattr(sender.transport, DTLS_RTP_ROUTER)
    assert router.senders.get(new) is sender and old not in router.senders
