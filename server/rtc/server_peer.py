"""The server's end of one participant's peer connection: what it publishes, what it receives."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc.codecs import is_rtx
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.sdp import SessionDescription, candidate_from_sdp

from .aiortc_seam.negotiation import (
    header_extension_ids,
    negotiated_codecs,
    offer_as_negotiated,
    transceiver_codecs_by_kind,
)
from .aiortc_seam.sender import intercept_keyframe_requests, set_sender_stream_id
from .aiortc_seam.transport import receive_media_inline
from .codec_preferences import forwarding_preferences
from .config import MediaConfig
from .errors import NegotiationError
from .forwarding import ForwardingTrack
from .frame import MediaKind
from .packet_sender import PacketSender
from .publication import PublishedTrack
from .remote_candidates import acceptable, filter_sdp

logger = logging.getLogger(__name__)


def _require_media(sdp: str, participant_id: str) -> None:
    """Reject what aiortc would accept but cannot use: unparsable text, or no media at all."""
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:
        raise NegotiationError(f"{participant_id}: unparsable SDP: {exc!r}") from exc
    if not any(m.kind in ("audio", "video") for m in description.media):
        raise NegotiationError(f"{participant_id}: SDP offer has no audio or video section")
    # aiortc trusts the BUNDLE group: a mid there with no m-line of its own (or an m-line
    # without a mid) leaves a transceiver without a transport, and its connect task and close
    # then fail with AttributeError long after the offer was "accepted".
    mids = [m.rtp.muxId for m in description.media]
    if any(not mid for mid in mids) or len(set(mids)) != len(mids):
        raise NegotiationError(f"{participant_id}: every m-line needs its own a=mid")
    for group in description.group:
        if group.semantic == "BUNDLE" and not set(group.items) <= set(mids):
            raise NegotiationError(
                f"{participant_id}: a=group:BUNDLE names mids that have no m-line"
            )


def _same_codec(a: RTCRtpCodecParameters, b: RTCRtpCodecParameters) -> bool:
    """Whether a sender negotiated for `a` can carry `b`'s frames unchanged."""
    return (
        a.mimeType.lower() == b.mimeType.lower()
        and a.clockRate == b.clockRate
        and a.channels == b.channels
        and dict(a.parameters) == dict(b.parameters)
    )


@dataclass(slots=True)
class Outbound:
    """One published track forwarded to this peer, on its own send-only transceiver."""

    source: PublishedTrack
    track: ForwardingTrack
    transceiver: RTCRtpTransceiver
    sender: PacketSender


class ServerPeer:
    """Wraps the server-side `RTCPeerConnection` of one participant.

    The participant's client makes the first offer (its published tracks); afterwards the server
    offers whenever the set of forwarded tracks changes, one send-only transceiver per forwarded
    track, with the publisher's codec preferred. Owned and driven by `MediaRoom`; the signaling
    layer talks to the room, not to this class.
    """

    def __init__(
        self,
        participant_id: str,
        config: MediaConfig,
        *,
        on_track_published: Callable[[ServerPeer, PublishedTrack], None],
        on_connection_state: Callable[[ServerPeer, str], None],
        incarnation: int = 1,
    ) -> None:
        self.participant_id = participant_id
        # Which of the participant's peer connections in the room this is (1, 2, … per reload
        # or reconnect); part of every published track's id.
        self.incarnation = incarnation
        self._config = config
        self._on_track_published = on_track_published
        self._on_connection_state = on_connection_state
        self.pc = RTCPeerConnection(configuration=config.rtc_configuration())
        self.published: dict[str, PublishedTrack] = {}
        self.outbound: dict[str, Outbound] = {}
        # Send-only transceivers whose track is gone for good. aiortc cannot remove an m-line,
        # so the next forwarded track of the same kind and codec takes one over instead of
        # adding another: a participant who reconnects 30 times must not leave 60 m-lines in
        # everyone else's connection (the SDP outgrows the signaling limit).
        self._spare: list[Outbound] = []
        # Reused m-lines announced by the offer now outstanding (released by its answer).
        self._announced: set[str] = set()
        self._lock = asyncio.Lock()
        self._negotiation_pending = False
        self._first_offer_answered = False
        self._extension_ids: dict[str, int] | None = None
        self._codecs: dict[str, list[RTCRtpCodecParameters]] | None = None
        self._closed = False
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state_change)

    def __repr__(self) -> str:
        return f"ServerPeer({self.participant_id!r}, {self.pc.connectionState})"

    @property
    def connection_state(self) -> str:
        return str(self.pc.connectionState)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def offer_answered(self) -> bool:
        """The client's first offer has been answered: the transport exists."""
        return self._first_offer_answered

    @property
    def wants_offer(self) -> bool:
        """The server has forwarding changes to offer and may offer now (signaling is stable)."""
        return (
            self._negotiation_pending
            and self._first_offer_answered
            and not self._closed
            and self.pc.signalingState == "stable"
        )

    # ---- negotiation -------------------------------------------------------------------------

    async def handle_offer(self, sdp: str) -> str:
        """Apply the client's offer and return the server's answer SDP."""
        async with self._lock:
            self._assert_open()
            if self.pc.signalingState != "stable":
                raise NegotiationError(
                    f"{self.participant_id}: offer while signaling state is "
                    f"{self.pc.signalingState} (glare: the client must roll back and answer the "
                    "server's offer)"
                )
            _require_media(sdp, self.participant_id)
            try:
                await self.pc.setRemoteDescription(
                    RTCSessionDescription(sdp=filter_sdp(sdp), type="offer")
                )
                await self.pc.setLocalDescription(await self.pc.createAnswer())
            except Exception as exc:
                raise NegotiationError(f"{self.participant_id}: bad offer: {exc!r}") from exc
            # Our later offers must reuse the client's header-extension ids and payload types
            # (see the seam).
            self._extension_ids = header_extension_ids(sdp)
            self._codecs = transceiver_codecs_by_kind(self.pc.getTransceivers())
            self._first_offer_answered = True
            return str(self.pc.localDescription.sdp)

    async def create_offer(self) -> str:
        """Create and apply the server's renegotiation offer; returns its SDP."""
        async with self._lock:
            self._assert_open()
            if not self._first_offer_answered:
                raise NegotiationError(f"{self.participant_id}: the client has not offered yet")
            if self.pc.signalingState != "stable":
                raise NegotiationError(
                    f"{self.participant_id}: cannot offer in state {self.pc.signalingState}"
                )
            self._negotiation_pending = False
            announced = {key for key, out in self.outbound.items() if out.track.held}
            try:
                with offer_as_negotiated(self._extension_ids, self._codecs):
                    offer = await self.pc.createOffer()
                await self.pc.setLocalDescription(offer)
            except Exception as exc:
                self._negotiation_pending = True
                raise NegotiationError(f"{self.participant_id}: offer failed: {exc!r}") from exc
            self._announced = announced
            return str(self.pc.localDescription.sdp)

    async def handle_answer(self, sdp: str) -> None:
        """Apply the client's answer to the server's offer."""
        async with self._lock:
            self._assert_open()
            if self.pc.signalingState != "have-local-offer":
                raise NegotiationError(
                    f"{self.participant_id}: answer without an outstanding server offer"
                )
            before = {key: o.transceiver.currentDirection for key, o in self.outbound.items()}
            try:
                await self.pc.setRemoteDescription(
                    RTCSessionDescription(sdp=filter_sdp(sdp), type="answer")
                )
            except Exception as exc:
                raise NegotiationError(f"{self.participant_id}: bad answer: {exc!r}") from exc
            announced, self._announced = self._announced, set()
            for key, out in self.outbound.items():
                if out.transceiver.currentDirection != "sendonly":
                    continue
                if key in announced:
                    out.track.release()  # resyncs: the new stream starts at a keyframe
                elif before.get(key) != "sendonly":
                    # The subscriber's decoder needs a keyframe to start.
                    out.track.resync()

    async def add_ice_candidate(
        self, candidate: str | None, sdp_mid: str | None = None, sdp_mline_index: int | None = None
    ) -> None:
        """Add a trickled remote candidate ("candidate:..." line); None/"" ends candidates."""
        self._assert_open()
        if not candidate:
            await self.pc.addIceCandidate(None)
            return
        try:
            ice = candidate_from_sdp(candidate.removeprefix("candidate:"))
        except Exception as exc:
            raise NegotiationError(f"bad ICE candidate {candidate!r}: {exc!r}") from exc
        if not acceptable(ice.ip):
            # Not a place a client can be (loopback, link-local, the server itself …): no STUN
            # goes there on a participant's say-so.
            logger.info("%s: dropping candidate %s", self.participant_id, ice.ip)
            return
        ice.sdpMid = sdp_mid
        ice.sdpMLineIndex = sdp_mline_index
        if sdp_mid is None and sdp_mline_index is None:
            ice.sdpMLineIndex = 0
        await self.pc.addIceCandidate(ice)

    # ---- forwarding --------------------------------------------------------------------------

    def forward(self, source: PublishedTrack) -> None:
        """Forward `source` to this participant (idempotent)."""
        out = self.outbound.get(source.id)
        if out is None:
            out = self._create_outbound(source)
        out.track.attach()
        if out.transceiver.direction != "sendonly":
            out.transceiver.direction = "sendonly"
            self._negotiation_pending = True

    def stop_forwarding(self, source_id: str, *, retire: bool = False) -> None:
        """Stop forwarding a published track now; `retire` when the source is gone for good."""
        out = self.outbound.get(source_id)
        if out is None:
            return
        out.track.detach()
        if out.transceiver.direction != "inactive":
            out.transceiver.direction = "inactive"
            self._negotiation_pending = True
        if retire:
            # aiortc cannot remove an m-line: the inactive transceiver waits for the next track.
            del self.outbound[source_id]
            self._announced.discard(source_id)
            self._spare.append(out)

    def forwarded_sources(self) -> set[str]:
        return {key for key, out in self.outbound.items() if out.track.attached}

    def _reusable(self, spare: Outbound, source: PublishedTrack) -> bool:
        if spare.source.kind != source.kind or not _same_codec(spare.source.codec, source.codec):
            return False
        transceiver = spare.transceiver
        if transceiver.mid is None or transceiver.currentDirection == "inactive":
            return True  # never offered, or the subscriber has let the old track go
        # Still announced as sending: only the same publisher's next track (a reconnect) may
        # follow on it; anyone else's would reach the subscriber under the old publisher's
        # name, since a browser fires no track event while the direction stays the same.
        return spare.source.publisher_id == source.publisher_id

    def _reuse_spare(self, source: PublishedTrack) -> Outbound | None:
        spare = next((s for s in self._spare if self._reusable(s, source)), None)
        if spare is None:
            return None
        self._spare.remove(spare)
        spare.track.retarget(source, track_id=source.id)
        # aiortc writes the msid track id from the sender's record of its track.
        spare.transceiver.sender.replaceTrack(spare.track)
        set_sender_stream_id(spare.transceiver.sender, source.publisher_id)
        spare.sender.new_stream()
        out = Outbound(
            source=source, track=spare.track, transceiver=spare.transceiver, sender=spare.sender
        )
        self.outbound[source.id] = out
        self._negotiation_pending = True
        return out

    def _create_outbound(self, source: PublishedTrack) -> Outbound:
        reused = self._reuse_spare(source)
        if reused is not None:
            return reused
        track = ForwardingTrack(source, track_id=source.id)
        transceiver = self.pc.addTransceiver(track, direction="sendonly")
        transceiver.setCodecPreferences(forwarding_preferences(source.kind, source.codec))
        intercept_keyframe_requests(transceiver.sender, track.request_keyframe)

        def started() -> None:
            codec, current = sender.codec, track.source  # a reused m-line has a new source
            if codec is not None and codec.mimeType.lower() != current.codec.mimeType.lower():
                # Forwarding never transcodes: this subscriber cannot decode the publisher.
                logger.warning(
                    "%s: %s negotiated %s, publisher sends %s",
                    self.participant_id,
                    current.id,
                    codec.mimeType,
                    current.codec.mimeType,
                )
            track.resync()

        sender = PacketSender(transceiver.sender, on_start=started)
        track.bind(sender)
        # Browsers group remote tracks by msid stream: one stream per publisher.
        set_sender_stream_id(transceiver.sender, source.publisher_id)
        out = Outbound(source=source, track=track, transceiver=transceiver, sender=sender)
        self.outbound[source.id] = out
        self._negotiation_pending = True
        return out

    # ---- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        """End this participant's publications and close the peer connection."""
        if self._closed:
            return
        self._closed = True
        for published in self.published.values():
            published.end()
        for out in [*self.outbound.values(), *self._spare]:
            out.track.stop()
        self.outbound.clear()
        self._spare.clear()
        await self.pc.close()

    def _assert_open(self) -> None:
        if self._closed:
            raise NegotiationError(f"{self.participant_id}: peer is closed")

    def _on_track(self, track: MediaStreamTrack) -> None:
        transceiver = next(
            (t for t in self.pc.getTransceivers() if t.receiver.track is track), None
        )
        if transceiver is None or transceiver.mid is None:
            logger.error("%s: track event without a negotiated transceiver", self.participant_id)
            return
        codecs = [c for c in negotiated_codecs(transceiver) if not is_rtx(c)]
        if not codecs:
            logger.error("%s: no media codec negotiated for %s", self.participant_id, track.kind)
            return
        kind = cast(MediaKind, transceiver.kind)
        published = PublishedTrack(
            publisher_id=self.participant_id,
            kind=kind,
            mid=transceiver.mid,
            codec=codecs[0],
            receiver=transceiver.receiver,
            incarnation=self.incarnation,
            keyframe_interval_s=self._config.keyframe_request_interval_s,
            max_bitrate_bps=self._config.max_video_bitrate_bps,
        )
        self.published[published.id] = published
        self._on_track_published(self, published)

    def _on_connection_state_change(self) -> None:
        if self.connection_state == "connected":
            receive_media_inline(self.pc)
        self._on_connection_state(self, self.connection_state)
