"""Fixtures for the live-transcript tests: the real speech model (assembled once per run) and a
live server whose session has a clerk, optionally a terminal, and caucus recording on or off."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from server.config import Settings
from server.invites import invite_token, issue_invite
from server.models import Case, CaseType, ParticipantKind, Party, PartyRole, Terminal, User
from server.scheduling import schedule_session
from server.state import STATE_KEY
from tests.conftest import Harness
from tests.signaling.conftest import LiveSession
from tests.support.speech import OPUS_RATE, Samples


@pytest.fixture
def settings(tmp_path: Path, asr_model_dir: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        public_url="http://court.test",
        asr_model_dir=asr_model_dir,
    )


CASE_NUMBER_PREFIX = "（2024）浙0106民调"


async def make_session(
    harness: Harness, *, record_caucus: bool = False, with_terminal: bool = False
) -> tuple[str, dict[str, str], dict[str, str], str]:
    """A session of court A: judge_a mediates, clerk_a is the clerk, two parties."""
    state = harness.app[STATE_KEY]
    async with state.db.session() as s:
        judge = await s.scalar(select(User).where(User.username == "judge_a"))
        clerk = await s.scalar(select(User).where(User.username == "clerk_a"))
        assert judge is not None and clerk is not None
        case_number = f"{CASE_NUMBER_PREFIX}{int(datetime.now().timestamp() * 1000) % 100000}号"
        case = Case(
            court_id=harness.seed.court_a,
            case_number=case_number,
            case_type=CaseType.property_management,
        )
        s.add(case)
        await s.flush()
        parties = [
            Party(case_id=case.id, name="张三", role=PartyRole.applicant),
            Party(case_id=case.id, name="李四", role=PartyRole.respondent),
        ]
        s.add_all(parties)
        terminal = None
        if with_terminal:
            terminal = Terminal(
                court_id=harness.seed.court_a,
                name="桃源村共享法庭",
                location="桃源村村委会",
                key_prefix=f"t{int(datetime.now().timestamp() * 1e6) % 10**12}",
                key_hash="x",
            )
            s.add(terminal)
        await s.flush()
        session = await schedule_session(
            s,
            case=case,
            scheduled_at=datetime.now(UTC),
            mediator=judge,
            parties=parties,
            clerk=clerk,
            terminal=terminal,
            record_caucus=record_caucus,
        )
        tokens: dict[str, str] = {}
        pids: dict[str, str] = {}
        keys = iter(["applicant", "respondent"])
        for part in session.participants:
            key = next(keys) if part.kind == ParticipantKind.party else part.kind.value
            invite = await issue_invite(s, part, 1.0, None)
            tokens[key] = invite_token(state.signer, invite)
            pids[key] = part.id
        return session.id, tokens, pids, case_number


@pytest.fixture
async def court_session(harness: Harness) -> AsyncIterator[LiveSession]:
    session_id, tokens, pids, _ = await make_session(harness, with_terminal=True)
    base = str(harness.server.make_url("/")).rstrip("/")
    ls = LiveSession(harness, base, session_id, tokens, pids, [])
    yield ls
    for c in ls.clients:
        try:
            await c.close()
        except Exception:
            pass


def write_wav(path: Path, samples: Samples) -> Path:
    """48 kHz mono 16-bit WAV, what aiortc's MediaPlayer publishes as the microphone."""
    ints = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(OPUS_RATE)
        out.writeframes(ints.tobytes())
    return path
