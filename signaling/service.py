"""The live room's orchestration: rooms, their features, and what every client event does.

One `SignalingService` per application. Room rules live in `signaling.room.Room` (pure state);
media lives in `server.rtc.MediaRoom`; this module connects the two and the clients, and writes
every change that matters to the audit log. It creates rooms (restoring one saved before a
restart), runs the lobby, caucus, chat and negotiation with the server peer, plugs the features
in, and closes rooms (one that ended, or all of them at shutdown).

It leaves to others what is not the room's: the socket.io server, the sockets' identities and
the checks every event passes before it gets here (`signaling.transport`), the saved state that
survives a restart (`signaling.room_store`) and /metrics (`signaling.room_metrics`). This module
does not import socket.io: the live room will later run in a media worker process per core,
where the clients' events arrive by another way, and only the transport changes.
`attach()` wires the parts into the aiohttp application.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiortc import RTCIceServer

from server.models import Invite, MediationSession, Outcome, SessionStatus
from server.rtc.config import MediaConfig
from server.rtc.errors import MediaError
from server.rtc.publication import PublishedTrack
from server.rtc.room import MediaRoom, MediaRoomObserver
from server.rtc.turn_credentials import ice_credentials
from server.state import AppState
from server.zones import zone_of
from signaling import protocol as p
from signaling.audit_batch import AuditBatch
from signaling.connections import ConnectionGuard
from signaling.feature import RoomFeature
from signaling.identity import Identity
from signaling.live_room import LiveRoom
from signaling.protocol import SignalingError
from signaling.room import STAFF_KINDS, Member, Presence, Room
from signaling.room_metrics import RoomMetrics
from signaling.room_store import HEARTBEAT_SECONDS, RoomStore
from signaling.routing import LocalRouter, RedisRouter, RoomRouter
from signaling.throttle import EventThrottle
from signaling.transport import SocketServer, SocketTransport, socket_server

log = logging.getLogger(__name__)


class _MediaObserver(MediaRoomObserver):
    def __init__(self, service: SignalingService, live: LiveRoom) -> None:
        self.service = service
        self.live = live

    def negotiation_needed(self, room: MediaRoom, participant_id: str) -> None:
        self.service.spawn(self.service._send_offer(self.live, participant_id))

    def connection_state_changed(self, room: MediaRoom, participant_id: str, state: str) -> None:
        if state == "failed":
            self.service.spawn(self.service._media_failed(self.live, participant_id))

    def active_speaker_changed(self, room: MediaRoom, participant_id: str | None) -> None:
        self.service.spawn(self.service._active_speaker(self.live, participant_id))

    def track_published(self, room: MediaRoom, track: PublishedTrack) -> None:
        for feature in self.service.features:
            feature.on_track(self.live, track)


class SignalingService:
    def __init__(
        self, state: AppState, sio: SocketServer, router: RoomRouter | None = None
    ) -> None:
        self.state = state
        self.router: RoomRouter = router or LocalRouter()
        self.rooms: dict[str, LiveRoom] = {}
        self._stopping = False
        # When this server process came up: the end of any outage its rooms resume from.
        self.up_since = datetime.now(UTC)
        # One room creation (and restore from the database) at a time.
        self._creating = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        # The room's features, in the order they run at every moment (see signaling/feature.py).
        self.features: list[RoomFeature] = []
        self.transport = SocketTransport(
            state, sio, joined=self._joined, gone=self._socket_gone
        )
        self.store = RoomStore(state.db, self.rooms)
        self.room_metrics = RoomMetrics(state.metrics, self.rooms)
        self.audit_batch = AuditBatch(state.db)
        self._register()

    @property
    def sio(self) -> SocketServer:
        return self.transport.sio

    @property
    def guard(self) -> ConnectionGuard:
        return self.transport.guard

    @property
    def throttle(self) -> EventThrottle:
        return self.transport.throttle

    # --- plumbing ---------------------------------------------------------------------------
    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("signaling task failed", exc_info=task.exception())

    def media_config(self) -> MediaConfig:
        s = self.state.settings
        return MediaConfig(
            ice_servers=tuple(
                RTCIceServer(urls=srv.urls, username=username, credential=credential)
                for srv in s.ice_servers
                for username, credential in [
                    ice_credentials(
                        srv, f"server-{s.node_name or 'node'}", s.turn_credential_ttl_seconds
                    )
                ]
            ),
            max_participants=s.room_max_participants,
            max_video_bitrate_bps=s.room_max_bitrate_kbps * 1000,
        )

    async def _live(self, ident: Identity) -> LiveRoom:
        live = self.rooms.get(ident.session_id)
        if live is not None:
            return live
        async with self._creating:
            live = self.rooms.get(ident.session_id)
            if live is not None:
                return live
            owner = await self.router.claim(ident.session_id)
            if owner != self.router.node:
                raise SignalingError(
                    "wrong_node",
                    f"本调解室由节点 {owner} 承载 / this room is served by node {owner}",
                )
            room = Room(
                ident.session_id,
                ident.court_id,
                ident.case_number,
                max_participants=self.state.settings.room_max_participants,
            )
            media = MediaRoom(ident.session_id, self.media_config())
            live = LiveRoom(room, media)
            media.add_observer(_MediaObserver(self, live))
            resume = await self._restore(live)
            self.rooms[ident.session_id] = live
            self.room_metrics.count_rooms()
        if resume:
            await self._resume_recording(live)
        return live

    # --- state that survives a restart ---------------------------------------------------------
    async def _restore(self, live: LiveRoom) -> bool:
        """Load the room's saved state after a restart; True when its recording must resume."""
        restored = await self.store.restore(live, self.up_since)
        if restored is None:
            return False
        for m in restored.seated:
            self._start_grace(live, m.pid)
        return restored.resume

    async def _resume_recording(self, live: LiveRoom) -> None:
        """Recording was on when the server went away: a new segment starts at once, and the
        gap goes into its event log (and so its sealed manifest) and the records list."""
        gap = live.resumed_gap
        details = gap.details() if gap else {}
        for feature in self.features:
            try:
                await feature.on_start(live)
            except Exception:
                log.exception("room %s: resuming %s failed", live.session_id, feature.name)
        await self.log_event(live, "session.resumed", "system", **details)
        self._save_soon(live)

    def _save_soon(self, live: LiveRoom) -> None:
        if live.save_pending or live.room.ended or self._stopping:
            return
        live.save_pending = True
        self.spawn(self.store.save(live))

    async def heartbeat(self, interval: float = HEARTBEAT_SECONDS) -> None:
        """Mark the live rooms alive: after a crash, the last beat is where the gap began."""
        await self.store.heartbeat(interval)

    async def _tell_about_gap(self, live: LiveRoom, m: Member) -> None:
        gap = live.resumed_gap
        if gap is None or m.kind not in STAFF_KINDS or m.pid in live.gap_told or m.sid is None:
            return
        live.gap_told.add(m.pid)
        # Told in the court's own time: that is the clock on the staff's wall.
        async with self.state.db.session() as db:
            local = await zone_of(db, live.room.court_id)
        span = f"{gap.start.astimezone(local):%H:%M:%S}–{gap.end.astimezone(local):%H:%M:%S}"
        recording = "，录制已自动恢复为新的片段" if live.room.recording_active else ""
        await self.emit(
            "room_notice",
            {
                "reason": "server_restarted",
                "participant_id": m.pid,
                "display_name": m.display_name,
                "message": f"服务器中断 {span}{recording} / the server was down {span}"
                + ("; recording resumed as a new segment" if recording else ""),
                **gap.details(),
            },
            m.sid,
        )

    async def emit(self, event: str, data: Any, sid: str | None) -> None:
        await self.transport.emit(event, data, sid)

    async def broadcast_state(self, live: LiveRoom) -> None:
        # Every change that matters is broadcast, so this is where it is also saved.
        self._save_soon(live)
        for m in list(live.room.members.values()):
            if m.sid is not None:
                await self.emit("room_state", live.room.snapshot(m.pid), m.sid)
        self.room_metrics.count_participants()

    async def log_event(self, live: LiveRoom, action: str, actor: str, **details: Any) -> None:
        """Audit row (database) + room event hooks (the sealed record's event log)."""
        await self.audit_batch.write(
            actor=actor,
            action=action,
            court_id=live.room.court_id,
            session_id=live.session_id,
            target=str(details.get("participant_id", "")),
            **details,
        )
        for feature in self.features:
            await feature.on_event(live, action, actor, details)

    async def sync_media(self, live: LiveRoom) -> None:
        """Make the forwarder match the room: peers only for admitted, connected members;
        each receives only its own group."""
        subs = live.room.subscriptions()
        for pid in list(live.media.participant_ids):
            if pid not in live.media.participant_ids:
                # Removed while an earlier removal was awaited (a disconnect, or the room
                # closing at shutdown): nothing left to match.
                continue
            if pid in subs:
                live.media.set_subscriptions(pid, subs[pid])
            else:
                await live.media.remove_peer(pid)
        self.room_metrics.count_tracks()

    # --- client events ------------------------------------------------------------------------
    def _register(self) -> None:
        handlers: dict[str, tuple[type[p.Event], Callable[..., Awaitable[Any]]]] = {
            "join": (p.JoinEvent, self.on_join),
            "leave": (p.Empty, self.on_leave),
            "lobby_status": (p.Empty, self.on_lobby_status),
            "recording_ack": (p.RecordingAck, self.on_recording_ack),
            "admit": (p.AdmitEvent, self.on_admit),
            "deny": (p.DenyEvent, self.on_deny),
            "return_to_lobby": (p.TargetEvent, self.on_return_to_lobby),
            "offer": (p.SdpEvent, self.on_offer),
            "answer": (p.SdpEvent, self.on_answer),
            "ice_candidate": (p.IceCandidateEvent, self.on_ice_candidate),
            "mute": (p.MuteEvent, self.on_mute),
            "remove_participant": (p.RemoveEvent, self.on_remove),
            "caucus_open": (p.CaucusOpen, self.on_caucus_open),
            "caucus_move": (p.CaucusMove, self.on_caucus_move),
            "caucus_close": (p.Empty, self.on_caucus_close),
            "chat": (p.ChatEvent, self.on_chat),
            "raise_hand": (p.HandEvent, self.on_raise_hand),
            "transcription": (p.TranscriptionToggle, self.on_transcription),
            "captions": (p.CaptionsToggle, self.on_captions),
            "start_session": (p.Empty, self.on_start_session),
            "end_session": (p.EndSession, self.on_end_session),
        }
        self.events = handlers
        for name, (model, fn) in handlers.items():
            self.transport.on(name, model, fn)

    def add_feature(self, feature: RoomFeature) -> None:
        """Plug a feature into every room; features run in the order they are added."""
        for name, (model, fn) in feature.events().items():
            if name in self.events:
                raise ValueError(f"event {name!r} is already handled")
            self.events[name] = (model, fn)
            self.transport.on(name, model, fn)
        self.features.append(feature)

    def _joined(self, sid: str, ident: Identity) -> bool:
        """Is `sid` the socket that joined for `ident`'s participant? Only that one acts for it
        (the transport asks before every event but join)."""
        live = self.rooms.get(ident.session_id)
        return not (
            live is None
            or ident.participant_id not in live.room.members
            or live.room.members[ident.participant_id].sid != sid
        )

    async def _socket_gone(self, sid: str, ident: Identity, reason: Any) -> None:
        """An authenticated socket disconnected: its member (if it still is theirs) waits out
        the reconnect grace."""
        if self._stopping:
            # A server stop is no participant leaving: the saved room keeps their seat.
            return
        live = self.rooms.get(ident.session_id)
        if live is None:
            return
        async with live.lock:
            m = live.room.members.get(ident.participant_id)
            if m is None or m.sid != sid:
                return  # an older socket of someone who already reconnected
            before = m.presence
            live.room.disconnect(ident.participant_id)
            await self.sync_media(live)
            if before == Presence.admitted:
                self._start_grace(live, m.pid)
            await self.broadcast_state(live)
        await self.log_event(
            live,
            "participant.disconnect",
            ident.actor,
            participant_id=ident.participant_id,
            cause=str(reason or "transport"),
            presence_before=before.value,
        )

    async def _notify_staff(
        self, live: LiveRoom, reason: str, about: Member, message: str
    ) -> None:
        """A notice for the mediators and clerks in the room (shown in their alert bar)."""
        payload = {
            "reason": reason,
            "participant_id": about.pid,
            "display_name": about.display_name,
            "message": message,
        }
        for m in list(live.room.members.values()):
            if m.kind in STAFF_KINDS and m.sid is not None and m.pid != about.pid:
                await self.emit("room_notice", payload, m.sid)

    def _start_grace(self, live: LiveRoom, pid: str) -> None:
        """Keep `pid`'s seat for the reconnect grace period, then let it go."""
        live.grace_tasks[pid] = asyncio.get_running_loop().call_later(
            self.state.settings.reconnect_grace_seconds + 0.05,
            lambda: self.spawn(self._expire(live)),
        )

    async def _expire(self, live: LiveRoom) -> None:
        async with live.lock:
            gone = live.room.expire_reconnecting(self.state.settings.reconnect_grace_seconds)
            if gone:
                await self.broadcast_state(live)
        for m in gone:
            await self.log_event(
                live, "participant.reconnect_timeout", "system", participant_id=m.pid
            )

    # --- events -------------------------------------------------------------------------------
    async def _require_link_valid(self, sid: str, ident: Identity) -> None:
        """The link is checked again at join: a socket opened before its link was revoked (or
        expired) must not enter the room afterwards."""
        if ident.invite_id is None:
            return
        async with self.state.db.session() as db:
            invite = await db.get(Invite, ident.invite_id)
        now = datetime.now(UTC)
        expires = invite.expires_at if invite is not None else None
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        if invite is None or invite.revoked_at is not None or (expires and expires <= now):
            await self._dismiss(
                sid, "link_revoked", "链接已失效，请联系书记员 / this link has been revoked"
            )
            raise SignalingError(
                "link_revoked", "链接已失效，请联系书记员 / this link has been revoked"
            )

    async def on_links_revoked(self, invite_ids: set[str]) -> None:
        """Cut off every socket of a revoked link (or ended staff login) now; a participant
        seated through it leaves the room (it can no longer bring them back)."""
        for sid, ident in self.transport.identities():
            # A link by its invite id; a staff login by its actor ("user:<id>") when the
            # account's sessions end (password reset, account disabled).
            if ident.invite_id not in invite_ids and not (
                ident.staff_login and ident.actor in invite_ids
            ):
                continue
            live = self.rooms.get(ident.session_id)
            m = live.room.members.get(ident.participant_id) if live else None
            message = (
                "登录已失效，请重新登录 / your sign-in has ended: sign in again"
                if ident.staff_login
                else "链接已被撤销，请联系书记员 / this link has been revoked"
            )
            await self._dismiss(sid, "link_revoked", message)
            if live is None or m is None or m.sid != sid:
                continue
            async with live.lock:
                live.room.leave(m.pid)
                timer = live.grace_tasks.pop(m.pid, None)
                if timer:
                    timer.cancel()
                await self.sync_media(live)
                await self.broadcast_state(live)
            await self.log_event(
                live, "participant.link_revoked", "system", participant_id=m.pid,
                invite_id=ident.invite_id,
            )

    async def on_join(self, sid: str, ident: Identity, ev: p.JoinEvent) -> dict[str, Any]:
        await self._require_link_valid(sid, ident)
        live = await self._live(ident)
        async with live.lock:
            existing = live.room.members.get(ident.participant_id)
            old_sid = existing.sid if existing else None
            reconnecting_since = existing.disconnected_at if existing else None
            m = live.room.arrive(
                ident.participant_id,
                ident.kind,
                ident.display_name,
                ident.role_label,
                sid,
                self.state.settings.reconnect_grace_seconds,
                staff_login=ident.staff_login,
            )
            m.organisation = ident.organisation
            timer = live.grace_tasks.pop(m.pid, None)
            if timer:
                timer.cancel()
            if ev.consent:
                live.room.consent(m.pid)
            await self.transport.enter_session(sid, ident.session_id)
            replaced = bool(old_sid and old_sid != sid)
            if old_sid and replaced:
                # Same identity from a new tab/device: the newest connection wins, and the
                # mediator is told (a party's link opened on a second device).
                self.transport.forget(old_sid)
                await self.emit(
                    "replaced", {"message": "您已在其他窗口加入 / joined elsewhere"}, old_sid
                )
                self.spawn(self.transport.disconnect(old_sid))
                await self._notify_staff(
                    live,
                    "participant_replaced",
                    m,
                    f"{m.display_name} 已从另一设备加入 / {m.display_name} joined from another "
                    "device",
                )
            await self.sync_media(live)
            await self.broadcast_state(live)
        details: dict[str, Any] = {"participant_id": m.pid, "presence": m.presence.value}
        if reconnecting_since is not None and m.presence == Presence.admitted:
            details["reconnected_after_s"] = round(time.time() - reconnecting_since, 3)
        await self._tell_about_gap(live, m)
        if replaced:
            details["replaced_connection"] = True
        await self.log_event(live, "participant.join", ident.actor, **details)
        if replaced:
            await self.log_event(
                live, "participant.replaced", ident.actor, participant_id=m.pid,
                via="staff_login" if ident.staff_login else "join_link",
            )
        if ev.consent:
            await self.log_event(
                live,
                "consent.recording",
                ident.actor,
                participant_id=m.pid,
                at=datetime.fromtimestamp(m.consented_at or 0, UTC).isoformat(),
            )
        self.guard.joined(sid)
        return {"room": live.room.snapshot(m.pid)}

    async def on_leave(self, sid: str, ident: Identity, ev: p.Empty) -> None:
        live = self.rooms[ident.session_id]
        self.guard.left(sid)
        async with live.lock:
            live.room.leave(ident.participant_id)
            await self.sync_media(live)
            await self.broadcast_state(live)
        await self.log_event(
            live, "participant.leave", ident.actor, participant_id=ident.participant_id
        )

    async def on_lobby_status(self, sid: str, ident: Identity, ev: p.Empty) -> dict[str, Any]:
        room = self.rooms[ident.session_id].room
        me = room.member(ident.participant_id)
        lobby = [m.public() for m in room.members.values() if m.presence == Presence.lobby]
        if me.is_mediator:
            return {"lobby": lobby}
        return {"presence": me.presence.value, "waiting": len(lobby)}

    async def on_recording_ack(self, sid: str, ident: Identity, ev: p.RecordingAck) -> None:
        live = self.rooms[ident.session_id]
        async with live.lock:
            first = live.room.member(ident.participant_id).consented_at is None
            m = live.room.consent(ident.participant_id)
            await self.broadcast_state(live)
        if first:
            await self.log_event(
                live,
                "consent.recording",
                ident.actor,
                participant_id=m.pid,
                at=datetime.fromtimestamp(m.consented_at or 0, UTC).isoformat(),
            )

    async def _mediator_change(
        self, ident: Identity, action: str, change: Callable[[Room], Any], **details: Any
    ) -> Any:
        live = self.rooms[ident.session_id]
        async with live.lock:
            result = change(live.room)
            await self.sync_media(live)
            await self.broadcast_state(live)
        await self.log_event(live, action, ident.actor, **details)
        return result

    async def on_admit(self, sid: str, ident: Identity, ev: p.AdmitEvent) -> None:
        live = self.rooms[ident.session_id]
        target = live.room.members.get(ev.participant_id)
        overridden = bool(
            live.room.identity_required
            and target is not None
            and target.kind == "party"
            and not target.verified
        )
        # What the record says of this admission: was the identity verified, and if not, was
        # a written reason given (the sealed manifest and the documents derive it from here).
        verified = bool(target is not None and target.verified)
        facts: dict[str, Any] = {"identity_verified": verified}
        if not verified and ev.override_reason.strip():
            facts["override_reason"] = ev.override_reason.strip()
        m = await self._mediator_change(
            ident,
            "lobby.admit",
            lambda r: r.admit(ident.participant_id, ev.participant_id, ev.override_reason),
            participant_id=ev.participant_id,
            **facts,
        )
        if overridden:
            await self.log_event(
                live,
                "identity.override",
                ident.actor,
                participant_id=m.pid,
                reason=ev.override_reason,
            )
        await self.emit("admitted", {"participant_id": m.pid}, m.sid)

    async def on_deny(self, sid: str, ident: Identity, ev: p.DenyEvent) -> None:
        m = await self._mediator_change(
            ident,
            "lobby.deny",
            lambda r: r.deny(ident.participant_id, ev.participant_id),
            participant_id=ev.participant_id,
            reason=ev.reason,
        )
        await self._dismiss(m.sid, "denied", ev.reason or "调解员未准许进入 / not admitted")

    async def on_return_to_lobby(self, sid: str, ident: Identity, ev: p.TargetEvent) -> None:
        m = await self._mediator_change(
            ident,
            "lobby.return",
            lambda r: r.return_to_lobby(ident.participant_id, ev.participant_id),
            participant_id=ev.participant_id,
        )
        await self.emit("returned_to_lobby", {"participant_id": m.pid}, m.sid)

    async def on_remove(self, sid: str, ident: Identity, ev: p.RemoveEvent) -> None:
        m = await self._mediator_change(
            ident,
            "participant.remove",
            lambda r: r.remove(ident.participant_id, ev.participant_id),
            participant_id=ev.participant_id,
            reason=ev.reason,
        )
        await self._dismiss(
            m.sid, "removed", ev.reason or "您已被调解员移出 / removed by the mediator"
        )

    async def _dismiss(self, sid: str | None, event: str, message: str) -> None:
        if sid is None:
            return
        await self.emit(event, {"message": message}, sid)
        self.transport.forget(sid)
        self.spawn(self.transport.disconnect(sid))

    async def on_offer(self, sid: str, ident: Identity, ev: p.SdpEvent) -> dict[str, Any]:
        live = self.rooms[ident.session_id]
        m = live.room.member(ident.participant_id)
        checked = m.presence == Presence.lobby and m.pid in live.room.checks
        if m.presence != Presence.admitted and not checked:
            raise SignalingError("not_admitted", "请等待调解员准许进入 / wait to be admitted")
        if ev.type != "offer":
            raise SignalingError("validation_error", "需要 offer / expected an offer")
        # Every client offer starts a new peer connection (first join or reconnect); later
        # changes are offered by the server.
        async with live.lock:
            await live.media.add_peer(m.pid)
            # Nothing is forwarded until the client's own offer is answered: server-added
            # transceivers before the first remote offer would break the answer's m-lines.
            live.media.set_subscriptions(m.pid, set())
            live.media.set_muted(m.pid, "audio", m.audio_muted)
            live.media.set_muted(m.pid, "video", m.video_muted)
            answer = await live.media.handle_offer(m.pid, ev.sdp, "offer")
            await self.sync_media(live)
        return {"sdp": answer, "type": "answer"}

    async def on_answer(self, sid: str, ident: Identity, ev: p.SdpEvent) -> None:
        if ev.type != "answer":
            raise SignalingError("validation_error", "需要 answer / expected an answer")
        await self.rooms[ident.session_id].media.handle_answer(ident.participant_id, ev.sdp)

    async def on_ice_candidate(self, sid: str, ident: Identity, ev: p.IceCandidateEvent) -> None:
        await self.rooms[ident.session_id].media.add_ice_candidate(
            ident.participant_id, ev.candidate, ev.sdpMid, ev.sdpMLineIndex
        )

    async def _send_offer(self, live: LiveRoom, pid: str) -> None:
        m = live.room.members.get(pid)
        if m is None or m.sid is None:
            return
        try:
            sdp = await live.media.create_offer(pid)
        except MediaError as exc:
            log.info("no offer for %s: %s", pid, exc)
            return
        await self.emit("offer", {"sdp": sdp, "type": "offer"}, m.sid)

    async def _media_failed(self, live: LiveRoom, pid: str) -> None:
        m = live.room.members.get(pid)
        await self.log_event(live, "media.failed", "system", participant_id=pid)
        if m is not None and m.sid is not None:
            await self.emit(
                "media_failed",
                {"message": "媒体连接中断，正在重连 / media connection lost, reconnecting"},
                m.sid,
            )

    async def _active_speaker(self, live: LiveRoom, pid: str | None) -> None:
        speaker = live.room.members.get(pid) if pid else None
        group = speaker.group if speaker else None
        # A copy: members may arrive while the emits below are awaited.
        for m in list(live.room.members.values()):
            if m.sid is None or m.presence != Presence.admitted:
                continue
            # Across caucus groups not even "who is talking" leaks.
            visible = pid if speaker is not None and m.group == group else None
            await self.emit("active_speaker", {"participant_id": visible}, m.sid)

    async def on_mute(self, sid: str, ident: Identity, ev: p.MuteEvent) -> None:
        target = ev.participant_id or ident.participant_id
        live = self.rooms[ident.session_id]
        async with live.lock:
            m = live.room.set_mute(ident.participant_id, target, ev.kind, ev.muted)
            if target in live.media.participant_ids:
                live.media.set_muted(target, ev.kind, ev.muted)
            await self.broadcast_state(live)
        if target != ident.participant_id:
            await self.emit("muted", {"kind": ev.kind, "muted": ev.muted, "by": "mediator"}, m.sid)
            await self.log_event(
                live,
                "participant.mute",
                ident.actor,
                participant_id=target,
                kind=ev.kind,
                muted=ev.muted,
            )

    async def on_caucus_open(self, sid: str, ident: Identity, ev: p.CaucusOpen) -> dict[str, Any]:
        groups = [(g.name, g.members) for g in ev.groups]
        created = await self._mediator_change(
            ident,
            "caucus.open",
            lambda r: r.open_caucus(ident.participant_id, groups),
            groups=[{"name": n, "members": ms} for n, ms in groups],
        )
        return {"groups": created}

    async def on_caucus_move(self, sid: str, ident: Identity, ev: p.CaucusMove) -> None:
        await self._mediator_change(
            ident,
            "caucus.move",
            lambda r: r.move(ident.participant_id, ev.participant_id, ev.group_id),
            participant_id=ev.participant_id,
            group_id=ev.group_id,
        )

    async def on_caucus_close(self, sid: str, ident: Identity, ev: p.Empty) -> None:
        await self._mediator_change(
            ident, "caucus.close", lambda r: r.close_caucus(ident.participant_id)
        )

    async def on_chat(self, sid: str, ident: Identity, ev: p.ChatEvent) -> None:
        live = self.rooms[ident.session_id]
        me = live.room.member(ident.participant_id)
        if me.presence != Presence.admitted:
            raise SignalingError("not_admitted", "请等待调解员准许进入 / wait to be admitted")
        msg = {
            "from": me.pid,
            "display_name": me.display_name,
            "role_label": me.role_label,
            "text": ev.text,
            "at": datetime.now(UTC).isoformat(),
            "group": me.group,
        }
        # In the record before anyone sees it: the sealed log never misses what the room saw.
        await self.log_event(
            live, "chat.message", ident.actor, participant_id=me.pid, group=me.group, text=ev.text
        )
        for m in live.room.group_members(me.group):
            await self.emit("chat", msg, m.sid)

    async def on_raise_hand(self, sid: str, ident: Identity, ev: p.HandEvent) -> None:
        live = self.rooms[ident.session_id]
        async with live.lock:
            live.room.member(ident.participant_id).hand_raised = ev.raised
            await self.broadcast_state(live)

    async def on_transcription(self, sid: str, ident: Identity, ev: p.TranscriptionToggle) -> None:
        def change(r: Room) -> None:
            r.require_mediator(ident.participant_id)
            r.transcription = ev.enabled

        await self._mediator_change(ident, "transcription.toggle", change, enabled=ev.enabled)

    async def on_captions(self, sid: str, ident: Identity, ev: p.CaptionsToggle) -> dict[str, Any]:
        off = self.rooms[ident.session_id].captions_off
        if ev.enabled:
            off.discard(ident.participant_id)
        else:
            off.add(ident.participant_id)
        return {"enabled": ev.enabled}

    async def on_start_session(self, sid: str, ident: Identity, ev: p.Empty) -> dict[str, Any]:
        live = self.rooms[ident.session_id]
        async with live.lock:
            me = live.room.require_mediator(ident.participant_id)
            if me.consented_at is None:
                raise SignalingError(
                    "no_consent", "请先确认录制告知 / acknowledge the recording notice first"
                )
            if live.room.started:
                return {"already": True}
            live.room.started = True
        async with self.state.db.session() as db:
            session = await db.get(MediationSession, ident.session_id)
            if session is not None and session.status == SessionStatus.scheduled:
                session.status = SessionStatus.live
                session.started_at = datetime.now(UTC)
        for feature in self.features:
            await feature.on_start(live)
        await self.log_event(live, "session.start", ident.actor)
        async with live.lock:
            await self.broadcast_state(live)
        await self.transport.emit_to_session(
            "session_started", {"recording": live.room.recording_active}, ident.session_id
        )
        return {}

    async def on_end_session(self, sid: str, ident: Identity, ev: p.EndSession) -> None:
        live = self.rooms[ident.session_id]
        live.room.require_mediator(ident.participant_id)
        for feature in self.features:
            await feature.check_end(live, ev)
        async with live.lock:
            if live.room.ended:
                raise SignalingError("session_ended", "调解已结束 / this session has ended")
            live.room.ended = True
        end_details: dict[str, Any] = {"outcome": ev.outcome.value, "note": ev.note}
        if ev.no_agreement_reason.strip():
            end_details["no_agreement_reason"] = ev.no_agreement_reason.strip()
        await self.log_event(live, "session.end", ident.actor, **end_details)
        for feature in self.features:
            await feature.on_end(live, ev.outcome.value, ev.note)
        async with self.state.db.session() as db:
            session = await db.get(MediationSession, ident.session_id)
            if session is not None:
                session.status = SessionStatus.ended
                session.outcome = Outcome(ev.outcome)
                session.outcome_note = ev.note
                session.ended_at = datetime.now(UTC)
        payload = {"outcome": ev.outcome.value, "note": ev.note}
        await self.transport.emit_to_session("session_ended", payload, ident.session_id)
        await self.close_room(live)

    async def close_room(self, live: LiveRoom) -> None:
        for timer in live.grace_tasks.values():
            timer.cancel()
        await live.media.close()
        sids = []
        for m in live.room.members.values():
            if m.sid is not None:
                self.transport.forget(m.sid)
                sids.append(m.sid)
                m.sid = None
        # Disconnect a moment later: the acks of the events being handled now (the mediator's
        # own end_session) must reach the clients first.
        self.spawn(self.transport.disconnect_later(sids, 1.0))
        self.rooms.pop(live.session_id, None)
        await self.store.forget(live.session_id)
        await self.router.release(live.session_id)
        self.room_metrics.count_rooms()

    async def sample_metrics(self, interval: float = 5.0) -> None:
        """Forwarded bytes and bitrate for /metrics (see `RoomMetrics.sample`)."""
        await self.room_metrics.sample(interval)

    async def shutdown(self) -> None:
        """A clean stop (SIGTERM): the rooms stay live in the database and resume on restart.

        Our tasks are cancelled and awaited here, while the database is still open: one cut off
        later, in the middle of a query, left SQLAlchemy's aiosqlite connection closing forever
        and the process never exited."""
        self._stopping = True
        log.info("signaling stopping")
        # Close every client's transport now: a socket left open kept the process alive until
        # its ping timed out (about 20 s) while clients saw a frozen room. The clients see the
        # transport close and reconnect on their own; their seats stay saved as they were.
        await self.transport.close_all()
        for live in self.rooms.values():
            for timer in live.grace_tasks.values():
                timer.cancel()
        for live in list(self.rooms.values()):
            await live.media.close()
            for feature in self.features:
                try:
                    await feature.on_server_stop(live)
                except Exception:
                    log.exception("room %s: %s at server stop failed", live.session_id, feature.name)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            _, stuck = await asyncio.wait(list(self._tasks), timeout=5.0)
            for task in stuck:
                log.warning("task still running at shutdown: %r", task)
        await self.store.mark_stopped()
        log.info("signaling stopped: %d live rooms saved for the restart", len(self.rooms))
        self.rooms.clear()
        await self.router.close()


def attach(app: Any, state: AppState) -> SignalingService:
    """Mount socket.io on the aiohttp app; a Redis manager when scale-out is configured."""
    router: RoomRouter = LocalRouter()
    if state.settings.redis_url:
        router = RedisRouter(state.settings.redis_url, state.settings.node_name or None)
    sio = socket_server(app, state.settings.redis_url)
    service = SignalingService(state, sio, router)

    state.revocations.subscribe(service.on_links_revoked)

    async def _start(_app: Any) -> None:
        service.spawn(service.sample_metrics())
        service.spawn(service.heartbeat())
        await state.revocations.start(state.settings.redis_url)

    async def _shutdown(_app: Any) -> None:
        await state.revocations.stop()
        await service.shutdown()

    app.on_startup.append(_start)
    app.on_shutdown.append(_shutdown)
    return service
