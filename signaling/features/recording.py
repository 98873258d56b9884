"""Recording of live rooms: the room feature that connects the live room to recording/.

The recorder taps published tracks like any subscriber (it is a FrameSink on the track); the
forwarder does not know it exists. Which tracks are recorded follows the room: the main room
always (once the session has started), a caucus group only when the session records caucus.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from recording import RecordingFailure, ServerKey, SessionRecorder, TrackRecorder, folder_facts
from recording import recover_interrupted as _recover
from server import audit
from server.models import Case, MediationSession, Recording, RecordingStatus
from server.rtc.publication import PublishedTrack
from server.server_key import server_key
from server.state import AppState, StateKey
from signaling.context import RoomContext
from signaling.feature import RoomFeature
from signaling.live_room import LiveRoom
from signaling.room import MAIN, Presence

log = logging.getLogger(__name__)

RECORDING: StateKey[LiveRecording] = StateKey("recording")



@dataclass
class RecordingRoomState:
    # The open segment's recorder (None: not recording, or between segments).
    recorder: SessionRecorder | None = None
    # Published track id -> (group it is recorded for, its recorder, the track).
    sinks: dict[str, tuple[str | None, TrackRecorder | None, PublishedTrack]] = field(
        default_factory=dict
    )
    # Events logged before the session started (consents, admissions): written at its start.
    pending: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    row_id: str | None = None


class LiveRecording(RoomFeature):
    """The recording feature (``state.part(RECORDING)``); it seals with the server's key."""

    name = "recording"

    def __init__(self, state: AppState, service: RoomContext) -> None:
        self.state = state
        self.service = service
        self.key = server_key(state)

    # --- hooks ------------------------------------------------------------------------------
    async def on_start(self, live: LiveRoom) -> None:
        st = live.state_of(RecordingRoomState)
        if st.recorder is not None:
            return
        async with self.state.db.session() as db:
            session = await db.get(MediationSession, live.session_id)
            assert session is not None
            case = await db.get(Case, session.case_id)
            record_caucus = session.record_caucus
            case_label = f"{case.case_number}" if case else session.case_id

        def alert(failure: RecordingFailure) -> None:
            self.service.spawn(self._alert(live, failure))

        gap = live.resumed_gap
        details: dict[str, Any] = {"court_id": live.room.court_id}
        if gap is not None:
            # This segment continues a recording the server's outage cut: the gap is part of
            # the sealed record (first event-log entry, hence the manifest's log hash).
            details["resumed_after"] = gap.details()
        rec = await SessionRecorder.start(
            self.state.settings.effective_recordings_dir,
            case_id=case_label,
            session_id=live.session_id,
            key=self.key,
            record_caucus=record_caucus,
            on_failure=alert,
            details=details,
        )
        st.recorder = rec
        st.sinks = {}
        async with self.state.db.session() as db:
            row = Recording(
                session_id=live.session_id,
                court_id=live.room.court_id,
                folder=rec.folder.name,
                record_caucus=record_caucus,
                gap_start=gap.start if gap else None,
                gap_end=gap.end if gap else None,
            )
            db.add(row)
            await db.flush()
            st.row_id = row.id
        # Everything that happened before the start (consents, admissions) goes in first.
        pending, st.pending = st.pending, []
        for action, actor, details in pending:
            await self._write(rec, action, actor, details)
        for m in live.room.members.values():
            if m.presence in (Presence.admitted, Presence.reconnecting):
                await rec.add_participant(m.pid, name=m.display_name, role=m.role_label)
        live.room.recording_active = True
        self.reconcile(live)

    def on_track(self, live: LiveRoom, track: PublishedTrack) -> None:
        if live.state_of(RecordingRoomState).recorder is not None:
            self.reconcile(live)

    async def on_event(
        self, live: LiveRoom, action: str, actor: str, details: dict[str, Any]
    ) -> None:
        st = live.state_of(RecordingRoomState)
        rec = st.recorder
        if rec is None:
            if not live.room.started:
                st.pending.append((action, actor, details))
            return
        if action in ("participant.join", "lobby.admit") and "participant_id" in details:
            m = live.room.members.get(details["participant_id"])
            if m is not None and m.presence == Presence.admitted:
                await rec.add_participant(m.pid, name=m.display_name, role=m.role_label)
        await self._write(rec, action, actor, details)
        self.reconcile(live)

    async def _write(
        self, rec: SessionRecorder, action: str, actor: str, details: dict[str, Any]
    ) -> None:
        pid = details.get("participant_id")
        if action == "consent.recording" and pid:
            await rec.log_consent(pid, accepted=True)
        elif action in ("lobby.admit", "lobby.deny") and pid:
            await rec.log_admission(
                pid,
                admitted=action == "lobby.admit",
                by=actor,
                identity_checked=bool(details.get("identity_verified")),
                override_reason=str(details.get("override_reason") or ""),
            )
        elif action.startswith("caucus."):
            await rec.log_caucus_change(
                group=details.get("group_id"),
                members=details.get("members", [])
                or [m for g in details.get("groups", []) for m in g.get("members", [])],
                by=actor,
            )
        else:
            await rec.log_event(action, actor, details)

    async def on_end(self, live: LiveRoom, outcome: str, note: str) -> None:
        live.room.recording_active = False
        await self._seal_open_segment(
            live, "session.outcome", {"outcome": outcome, "note": note}
        )

    async def on_server_stop(self, live: LiveRoom) -> None:
        """A clean stop (SIGTERM) seals the open segment as a whole one, saying why; the next
        segment starts when the room resumes after the restart (a crash leaves the segment
        open instead, and start-up recovery seals it as interrupted)."""
        await self._seal_open_segment(live, "server.shutdown", {"reason": "server_stop"})

    async def _seal_open_segment(
        self, live: LiveRoom, last_event: str, details: dict[str, Any]
    ) -> None:
        st = live.state_of(RecordingRoomState)
        rec, st.recorder = st.recorder, None
        if rec is None:
            return
        await rec.log_event(last_event, None, details)
        try:
            manifest = await rec.seal()
        except OSError as exc:
            log.error("sealing %s failed: %s (recovered at next start)", rec.folder, exc)
            return
        await self._mark_sealed(rec.folder, RecordingStatus.sealed, manifest)

    async def _mark_sealed(
        self, folder: Path, status: RecordingStatus, manifest: dict[str, Any] | None
    ) -> None:
        size = await record_sealed(self.state, folder, status, "recording.sealed")
        self.state.metrics.recording_bytes.inc(size)

    async def _alert(self, live: LiveRoom, failure: RecordingFailure) -> None:
        live.room.recording_active = False
        payload = {"reason": failure.reason, "message": failure.message}
        for m in live.room.members.values():
            if m.kind in ("mediator", "clerk") and m.sid is not None:
                await self.service.emit("recording_alert", payload, m.sid)
        await self.service.log_event(
            live,
            "recording.failure",
            "system",
            reason=failure.reason,
            message=failure.message,
            file=failure.file or "",
        )
        async with live.lock:
            await self.service.broadcast_state(live)

    # --- which tracks are recorded ----------------------------------------------------------
    def reconcile(self, live: LiveRoom) -> None:
        """Attach/detach track recorders so they follow the room: a participant's move between
        the main room and a caucus group, or a reconnect, starts the next segment."""
        st = live.state_of(RecordingRoomState)
        rec = st.recorder
        if rec is None:
            return
        sinks = st.sinks
        current = {t.id: t for t in live.media.published_tracks()}
        for track_id in list(sinks):
            if track_id not in current:
                _, recorder, _ = sinks.pop(track_id)  # the track ended: it closed its sinks
        for track_id, track in current.items():
            m = live.room.members.get(track.publisher_id)
            wanted: str | None = None
            if m is not None and m.presence == Presence.admitted:
                wanted = m.group
            old = sinks.get(track_id)
            if old is not None and old[0] == wanted:
                continue
            if old is not None and old[1] is not None:
                track.remove_sink(old[1])
                old[1].on_end()
            recorder = None
            if wanted is not None:
                recorder = rec.open_track(
                    track.publisher_id,
                    track.kind,
                    caucus_group=None if wanted == MAIN else wanted,
                    request_keyframe=track.request_keyframe,
                )
                if recorder is not None:
                    track.add_sink(recorder)
            sinks[track_id] = (wanted, recorder, track)


async def record_sealed(
    state: AppState, folder: Path, status: RecordingStatus, action: str, **details: Any
) -> int:
    """Mark a sealed folder's Recording row (status, manifest hash, size) and audit it; returns
    the folder's size."""
    digest, size = await asyncio.to_thread(folder_facts, folder)
    async with state.db.session() as db:
        row = await db.scalar(select(Recording).where(Recording.folder == folder.name))
        if row is not None:
            row.status = status
            row.sealed_at = datetime.now(UTC)
            row.manifest_sha256 = digest
            row.size_bytes = size
            audit.record(
                db,
                actor="system",
                action=action,
                court_id=row.court_id,
                session_id=row.session_id,
                target=row.id,
                status=status.value,
                manifest_sha256=digest,
                **details,
            )
    return size


async def recover_at_startup(state: AppState, key: ServerKey) -> None:
    """Seal recordings that a crash interrupted, and mark them so in the database."""
    recovered = await asyncio.to_thread(_recover, state.settings.effective_recordings_dir, key)
    for item in recovered:
        log.warning("recovered interrupted recording %s (sealed=%s)", item.folder, item.sealed)
        await record_sealed(
            state,
            item.folder,
            RecordingStatus.interrupted,
            "recording.recovered",
            sealed=item.sealed,
            error=item.error or "",
        )
