"""SessionRecorder: one session's folder — its track files, event log and, at the end, the seal."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from server.rtc.frame import MediaKind

from .event_log import EventLog, EventType, LogEntry
from .failure import RecordingFailure
from .fsutil import atomic_write, fsync_dir
from .keys import ServerKey
from .layout import EVENT_LOG_NAME, OPEN_MARKER_NAME, safe_name, track_stem
from .manifest import TAG_CASE, TAG_CAUCUS_GROUP, TAG_LABEL, TAG_PARTICIPANT, TAG_SESSION
from .seal import place_document, seal_folder
from .track import RecorderOptions, TrackRecorder
from .track_log import TrackFileInfo

log = logging.getLogger(__name__)


class SessionExists(RuntimeError):
    """The session folder already holds a recording (sealed, or open and awaiting recovery)."""


class SessionRecorder:
    """Records one mediation session into ``<recordings_dir>/<folder_name>/``.

    Typical use by the server::

        rec = await SessionRecorder.start(dir, case_id=..., session_id=..., key=key,
                                          on_failure=alert_mediator_and_clerk)
        await rec.add_participant("p1", name="张三", role="party")
        await rec.log_consent("p1", accepted=True)
        sink = rec.open_track("p1", "video", request_keyframe=send_pli)  # FrameSink or None
        ...                                                             # on reconnect: again
        manifest = await rec.seal()

    Event-log methods are coroutines: entries are written and fsynced by one worker thread, in
    call order, so the loop never waits on the disk. A failing disk never raises into the
    caller: it is reported once through ``on_failure`` and the session goes on.
    """

    def __init__(
        self,
        recordings_dir: Path,
        *,
        case_id: str,
        session_id: str,
        key: ServerKey,
        record_caucus: bool = False,
        folder_name: str | None = None,
        on_failure: Callable[[RecordingFailure], None] | None = None,
        options: RecorderOptions | None = None,
    ) -> None:
        self.case_id = case_id
        self.session_id = session_id
        self.record_caucus = record_caucus
        self.recordings_dir = Path(recordings_dir)
        self._folder_name = folder_name
        # Final once ``start`` has run (a resumed session gets the next free ``.partN`` name).
        self.folder = self.recordings_dir / (folder_name or safe_name(session_id))
        self._key = key
        self._on_failure = on_failure
        self._options = options
        self._io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="event-log")
        self._log: EventLog | None = None
        self._log_failed = False
        self._segments: dict[tuple[str, MediaKind, str | None], int] = {}
        self._tracks: list[TrackRecorder] = []
        self._sealed = False
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    @classmethod
    async def start(
        cls,
        recordings_dir: Path,
        *,
        case_id: str,
        session_id: str,
        key: ServerKey,
        record_caucus: bool = False,
        folder_name: str | None = None,
        on_failure: Callable[[RecordingFailure], None] | None = None,
        options: RecorderOptions | None = None,
        actor: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> SessionRecorder:
        """Create the folder, the open-recording marker and the event log's first entry."""
        rec = cls(
            recordings_dir, case_id=case_id, session_id=session_id, key=key,
            record_caucus=record_caucus, folder_name=folder_name, on_failure=on_failure,
            options=options,
        )
        await asyncio.get_running_loop().run_in_executor(rec._io, rec._create)
        await rec.log_event(EventType.SESSION_OPENED, actor, {
            "case": case_id, "session": session_id, "record_caucus": record_caucus,
            **(details or {}),
        })
        return rec

    def _claim_folder(self) -> None:
        """Take the folder. A session recorded again after a restart (its first folder sealed
        as interrupted) continues in ``<session>.part2``, ``.part3`` …; an explicit
        ``folder_name`` is never reused."""
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        base = self._folder_name or safe_name(self.session_id)
        for part in range(1, 1000):
            self.folder = self.recordings_dir / (base if part == 1 else f"{base}.part{part}")
            try:
                self.folder.mkdir()
                return
            except FileExistsError:
                if not any(self.folder.iterdir()):
                    return
                if self._folder_name:
                    break
        raise SessionExists(f"{self.folder} already holds a recording")

    def _create(self) -> None:
        self._claim_folder()
        marker = {
            "case": self.case_id, "session": self.session_id, "pid": os.getpid(),
            "host": socket.gethostname(), "started_at": datetime.now(UTC).isoformat(),
        }
        atomic_write(self.folder / OPEN_MARKER_NAME, json.dumps(marker).encode())
        self._log = EventLog(self.folder / EVENT_LOG_NAME)
        fsync_dir(self.folder.parent)

    # ---- event log -------------------------------------------------------------------------

    def _append(self, type: str, actor: str | None, payload: Mapping[str, Any]) -> LogEntry | None:
        if self._log is None:
            return None
        try:
            entry = self._log.append(type, actor, payload)
        except OSError as exc:
            if not self._log_failed:  # one alert per outage, not one per event
                self._report(RecordingFailure.from_exception("event_log", EVENT_LOG_NAME, exc))
            self._log_failed = True
            return None
        self._log_failed = False
        return entry

    def _submit(
        self, type: str, actor: str | None, payload: Mapping[str, Any]
    ) -> concurrent.futures.Future[LogEntry | None]:
        return self._io.submit(self._append, type, actor, dict(payload))

    async def log_event(
        self, type: str, actor: str | None = None, payload: Mapping[str, Any] | None = None
    ) -> LogEntry | None:
        """Append any event; returns it once fsynced, or None if the disk refused it (reported
        through ``on_failure``; later events are tried again).

        Types under ``consent.``, ``admission.`` and ``caucus.`` are gathered into the manifest.
        """
        return await asyncio.wrap_future(self._submit(type, actor, payload or {}))

    async def add_participant(
        self, participant_id: str, *, name: str, role: str, actor: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> LogEntry | None:
        """Register (or re-register on reconnect) a participant and their role."""
        return await self.log_event(EventType.PARTICIPANT_JOINED, actor, {
            "participant": participant_id, "name": name, "role": role, **(details or {}),
        })

    async def log_consent(
        self, participant_id: str, *, accepted: bool, scope: str = "recording",
        text_version: str | None = None,
    ) -> LogEntry | None:
        """A participant's acknowledgement (or refusal) of recording or of online mediation."""
        return await self.log_event(EventType.CONSENT, participant_id, {
            "participant": participant_id, "accepted": accepted, "scope": scope,
            "text_version": text_version,
        })

    async def log_admission(
        self, participant_id: str, *, admitted: bool, by: str, identity_checked: bool,
        override_reason: str = "",
    ) -> LogEntry | None:
        """The mediator's decision on a participant waiting in the lobby: whether their identity
        was checked is a fact the caller states (never assumed), and an unchecked admission
        carries the mediator's written reason when there was one."""
        details: dict[str, Any] = {
            "participant": participant_id, "admitted": admitted,
            "identity_checked": identity_checked,
        }
        if override_reason:
            details["override_reason"] = override_reason
        return await self.log_event(EventType.ADMISSION, by, details)

    async def log_caucus_change(
        self, *, group: str | None, members: Iterable[str], by: str
    ) -> LogEntry | None:
        """Who is in caucus group ``group`` now (``group=None``: everyone back in the main room)."""
        return await self.log_event(EventType.CAUCUS_CHANGED, by, {
            "group": group, "members": sorted(members),
            "recorded": self.record_caucus and group is not None,
        })

    # ---- tracks ----------------------------------------------------------------------------

    def open_track(
        self,
        participant_id: str,
        kind: MediaKind,
        *,
        caucus_group: str | None = None,
        label: str | None = None,
        request_keyframe: Callable[[], None] | None = None,
    ) -> TrackRecorder | None:
        """A recorder to attach to a participant's published track, as a FrameSink.

        Each call for the same (participant, kind, label) is the next segment: call it again on
        reconnect and whenever the participant moves between the main room and a caucus group.
        Returns None for a caucus group unless the session records caucus (confidential by
        default), and once the session is sealed.
        """
        if self._sealed or (caucus_group is not None and not self.record_caucus):
            return None
        key = (participant_id, kind, label)
        segment = self._segments.get(key, 0) + 1
        self._segments[key] = segment
        stem = track_stem(participant_id, kind, segment, label=label, caucus_group=caucus_group)
        tags = {TAG_CASE: self.case_id, TAG_SESSION: self.session_id,
                TAG_PARTICIPANT: participant_id}
        if label:
            tags[TAG_LABEL] = label
        if caucus_group is not None:
            tags[TAG_CAUCUS_GROUP] = caucus_group
        recorder = TrackRecorder(
            self.folder, stem, kind, segment=segment, tags=tags, on_failure=self._report,
            request_keyframe=request_keyframe, options=self._options,
        )
        self._tracks.append(recorder)
        self._submit(EventType.TRACK_STARTED, participant_id, {
            "participant": participant_id, "media": kind, "segment": segment,
            "file_stem": stem, "caucus_group": caucus_group, "label": label,
        })
        recorder.when_closed(partial(self._track_closed, recorder))
        return recorder

    def _track_closed(self, recorder: TrackRecorder, info: TrackFileInfo | None) -> None:
        payload: dict[str, Any] = {"file_stem": recorder.stem, "recorded": info is not None}
        if info is not None:
            payload.update({"file": info.name, "frames": info.frames, "gaps": len(info.gaps),
                            "stop_reason": info.stop_reason, "error": info.error})
        # Runs on the writer thread; the executor keeps log order and takes the fsync.
        try:
            self._submit(EventType.TRACK_STOPPED, None, payload)
        except RuntimeError:  # executor already shut down after the seal
            pass

    @property
    def tracks(self) -> list[TrackRecorder]:
        return list(self._tracks)

    # ---- documents and seal ----------------------------------------------------------------

    async def add_document(
        self, source: Path, *, title: str, kind: str = "export", actor: str | None = None,
        move: bool = False,
    ) -> str:
        """Put an exported document (PDF of the agreement, transcript …) into the folder so the
        seal lists it with its hash. Returns its name in the manifest."""
        loop = asyncio.get_running_loop()
        name, sha, size = await loop.run_in_executor(
            self._io, partial(place_document, self.folder, source, move=move)
        )
        await self.log_event(EventType.DOCUMENT_ADDED, actor,
                             {"file": name, "title": title, "kind": kind, "sha256": sha,
                              "size": size})
        return name

    async def seal(self, *, actor: str | None = None) -> dict[str, Any]:
        """Stop every track, close the log and seal the folder; returns the manifest.

        Raises OSError if the manifest cannot be written (e.g. the disk is still full); the
        open marker then stays, and ``recover_interrupted`` can seal the folder later.
        """
        if self._sealed:
            raise RuntimeError(f"session {self.session_id} is already sealed")
        self._sealed = True
        for recorder in self._tracks:
            recorder.on_end()
        infos = await asyncio.gather(*(r.wait_closed() for r in self._tracks))
        known = {info.name: info for info in infos if info is not None}
        await self.log_event(EventType.SESSION_CLOSED, actor, {"tracks": len(known)})
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._io, self._seal, known)
        finally:
            self._io.shutdown(wait=False)

    def _seal(self, known: Mapping[str, TrackFileInfo]) -> dict[str, Any]:
        if self._log is not None:
            self._log.close()
        return seal_folder(self.folder, self._key, known_tracks=known)

    def _report(self, failure: RecordingFailure) -> None:
        log.error("recording failure in %s: %s", self.folder.name, failure.message)
        if self._on_failure is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None or self._loop is None:
            self._on_failure(failure)
        else:  # from the event-log thread: callbacks belong on the loop
            self._loop.call_soon_threadsafe(self._on_failure, failure)
