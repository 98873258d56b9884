"""A live server on a real loopback port with one scheduled session and join links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from server.invites import invite_token, issue_invite
from server.models import (
    Case,
    CaseType,
    ParticipantKind,
    Party,
    PartyRole,
    Terminal,
    User,
    new_id,
)
from server.scheduling import schedule_session
from server.state import STATE_KEY
from signaling.client import RoomClient
from tests.conftest import Harness


@dataclass
class LiveSession:
    harness: Harness
    base_url: str
    session_id: str
    tokens: dict[str, str]  # "mediator", "applicant", "respondent", "terminal"
    pids: dict[str, str]
    clients: list[RoomClient]

    def client(self, who: str, **kw: object) -> RoomClient:
        c = RoomClient(self.base_url, token=self.tokens[who], **kw)  # type: ignore[arg-type]
        self.clients.append(c)
        return c

    async def joined(self, who: str, consent: bool = True, **kw: object) -> RoomClient:
        c = self.client(who, **kw)
        await c.connect()
        await c.join(consent=consent)
        return c


async def make_session(
    harness: Harness, n_parties: int = 2, terminal: bool = False
) -> tuple[str, dict[str, str], dict[str, str]]:
    state = harness.app[STATE_KEY]
    async with state.db.session() as s:
        judge = await s.scalar(select(User).where(User.username == "judge_a"))
        assert judge is not None
        case = Case(
            court_id=harness.seed.court_a,
            case_number=f"测试{datetime.now().timestamp()}",
            case_type=CaseType.neighbour,
        )
        s.add(case)
        await s.flush()
        names = [
            ("申请人甲", PartyRole.applicant),
            ("被申请人乙", PartyRole.respondent),
            ("代理人丙", PartyRole.agent),
            ("律师丁", PartyRole.lawyer),
        ][:n_parties]
        parties = [Party(case_id=case.id, name=n, role=r) for n, r in names]
        s.add_all(parties)
        await s.flush()
        kiosk = None
        if terminal:
            kiosk = Terminal(
                court_id=harness.seed.court_a,
                name="测试村共享法庭",
                location="测试村村民服务中心",
                operator_name="王主任",
                key_prefix=new_id()[:12],
                key_hash="-",
            )
            s.add(kiosk)
            await s.flush()
        session = await schedule_session(
            s,
            case=case,
            scheduled_at=datetime.now(UTC),
            mediator=judge,
            parties=parties,
            terminal=kiosk,
        )
        tokens: dict[str, str] = {}
        pids: dict[str, str] = {}
        keys = ["applicant", "respondent", "agent", "lawyer"]
        party_i = 0
        for part in session.participants:
            if part.kind == ParticipantKind.party:
                key = keys[party_i]
                party_i += 1
            else:
                key = part.kind.value
            invite = await issue_invite(s, part, 1.0, None)
            tokens[key] = invite_token(state.signer, invite)
            pids[key] = part.id
        return session.id, tokens, pids


async def _live(harness: Harness, terminal: bool) -> AsyncIterator[LiveSession]:
    session_id, tokens, pids = await make_session(harness, terminal=terminal)
    base = str(harness.server.make_url("/")).rstrip("/")
    ls = LiveSession(harness, base, session_id, tokens, pids, [])
    yield ls
    for c in ls.clients:
        try:
            await c.close()
        except Exception:
            pass


@pytest.fixture
async def live(harness: Harness) -> AsyncIterator[LiveSession]:
    async for ls in _live(harness, terminal=False):
        yield ls


@pytest.fixture
async def live_terminal(harness: Harness) -> AsyncIterator[LiveSession]:
    """The same, with a village terminal scheduled (its join link is tokens["terminal"])."""
    async for ls in _live(harness, terminal=True):
        yield ls
