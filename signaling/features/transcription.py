"""Live transcription of rooms: the room feature that connects the live room to transcript/.

Each participant's published audio track gets its own `SpeakerTranscriber` (a FrameSink on the
track, like the recorder), labelled with the room member's name and role, but only while the
mediator has transcription on. Speech is kept apart by where it was said:

- main room → document ``main`` (the mediation record, 调解笔录);
- a caucus group → document ``caucus:<group id>``, only when the session records caucus
  (`MediationSession.record_caucus`); otherwise caucus speech is not transcribed at all.

Every segment is stored (`transcript_segments`, wall-clock times on the recording's timeline)
and pushed as a ``caption`` event to the members of the group it was said in who have captions
on and were in that group when it was said. Recognition runs off the event loop on one
`RecognitionQueue` per process, created when a room first switches transcription on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from server.config import Settings
from server.models import (
    MediationSession,
    SegmentKind,
    TranscriptSegment,
    new_id,
)
from server.rtc.publication import PublishedTrack
from server.state import AppState
from signaling.context import RoomContext
from signaling.feature import RoomFeature
from signaling.live_room import LiveRoom
from signaling.room import MAIN, Presence
from transcript import (
    FasterWhisperRecognizer,
    ModelError,
    RecognitionQueue,
    Segment,
    SegmentStatus,
    Speaker,
    SpeakerTranscriber,
    Transcript,
    ensure_model,
)
from transcript.segment import Pcm

log = logging.getLogger(__name__)


# How long the end of a session waits for the last utterances to be recognised and stored.
END_DRAIN_TIMEOUT_S = 60.0
# Staff kinds that receive `transcript_update` pushes when a segment is corrected.
EDITOR_KINDS = ("clerk",)


def document_of(group: str) -> str:
    """The transcript document a group's speech goes into."""
    return MAIN if group == MAIN else f"caucus:{group}"


# --- one recogniser and one queue per process ---------------------------------------------
_recognizers: dict[tuple[Path, int, int], FasterWhisperRecognizer] = {}
_recognizers_lock = threading.Lock()
_queue: tuple[asyncio.AbstractEventLoop, tuple[str, int, int], RecognitionQueue] | None = None


def _model_key(settings: Settings) -> tuple[Path, int, int]:
    model_dir = ensure_model(settings.data_dir, settings.asr_model_dir)
    return model_dir.resolve(), settings.asr_threads, settings.asr_workers


def _load_recognizer(settings: Settings) -> FasterWhisperRecognizer:
    """Assemble/verify the model and load it once per process (blocking: run in a thread)."""
    key = _model_key(settings)
    with _recognizers_lock:
        recognizer = _recognizers.get(key)
        if recognizer is None:
            started = time.monotonic()
            recognizer = FasterWhisperRecognizer(key[0], cpu_threads=key[1], workers=key[2])
            _recognizers[key] = recognizer
            log.info("speech model %s loaded in %.1f s", key[0], time.monotonic() - started)
    return recognizer


class LoadingRecognizer:
    """The process's recogniser from the moment it starts loading (in a thread of its own).

    Loading takes seconds. Speech heard meanwhile is already cut into utterances and waits in
    the queue; the worker threads block on the load, not the event loop, and nothing said after
    the switch-on is lost.
    """

    def __init__(self, settings: Settings) -> None:
        self.max_concurrency = settings.asr_workers
        self._loaded: concurrent.futures.Future[FasterWhisperRecognizer] = (
            concurrent.futures.Future()
        )
        threading.Thread(
            target=self._load, args=(settings,), name="asr-load", daemon=True
        ).start()

    def _load(self, settings: Settings) -> None:
        try:
            self._loaded.set_result(_load_recognizer(settings))
        except BaseException as exc:  # reported to whoever awaits ready()
            self._loaded.set_exception(exc)

    @property
    def failed(self) -> bool:
        return self._loaded.done() and self._loaded.exception() is not None

    async def ready(self) -> None:
        """Return once loaded; raise what loading raised."""
        await asyncio.wrap_future(self._loaded)

    def recognize(self, pcm: Pcm) -> str:
        return self._loaded.result().recognize(pcm)


def _queue_key(settings: Settings) -> tuple[str, int, int]:
    return (f"{settings.data_dir}|{settings.asr_model_dir}", settings.asr_threads,
            settings.asr_workers)


def shared_queue(settings: Settings) -> RecognitionQueue:
    """The process's recognition queue, created on first use; its model may still be loading
    (`LoadingRecognizer.ready`). A failed load is tried again on the next use."""
    global _queue
    loop = asyncio.get_running_loop()
    key = _queue_key(settings)
    stale = (
        _queue is None or _queue[0] is not loop or _queue[1] != key or _queue[0].is_closed()
        or (isinstance(_queue[2].recognizer, LoadingRecognizer) and _queue[2].recognizer.failed)
    )
    if stale:
        _queue = (loop, key, RecognitionQueue(LoadingRecognizer(settings)))
    assert _queue is not None
    return _queue[2]


async def close_shared_queue() -> None:
    global _queue
    if _queue is not None and _queue[0] is asyncio.get_running_loop():
        queue, _queue = _queue[2], None
        await queue.aclose()


# --- per room -------------------------------------------------------------------------------
@dataclass
class _Attached:
    group: str
    participant_id: str
    sink: SpeakerTranscriber


@dataclass
class RoomTranscript:
    queue: RecognitionQueue
    record_caucus: bool
    # One core Transcript per group the speech was said in ("main", "caucus-1", …).
    transcripts: dict[str, Transcript] = field(default_factory=dict)
    # Published track id → the sink attached to it.
    attached: dict[str, _Attached] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


@dataclass
class TranscriptRoomState:
    transcript: RoomTranscript | None = None
    # Set up once per room, in the background (loading the model takes seconds).
    opening: asyncio.Task[None] | None = None
    # Since when each member is in its group (a caption goes to those who heard the words).
    groups: dict[str, tuple[str | None, float]] = field(default_factory=dict)


class LiveTranscript(RoomFeature):
    name = "transcript"

    def __init__(self, state: AppState, service: RoomContext) -> None:
        self.state = state
        self.service = service

    # --- hooks ------------------------------------------------------------------------------
    def on_track(self, live: LiveRoom, track: PublishedTrack) -> None:
        if live.state_of(TranscriptRoomState).transcript is not None:
            self.reconcile(live)

    async def on_event(
        self, live: LiveRoom, action: str, actor: str, details: dict[str, Any]
    ) -> None:
        self._note_groups(live)
        st = live.state_of(TranscriptRoomState)
        if live.room.transcription and not live.room.ended and st.transcript is None:
            self._open_soon(live)
        self.reconcile(live)

    async def on_end(self, live: LiveRoom, outcome: str, note: str) -> None:
        rt = live.state_of(TranscriptRoomState).transcript
        if rt is None:
            return
        for attached in rt.attached.values():
            attached.sink.on_end()  # finish the speech already heard
        try:
            async with asyncio.timeout(END_DRAIN_TIMEOUT_S):
                for transcript in rt.transcripts.values():
                    await transcript.aclose()
                while rt.tasks:
                    await asyncio.gather(*list(rt.tasks), return_exceptions=True)
        except TimeoutError:
            log.error("session %s: last transcript segments not stored in time", live.session_id)
        rt.attached.clear()

    async def aclose(self) -> None:
        """Application shutdown: stop every room's transcription, then the queue."""
        for live in list(self.service.rooms.values()):
            st = live.state_of(TranscriptRoomState)
            rt, st.transcript = st.transcript, None
            if rt is not None:
                for task in rt.tasks:
                    task.cancel()
        await close_shared_queue()

    # --- switching on ---------------------------------------------------------------------
    def _open_soon(self, live: LiveRoom) -> None:
        """First switch-on in this room: load the model (once per process) and set up, in the
        background. Loading takes seconds; awaited here it held up every event of the room
        (chat, admissions, offers) behind it, since events are logged under the room's lock."""
        st = live.state_of(TranscriptRoomState)
        if st.opening is None or st.opening.done():
            st.opening = asyncio.ensure_future(self._open(live))
            self.service.spawn(st.opening)

    async def _open(self, live: LiveRoom) -> None:
        st = live.state_of(TranscriptRoomState)
        queue = shared_queue(self.state.settings)
        async with self.state.db.session() as db:
            session = await db.get(MediationSession, live.session_id)
            record_caucus = bool(session is not None and session.record_caucus)
        current = self.service.rooms.get(live.session_id) is live  # not closed meanwhile
        if not current or st.transcript is not None or live.room.ended:
            return
        rt = st.transcript = RoomTranscript(queue=queue, record_caucus=record_caucus)
        # Who is in which group now, and their tracks: what the events meanwhile changed.
        self._note_groups(live)
        self.reconcile(live)
        recognizer = queue.recognizer
        if not isinstance(recognizer, LoadingRecognizer):
            return
        try:
            await recognizer.ready()
        except (ModelError, OSError, RuntimeError, ValueError) as exc:
            log.error("speech recognition unavailable: %s", exc)
            if st.transcript is rt:
                st.transcript = None
                for track in live.media.published_tracks():
                    attached = rt.attached.get(track.id)
                    if attached is not None:
                        track.remove_sink(attached.sink)
                rt.attached.clear()
            await self._unavailable(live, str(exc))

    async def _unavailable(self, live: LiveRoom, message: str) -> None:
        live.room.transcription = False
        payload = {
            "reason": "asr_unavailable",
            "message": "语音识别不可用，文字记录未开启 / speech recognition is unavailable",
        }
        for m in live.room.members.values():
            if m.kind in ("mediator", "clerk") and m.sid is not None:
                await self.service.emit("transcript_alert", payload, m.sid)
        await self.service.log_event(
            live, "transcription.unavailable", "system", message=message[:500]
        )
        async with live.lock:
            await self.service.broadcast_state(live)

    # --- which tracks are transcribed -----------------------------------------------------
    def _note_groups(self, live: LiveRoom) -> None:
        """Remember since when each member is in its group: a caption goes only to those who
        were in the group when the words were said."""
        groups = live.state_of(TranscriptRoomState).groups
        now = time.time()
        for m in live.room.members.values():
            group = m.group if m.connected else None
            if groups.get(m.pid, (None, 0.0))[0] != group or m.pid not in groups:
                groups[m.pid] = (group, now)

    def reconcile(self, live: LiveRoom) -> None:
        """Attach/detach speaker sinks so they follow the room: transcription on/off, a move
        between the main room and a caucus group, a reconnect (new track)."""
        rt = live.state_of(TranscriptRoomState).transcript
        if rt is None:
            return
        room = live.room
        on = room.transcription and not room.ended
        current = {
            t.id: t for t in live.media.published_tracks() if t.kind == "audio" and not t.ended
        }
        for track_id in list(rt.attached):
            if track_id not in current:
                rt.attached.pop(track_id).sink.on_end()  # the track ended
        for track_id, track in current.items():
            m = room.members.get(track.publisher_id)
            wanted: str | None = None
            if on and m is not None and m.presence == Presence.admitted:
                if m.group == MAIN or rt.record_caucus:
                    wanted = m.group
            old = rt.attached.get(track_id)
            if old is not None and old.group == wanted:
                continue
            if old is not None:
                track.remove_sink(old.sink)
                old.sink.on_end()  # speech already heard is still recognised
                del rt.attached[track_id]
            if wanted is None or m is None:
                continue
            transcript = self._transcript(live, rt, wanted)
            sink = transcript.add_speaker(Speaker(m.pid, m.display_name, m.role_label))
            track.add_sink(sink)
            rt.attached[track_id] = _Attached(wanted, m.pid, sink)

    def _transcript(self, live: LiveRoom, rt: RoomTranscript, group: str) -> Transcript:
        transcript = rt.transcripts.get(group)
        if transcript is None:
            transcript = Transcript(rt.queue)

            def on_segment(segment: Segment) -> None:
                task = asyncio.ensure_future(self._deliver(live, group, segment))
                rt.tasks.add(task)
                task.add_done_callback(rt.tasks.discard)

            transcript.subscribe(on_segment)
            rt.transcripts[group] = transcript
        return transcript

    # --- output ---------------------------------------------------------------------------
    async def _deliver(self, live: LiveRoom, group: str, segment: Segment) -> None:
        try:
            segment_id = await self._store(live, group, segment)
            if segment.status is SegmentStatus.FINAL and segment.text:
                await self._caption(live, group, segment, segment_id)
        except Exception:
            log.exception("storing or captioning a transcript segment failed")

    async def _store(self, live: LiveRoom, group: str, segment: Segment) -> str:
        segment_id = new_id()
        async with self.state.db.session() as db:
            db.add(
                TranscriptSegment(
                    id=segment_id,
                    session_id=live.session_id,
                    court_id=live.room.court_id,
                    document=document_of(group),
                    kind=SegmentKind.speech,
                    speaker_participant_id=segment.speaker.speaker_id,
                    speaker_name=segment.speaker.name,
                    speaker_role=segment.speaker.role,
                    start_at=datetime.fromtimestamp(segment.start, UTC),
                    end_at=datetime.fromtimestamp(segment.end, UTC),
                    text=segment.text,
                    asr_text=segment.text,
                    status=segment.status.value,
                )
            )
        return segment_id

    async def _caption(self, live: LiveRoom, group: str, segment: Segment, segment_id: str) -> None:
        payload = {
            "segment_id": segment_id,
            "speaker_id": segment.speaker.speaker_id,
            "speaker_name": segment.speaker.name,
            "role_label": segment.speaker.role,
            "text": segment.text,
            "start": round(segment.start, 3),
            "end": round(segment.end, 3),
            "final": True,
        }
        off = live.captions_off
        since = live.state_of(TranscriptRoomState).groups
        for m in live.room.group_members(group):
            if m.pid in off or m.sid is None:
                continue
            member_group, joined_at = since.get(m.pid, (group, 0.0))
            if member_group != group or joined_at > segment.end:
                continue  # joined the group after these words were said
            await self.service.emit("caption", payload, m.sid)

    async def push_update(self, session_id: str, document: str, segment: dict[str, Any]) -> None:
        """A clerk's correction, pushed to the clerks in the live room (if it is live here)."""
        live = self.service.rooms.get(session_id)
        if live is None:
            return
        for m in live.room.members.values():
            if m.kind in EDITOR_KINDS and m.connected and m.sid is not None:
                with contextlib.suppress(Exception):
                    await self.service.emit(
                        "transcript_update", {"document": document, "segment": segment}, m.sid
                    )
