"""The media side of a room: server peers keyed by participant id, and who receives whom.

The signaling layer decides subscriptions (main room, caucus groups) and relays SDP; this class
enforces the subscriptions at frame level, so a participant receives media only from the
publishers it is allowed to.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from .active_speaker import ActiveSpeakerDetector
from .config import MediaConfig
from .errors import NegotiationError, RoomFullError, UnknownParticipantError
from .frame import FrameSink, MediaKind
from .publication import PublishedTrack
from .server_peer import ServerPeer

logger = logging.getLogger(__name__)


class MediaRoomObserver:
    """Events a `MediaRoom` reports; subclass and override what you need (all are no-ops).

    Every method is called synchronously on the event loop and must not block; start a task for
    anything slow (e.g. sending an offer over socket.io).
    """

    def track_published(self, room: MediaRoom, track: PublishedTrack) -> None:
        """A participant's track is being received: recorder/transcriber may `add_sink` now."""

    def track_ended(self, room: MediaRoom, track: PublishedTrack) -> None:
        """A published track ended (its publisher left or was replaced)."""

    def negotiation_needed(self, room: MediaRoom, participant_id: str) -> None:
        """Forwarding to `participant_id` changed: call `room.create_offer(participant_id)`,
        send the offer to the client, and pass its answer to `room.handle_answer`."""

    def connection_state_changed(self, room: MediaRoom, participant_id: str, state: str) -> None:
        """`state` is "connecting", "connected", "failed" or "closed". On "failed" the client
        must reconnect with a new peer connection (aiortc cannot ICE-restart): `add_peer` again
        with the same id, then the client's new offer."""

    def active_speaker_changed(self, room: MediaRoom, participant_id: str | None) -> None:
        """The loudest participant (from RFC 6464 audio levels) changed; None: nobody speaks."""


class MediaRoom:
    """Owns one `ServerPeer` per participant and routes published tracks between them.

    Typical flow for the signaling layer::

        room = MediaRoom("case-42", MediaConfig(ice_servers=(...,)), observer)
        await room.add_peer("alice")                       # on join
        room.set_subscriptions("alice", None)              # main room: everyone
        answer_sdp = await room.handle_offer("alice", offer_sdp)   # client's first offer
        # observer.negotiation_needed(room, "alice") ->
        offer_sdp = await room.create_offer("alice"); ...; await room.handle_answer("alice", sdp)
        room.set_subscriptions("alice", {"mediator"})      # caucus: only the mediator
        await room.remove_peer("alice")                    # on leave
    """

    def __init__(
        self,
        room_id: str = "",
        config: MediaConfig | None = None,
        observer: MediaRoomObserver | None = None,
    ) -> None:
        self.room_id = room_id
        self.config = config or MediaConfig()
        self._observers: list[MediaRoomObserver] = [observer] if observer else []
        self._peers: dict[str, ServerPeer] = {}
        # None: every publisher (present and future); a set: only those publishers.
        self._subscriptions: dict[str, frozenset[str] | None] = {}
        self._muted: dict[tuple[str, MediaKind], bool] = {}
        self._negotiation_scheduled: set[str] = set()
        # Peer connections created per participant so far (kept after remove_peer: a
        # participant who leaves and comes back must not reuse a track id).
        self._incarnations: dict[str, int] = {}
        self._speakers = ActiveSpeakerDetector(
            self._emit_active_speaker, interval_s=self.config.active_speaker_interval_s
        )
        self._closed = False

    # ---- observers ---------------------------------------------------------------------------

    def add_observer(self, observer: MediaRoomObserver) -> None:
        self._observers.append(observer)

    def remove_observer(self, observer: MediaRoomObserver) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    # ---- participants ------------------------------------------------------------------------

    @property
    def participant_ids(self) -> list[str]:
        return list(self._peers)

    @property
    def active_speaker(self) -> str | None:
        return self._speakers.active_speaker

    def peer(self, participant_id: str) -> ServerPeer:
        """The server peer of a participant (for stats and tests)."""
        try:
            return self._peers[participant_id]
        except KeyError:
            raise UnknownParticipantError(participant_id) from None

    async def add_peer(self, participant_id: str) -> ServerPeer:
        """Create the server peer of a participant, waiting for the client's first offer.

        Calling it again for a present participant is a reconnect: the old peer connection is
        closed (its tracks end) and a fresh one replaces it; subscriptions and mute state stay.
        """
        if self._closed:
            raise NegotiationError(f"room {self.room_id} is closed")
        limit = self.config.max_participants
        if participant_id not in self._peers and limit is not None and len(self._peers) >= limit:
            raise RoomFullError(f"room {self.room_id} is full ({limit} participants)")
        old = self._peers.pop(participant_id, None)
        if old is not None:
            await self._close_peer(old)
        incarnation = self._incarnations.get(participant_id, 0) + 1
        self._incarnations[participant_id] = incarnation
        peer = ServerPeer(
            participant_id,
            self.config,
            on_track_published=self._on_track_published,
            on_connection_state=self._on_connection_state,
            incarnation=incarnation,
        )
        self._peers[participant_id] = peer
        self._subscriptions.setdefault(participant_id, frozenset())
        self._speakers.start()
        return peer

    async def remove_peer(self, participant_id: str) -> None:
        """Close the participant's peer; its tracks end and stop being forwarded."""
        peer = self._peers.pop(participant_id, None)
        self._subscriptions.pop(participant_id, None)
        self._negotiation_scheduled.discard(participant_id)
        for key in [k for k in self._muted if k[0] == participant_id]:
            del self._muted[key]
        if peer is not None:
            await self._close_peer(peer)

    async def close(self) -> None:
        """Close every peer and stop background work."""
        self._closed = True
        for pid in list(self._peers):
            await self.remove_peer(pid)
        await self._speakers.stop()

    # ---- signaling ---------------------------------------------------------------------------

    async def handle_offer(self, participant_id: str, sdp: str, type: str = "offer") -> str:
        """Apply the client's offer (normally its first) and return the answer SDP.

        Raises `NegotiationError` for malformed SDP or a wrong signaling state; the room and its
        other peers are unaffected.
        """
        if type != "offer":
            raise NegotiationError(f"expected an offer, got {type!r}")
        peer = self.peer(participant_id)
        answer = await peer.handle_offer(sdp)
        # Forwarding starts only now: transceivers the server added before the client's first
        # offer would be matched to the client's own m-lines by aiortc.
        self._reconcile(participant_id)
        return answer

    async def create_offer(self, participant_id: str) -> str:
        """The server's renegotiation offer for a participant (after `negotiation_needed`)."""
        return await self.peer(participant_id).create_offer()

    async def handle_answer(self, participant_id: str, sdp: str, type: str = "answer") -> None:
        """Apply the client's answer to `create_offer`'s offer."""
        if type != "answer":
            raise NegotiationError(f"expected an answer, got {type!r}")
        await self.peer(participant_id).handle_answer(sdp)
        # Changes made while the offer was outstanding need another round.
        self._schedule_negotiation(participant_id)

    async def add_ice_candidate(
        self,
        participant_id: str,
        candidate: str | None,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
    ) -> None:
        """Add a remote ICE candidate trickled by the client; None/"" means end of candidates."""
        await self.peer(participant_id).add_ice_candidate(candidate, sdp_mid, sdp_mline_index)

    # ---- subscriptions and mute --------------------------------------------------------------

    def set_subscriptions(self, participant_id: str, publisher_ids: Iterable[str] | None) -> None:
        """Allow `participant_id` to receive exactly these publishers (None: all of them).

        Takes effect immediately at frame level: a revoked publisher's frames stop, queued ones
        are discarded. Transceiver directions follow through a server-initiated renegotiation.
        """
        self.peer(participant_id)
        allowed = None if publisher_ids is None else frozenset(publisher_ids)
        self._subscriptions[participant_id] = allowed
        self._reconcile(participant_id)

    def subscriptions(self, participant_id: str) -> frozenset[str] | None:
        self.peer(participant_id)
        return self._subscriptions.get(participant_id, frozenset())

    def may_receive(self, subscriber_id: str, publisher_id: str) -> bool:
        if subscriber_id == publisher_id:
            return False
        allowed = self._subscriptions.get(subscriber_id, frozenset())
        return allowed is None or publisher_id in allowed

    def set_muted(self, participant_id: str, kind: MediaKind, muted: bool) -> None:
        """Pause/resume forwarding (and taps) of a participant's audio or video."""
        self.peer(participant_id)
        self._muted[(participant_id, kind)] = muted
        for track in self.published_tracks(participant_id):
            if track.kind == kind:
                track.set_muted(muted)

    def published_tracks(self, participant_id: str | None = None) -> list[PublishedTrack]:
        """Live published tracks, of one participant or of everyone."""
        peers = [self.peer(participant_id)] if participant_id else list(self._peers.values())
        return [t for p in peers for t in p.published.values() if not t.ended]

    def add_sink(self, track_id: str, sink: FrameSink) -> None:
        """Attach a tap (recorder, transcriber) to a published track by id."""
        for track in self.published_tracks():
            if track.id == track_id:
                track.add_sink(sink)
                return
        raise KeyError(track_id)

    # ---- internals ---------------------------------------------------------------------------

    def _reconcile(self, subscriber_id: str) -> None:
        peer = self._peers.get(subscriber_id)
        if peer is None or peer.closed or not peer.offer_answered:
            return
        for track in self.published_tracks():
            if self.may_receive(subscriber_id, track.publisher_id):
                peer.forward(track)
            else:
                peer.stop_forwarding(track.id)
        self._schedule_negotiation(subscriber_id)

    def _on_track_published(self, peer: ServerPeer, track: PublishedTrack) -> None:
        track.set_muted(self._muted.get((peer.participant_id, track.kind), False))
        if track.kind == "audio":
            track.add_sink(self._speakers.sink_for(peer.participant_id))
        track.add_sink(_EndNotifier(self, track))
        for observer in tuple(self._observers):
            observer.track_published(self, track)
        for subscriber_id in self._peers:
            if subscriber_id != peer.participant_id:
                self._reconcile(subscriber_id)

    def _on_track_ended(self, track: PublishedTrack) -> None:
        for peer in self._peers.values():
            if track.id in peer.outbound:
                peer.stop_forwarding(track.id, retire=True)
                self._schedule_negotiation(peer.participant_id)
        for observer in tuple(self._observers):
            observer.track_ended(self, track)

    def _on_connection_state(self, peer: ServerPeer, state: str) -> None:
        if self._peers.get(peer.participant_id) is not peer:
            return  # a replaced peer closing
        for observer in tuple(self._observers):
            observer.connection_state_changed(self, peer.participant_id, state)

    def _schedule_negotiation(self, participant_id: str) -> None:
        # Coalesce every change made in this loop iteration into one offer.
        if participant_id in self._negotiation_scheduled:
            return
        self._negotiation_scheduled.add(participant_id)
        asyncio.get_running_loop().call_soon(self._emit_negotiation_needed, participant_id)

    def _emit_negotiation_needed(self, participant_id: str) -> None:
        self._negotiation_scheduled.discard(participant_id)
        peer = self._peers.get(participant_id)
        if peer is None or not peer.wants_offer:
            return
        for observer in tuple(self._observers):
            observer.negotiation_needed(self, participant_id)

    def _emit_active_speaker(self, participant_id: str | None) -> None:
        for observer in tuple(self._observers):
            observer.active_speaker_changed(self, participant_id)

    async def _close_peer(self, peer: ServerPeer) -> None:
        self._speakers.forget(peer.participant_id)
        for track in list(peer.published.values()):
            track.end()
        try:
            await peer.close()
        except Exception:
            logger.exception("closing %r failed", peer)


class _EndNotifier:
    """FrameSink that tells the room when a published track ends."""

    def __init__(self, room: MediaRoom, track: PublishedTrack) -> None:
        self._room = room
        self._track = track

    def on_frame(self, frame: object) -> None:
        return None

    def on_end(self) -> None:
        self._room._on_track_ended(self._track)
