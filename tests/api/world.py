"""A populated court for API tests: cases, parties, terminals, sessions and join links, all
created through the real API so the tests exercise the same paths as the web client."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from server.models import SessionStatus
from server.state import STATE_KEY
from tests.conftest import Harness, StaffClient

_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


async def ok_json(resp: Any, status: int = 200) -> Any:
    text = await resp.text()
    assert resp.status == status, f"{resp.method} {resp.url}: {resp.status} {text}"
    return await resp.json()


async def create_case(
    client: StaffClient, *, mediator_id: str | None = None, number: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "case_number": number or unique("（2026）浙0110民诉前调"),
        "case_type": "neighbour",
        "title": "相邻关系纠纷",
        "parties": [
            {"name": "张三", "role": "applicant", "phone": "13800000001"},
            {"name": "李四", "role": "respondent"},
        ],
    }
    if mediator_id:
        body["mediator_id"] = mediator_id
    return await ok_json(await client.post("/api/cases", json=body), 201)


async def create_session(
    client: StaffClient,
    case_id: str,
    mediator_id: str,
    *,
    at: datetime | None = None,
    terminal_id: str | None = None,
    clerk_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "case_id": case_id,
        "scheduled_at": (at or datetime.now(UTC)).isoformat(),
        "mediator_id": mediator_id,
    }
    if terminal_id:
        body["terminal_id"] = terminal_id
    if clerk_id:
        body["clerk_id"] = clerk_id
    return await ok_json(await client.post("/api/sessions", json=body), 201)


async def create_terminal(client: StaffClient, name: str | None = None) -> tuple[str, str]:
    body = {"name": name or unique("村终端"), "operator_name": "陈主任"}
    out = await ok_json(await client.post("/api/terminals", json=body), 201)
    return out["terminal"]["id"], out["device_key"]


async def issue_invite(client: StaffClient, session: dict[str, Any], kind: str = "party") -> Any:
    participant = next(p for p in session["participants"] if p["kind"] == kind)
    return await ok_json(
        await client.post(
            f"/api/sessions/{session['id']}/invites", json={"participant_id": participant["id"]}
        ),
        201,
    )


async def terminal_token(anon: TestClient[Any, Any], device_key: str) -> str:
    out = await ok_json(await anon.post("/api/terminal/login", json={"device_key": device_key}))
    return str(out["token"])


async def set_session_status(h: Harness, session_id: str, status: SessionStatus) -> None:
    from server.models import MediationSession

    async with h.app[STATE_KEY].db.session() as s:
        row = await s.get(MediationSession, session_id)
        assert row is not None
        row.status = status
        if status == SessionStatus.ended:
            row.ended_at = datetime.now(UTC)


@dataclass
class World:
    h: Harness
    admin: StaffClient
    judge: StaffClient
    clerk: StaffClient
    judge_b: StaffClient
    admin_b: StaffClient
    case_a: dict[str, Any] = field(default_factory=dict)  # no mediator assigned
    case_med: dict[str, Any] = field(default_factory=dict)  # case.mediator_id = mediator_a
    case_smed: dict[str, Any] = field(default_factory=dict)  # a session mediated by mediator_a
    case_b: dict[str, Any] = field(default_factory=dict)  # court B
    terminal_a: str = ""
    terminal_a_key: str = ""
    terminal_b: str = ""
    terminal_b_key: str = ""
    session_a: dict[str, Any] = field(default_factory=dict)  # today, terminal_a, judge_a
    session_smed: dict[str, Any] = field(default_factory=dict)  # mediator_a mediates
    session_b: dict[str, Any] = field(default_factory=dict)
    invite_a: dict[str, Any] = field(default_factory=dict)  # party link of session_a
    invite_b: dict[str, Any] = field(default_factory=dict)  # party link of session_b

    def uid(self, username: str) -> str:
        return self.h.seed.users[username]


async def build_world(h: Harness) -> World:
    w = World(
        h,
        admin=await h.login("admin_a"),
        judge=await h.login("judge_a"),
        clerk=await h.login("clerk_a"),
        judge_b=await h.login("judge_b"),
        admin_b=await h.login("admin_b"),
    )
    w.terminal_a, w.terminal_a_key = await create_terminal(w.admin)
    w.terminal_b, w.terminal_b_key = await create_terminal(w.admin_b)
    w.case_a = await create_case(w.clerk)
    w.case_med = await create_case(w.clerk, mediator_id=w.uid("mediator_a"))
    w.case_smed = await create_case(w.clerk)
    w.case_b = await create_case(w.judge_b)
    w.session_a = await create_session(
        w.clerk,
        w.case_a["id"],
        w.uid("judge_a"),
        terminal_id=w.terminal_a,
        clerk_id=w.uid("clerk_a"),
    )
    w.session_smed = await create_session(
        w.clerk, w.case_smed["id"], w.uid("mediator_a"), at=datetime.now(UTC) + timedelta(days=3)
    )
    w.session_b = await create_session(
        w.judge_b, w.case_b["id"], w.uid("judge_b"), terminal_id=w.terminal_b
    )
    w.invite_a = await issue_invite(w.clerk, w.session_a)
    w.invite_b = await issue_invite(w.judge_b, w.session_b)
    return w


class AnyId(dict[str, str]):
    """Path values for routes; ids this world does not build (recordings, segments, jobs …)
    get a well-formed id that matches nothing, so requests still reach the handlers."""

    def __missing__(self, key: str) -> str:
        return "0123456789abcdef0123456789abcdef"
