"""A sealed, synthetic recording of a scheduled session, registered like a live one: real VP8
and Opus files written by the recording core, a caucus track, a sealed manifest and a
``recordings`` row. Cheaper than real peers, and the files are what the live recorder writes."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from recording import SessionRecorder
from recording.synthetic import synthetic_audio, synthetic_video
from server.models import (
    Case,
    MediationSession,
    Outcome,
    Recording,
    RecordingStatus,
    SessionStatus,
    User,
)
from server.state import STATE_KEY
from signaling.features.recording import RECORDING
from tests.conftest import Harness
from tests.recording.recording_helpers import feed
from tests.signaling.conftest import make_session


@dataclass
class Recorded:
    session_id: str
    recording_id: str
    case_number: str
    folder: Path
    tokens: dict[str, str]
    pids: dict[str, str]
    start: float  # wall clock of the applicant's first frame


async def make_recording(
    harness: Harness, *, seconds: float = 3.0, respondent_delay: float = 1.0,
    mediator: str = "mediator_a",
) -> Recorded:
    state = harness.app[STATE_KEY]
    session_id, tokens, pids = await make_session(harness)
    key = state.part(RECORDING).key
    async with state.db.session() as s:
        session = await s.get(MediationSession, session_id)
        assert session is not None
        case = await s.get(Case, session.case_id)
        assert case is not None
        med = await s.scalar(select(User).where(User.username == mediator))
        assert med is not None
        session.mediator_id = med.id
        session.record_caucus = True
        session.status = SessionStatus.ended
        session.outcome = Outcome.settled
        case_number = case.case_number
    t0 = time.time() - 30
    rec = await SessionRecorder.start(
        state.settings.effective_recordings_dir, case_id=case_number, session_id=session_id,
        key=key, record_caucus=True,
    )
    await rec.add_participant(pids["applicant"], name="申请人甲", role="申请人")
    await rec.add_participant(pids["respondent"], name="被申请人乙", role="被申请人")
    for who, delay, freq in (("applicant", 0.0, 440.0), ("respondent", respondent_delay, 660.0)):
        start = t0 + delay
        video = rec.open_track(pids[who], "video")
        audio = rec.open_track(pids[who], "audio")
        assert video is not None and audio is not None
        feed(video, synthetic_video(seconds, start_wallclock=start, width=320, height=240,
                                    fps=15))
        feed(audio, synthetic_audio(seconds, start_wallclock=start, frequency=freq))
        video.on_end()
        audio.on_end()
    caucus = rec.open_track(pids["applicant"], "audio", caucus_group="g1")
    assert caucus is not None
    feed(caucus, synthetic_audio(1.0, start_wallclock=t0 + seconds + 0.5, frequency=550.0))
    caucus.on_end()
    await rec.log_caucus_change(group="g1", members=[pids["applicant"]], by="mediator")
    await rec.seal()
    digest = hashlib.sha256((rec.folder / "manifest.json").read_bytes()).hexdigest()
    size = sum(p.stat().st_size for p in rec.folder.iterdir() if p.is_file())
    async with state.db.session() as s:
        session = await s.get(MediationSession, session_id)
        assert session is not None
        session.started_at = datetime.fromtimestamp(t0, UTC) + timedelta(milliseconds=1)
        session.ended_at = datetime.fromtimestamp(t0 + seconds + 2, UTC)
        row = Recording(
            session_id=session_id, court_id=session.court_id, folder=rec.folder.name,
            status=RecordingStatus.sealed, record_caucus=True,
            started_at=datetime.fromtimestamp(t0, UTC),
            sealed_at=datetime.now(UTC), manifest_sha256=digest, size_bytes=size,
        )
        s.add(row)
        await s.flush()
        recording_id = row.id
    return Recorded(session_id, recording_id, case_number, rec.folder, tokens, pids, t0)
