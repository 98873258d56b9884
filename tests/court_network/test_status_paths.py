"""An intake's status follows every path a case can take, not only the happy one: a case
mediated without ever being assigned, sessions cancelled, staff correcting a status, an intake
nobody can take. The live-room paths run through a real room (socket.io, the default
configuration), as a judge ends a session from the console."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from server.court_network.models import Intake, IntakeAssignment, WebhookDelivery
from server.court_network.service import runtime
from server.invites import invite_token, issue_invite
from server.models import AuditEvent, Case, MediationSession, ParticipantKind, Party, User
from server.scheduling import schedule_session
from server.state import STATE_KEY
from tests.api.world import create_session, ok_json
from tests.conftest import Harness
from tests.court_network.net import Net, end_in_room, intake_body, mediator_token, profile
from tests.support.waiting import eventually


def statuses(detail: dict[str, Any]) -> list[str]:
    return [t["to_status"] for t in detail["transitions"]]


async def detail(n: Net, intake_id: str) -> Any:
    return await ok_json(await n.clerk.get(f"/api/network/intakes/{intake_id}"))


async def hook_settled(h: Harness, session_id: str) -> None:
    """The room feature's end hook runs after the room closes; wait for its transition."""

    async def closed() -> bool:
        async with h.app[STATE_KEY].db.session() as s:
            row = await s.get(MediationSession, session_id)
            intake = (
                await s.scalar(select(Intake).where(Intake.case_id == row.case_id)) if row else None
            )
            return intake is not None and intake.closed_at is not None

    await eventually(closed, "the intake closed by the room's end hook")


async def test_a_never_assigned_intake_mediated_in_a_room_is_settled(h2: Any) -> None:
    """The reported bug: an intake never assigned, whose case a judge mediates in a session
    scheduled outside the intake flow (here: straight through the scheduler, as an integration
    does), stayed `received` after 调解成功. Now it is settled with the implied steps."""
    h, n = h2
    made = await ok_json(await n.clerk.post("/api/network/intakes", json=intake_body()), 201)
    assert made["status"] == "received"
    state = h.app[STATE_KEY]
    async with state.db.session() as s:
        judge = await s.scalar(select(User).where(User.username == "judge_a"))
        assert judge is not None
        parties = list(await s.scalars(select(Party).where(Party.case_id == made["case_id"])))
        case = await s.get(Case, made["case_id"])
        assert case is not None
        session = await schedule_session(
            s, case=case, scheduled_at=datetime.now(UTC), mediator=judge, parties=parties
        )
        mediator_part = next(p for p in session.participants if p.kind == ParticipantKind.mediator)
        token = invite_token(state.signer, await issue_invite(s, mediator_part, 1.0, None))
        session_id = session.id
    await end_in_room(h, token, "settled")
    await hook_settled(h, session_id)
    d = await detail(n, made["id"])
    assert d["status"] == "settled" and d["closed_at"] is not None
    assert statuses(d) == ["received", "assigned", "mediating", "settled"]
    # the implied assignment is on record: the session's judge, method "session"
    assert [(a["mediator_id"], a["method"]) for a in d["assignments"]] == [
        (h.seed.users["judge_a"], "session")
    ]
    assert d["mediator_id"] == h.seed.users["judge_a"]
    # the lookup tells the party the truth
    found = await ok_json(
        await n.terminal.post(
            "/api/network/lookup", json={"number": made["number"], "phone": "13900001111"}
        )
    )
    assert found["status"] == "settled"
    # and the statistics count it as settled
    stats = await ok_json(await n.clerk.get(f"/api/network/stats?year={datetime.now(UTC).year}"))
    assert stats["settled"]["value"] == 1 and stats["closed"]["value"] == 1


async def test_scheduling_a_received_intake_assigns_it_and_the_room_closes_it(h2: Any) -> None:
    """A clerk schedules a session for a received intake from the case page (POST
    /api/sessions): the session's mediator becomes the intake's (implied, on record), the
    intake is scheduled, both parties are told the time; the room's outcome closes it."""
    h, n = h2
    u = h.seed.users
    made = await ok_json(await n.clerk.post("/api/network/intakes", json=intake_body()), 201)
    sent_before = len(runtime(h.app[STATE_KEY]).notifier.sent)  # type: ignore[attr-defined]
    session = await create_session(n.clerk, made["case_id"], u["judge_a"])
    d = await detail(n, made["id"])
    assert statuses(d) == ["received", "assigned", "scheduled"]
    assert d["assignments"][0]["method"] == "session"
    sent = runtime(h.app[STATE_KEY]).notifier.sent[sent_before:]  # type: ignore[attr-defined]
    told = {phone for phone, template, _ in sent if template == "session_scheduled"}
    assert told == {"13900001111", "13900002222"}  # the respondent too
    await end_in_room(h, await mediator_token(n.clerk, session), "failed")
    await hook_settled(h, session["id"])
    d = await detail(n, made["id"])
    assert statuses(d) == ["received", "assigned", "scheduled", "mediating", "failed"]


async def test_cancelling_the_last_session_moves_the_intake_back(h2: Any) -> None:
    h, n = h2
    u = h.seed.users
    made = await ok_json(await n.clerk.post("/api/network/intakes", json=intake_body()), 201)
    await ok_json(
        await n.clerk.post(
            f"/api/network/intakes/{made['id']}/assign", json={"mediator_id": u["judge_a"]}
        )
    )
    hook = await ok_json(
        await n.admin.post(
            "/api/network/webhooks",
            json={"url": "http://127.0.0.1:9/hook", "events": ["session.cancelled"]},
        ),
        201,
    )
    later = datetime.now(UTC) + timedelta(days=2)
    first = await create_session(n.clerk, made["case_id"], u["judge_a"], at=later)
    second = await create_session(
        n.clerk, made["case_id"], u["judge_a"], at=later + timedelta(hours=3)
    )
    assert (await detail(n, made["id"]))["status"] == "scheduled"
    # one of two cancelled: still scheduled (the other session stands)
    await ok_json(await n.clerk.post(f"/api/sessions/{first['id']}/cancel"))
    assert (await detail(n, made["id"]))["status"] == "scheduled"
    # the last one cancelled: back to assigned, saying why
    await ok_json(await n.clerk.post(f"/api/sessions/{second['id']}/cancel"))
    d = await detail(n, made["id"])
    assert d["status"] == "assigned"
    assert d["transitions"][-1]["from_status"] == "scheduled"
    assert "cancelled" in d["transitions"][-1]["note"]
    # the receiver is told of both cancellations; the parties too
    async with h.app[STATE_KEY].db.session() as s:
        events = list(
            await s.scalars(
                select(WebhookDelivery.event).where(
                    WebhookDelivery.webhook_id == hook["webhook"]["id"]
                )
            )
        )
    assert events == ["session.cancelled", "session.cancelled"]
    sent = runtime(h.app[STATE_KEY]).notifier.sent  # type: ignore[attr-defined]
    assert {p for p, t, _ in sent if t == "session_cancelled"} == {"13900001111", "13900002222"}


async def test_staff_correct_a_status_back_only_with_a_reason(h2: Any) -> None:
    h, n = h2
    u = h.seed.users
    made = await ok_json(await n.clerk.post("/api/network/intakes", json=intake_body()), 201)
    # received → assigned goes through the assignment (it names the mediator)
    direct = await n.clerk.post(
        f"/api/network/intakes/{made['id']}/transition", json={"status": "assigned"}
    )
    assert direct.status == 400 and (await direct.json())["error"]["code"] == "use_assign"
    await create_session(
        n.clerk, made["case_id"], u["judge_a"], at=datetime.now(UTC) + timedelta(days=1)
    )
    assert (await detail(n, made["id"]))["status"] == "scheduled"
    bare = await n.clerk.post(
        f"/api/network/intakes/{made['id']}/transition", json={"status": "assigned"}
    )
    assert bare.status == 400 and (await bare.json())["error"]["code"] == "reason_required"
    fixed = await ok_json(
        await n.clerk.post(
            f"/api/network/intakes/{made['id']}/transition",
            json={"status": "assigned", "note": "当事人电话告知无法到场，另行排期"},
        )
    )
    assert fixed["status"] == "assigned"
    assert fixed["transitions"][-1]["note"] == "当事人电话告知无法到场，另行排期"
    async with h.app[STATE_KEY].db.session() as s:
        actions = list(
            await s.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.target == made["id"], AuditEvent.action == "intake.transition"
                )
            )
        )
    # →assigned (implied by the session), →scheduled, the correction (receipt is intake.receive)
    assert len(actions) == 3


async def test_an_intake_nobody_covers_alerts_the_court_and_says_why(h2: Any) -> None:
    h, n = h2
    u = h.seed.users
    hook = await ok_json(
        await n.admin.post(
            "/api/network/webhooks",
            json={"url": "http://127.0.0.1:9/hook", "events": ["intake.unassignable"]},
        ),
        201,
    )
    await profile(n.admin, u["mediator_a"], specialties=["marriage_family"])
    # labour: nobody takes it
    labour = await ok_json(
        await n.terminal.post(
            "/api/network/terminal/intakes",
            headers=n.tauth,
            json=intake_body(case_type="labour"),
        ),
        201,
    )
    assert labour["status"] == "received"
    assert labour["unassigned"]["code"] == "no_specialist"
    assert "劳动争议" in labour["unassigned"]["message"]
    alerts = await ok_json(await n.clerk.get("/api/network/alerts"))
    by_type = {a["case_type"]: a for a in alerts["uncovered_case_types"]}
    assert by_type["labour"]["reason"] == "no_specialist" and by_type["labour"]["waiting"] == 1
    assert "marriage_family" not in by_type
    assert alerts["unassigned"] == 1
    async with h.app[STATE_KEY].db.session() as s:
        audited = await s.scalar(
            select(AuditEvent.action).where(
                AuditEvent.target == labour["id"], AuditEvent.action == "intake.unassignable"
            )
        )
        events = list(
            await s.scalars(
                select(WebhookDelivery.event).where(
                    WebhookDelivery.webhook_id == hook["webhook"]["id"]
                )
            )
        )
    assert audited == "intake.unassignable" and events == ["intake.unassignable"]
    # a coverable one waits for a person, and says so; no alert
    marriage = await ok_json(await n.clerk.post("/api/network/intakes", json=intake_body()), 201)
    assert marriage["unassigned"]["code"] == "awaiting_assignment"
    waiting = await ok_json(await n.clerk.get("/api/network/intakes?unassigned=true"))
    assert {i["id"] for i in waiting} == {labour["id"], marriage["id"]}
    assert {i["id"]: i["unassigned"]["code"] for i in waiting} == {
        labour["id"]: "no_specialist",
        marriage["id"]: "awaiting_assignment",
    }
    # the only marriage mediator is full: the next one cannot be taken either
    await profile(n.admin, u["mediator_a"], specialties=["marriage_family"], max_open=0)
    full = await ok_json(await n.clerk.post("/api/network/intakes", json=intake_body()), 201)
    assert full["unassigned"]["code"] == "all_at_capacity"
    # a labour mediator joins: the alert is gone, the intake is assignable
    await profile(n.admin, u["mediator_a2"], specialties=["labour"])
    alerts = await ok_json(await n.clerk.get("/api/network/alerts"))
    assert "labour" not in {a["case_type"] for a in alerts["uncovered_case_types"]}
    d = await detail(n, labour["id"])
    assert d["unassigned"]["code"] == "awaiting_assignment"
    assigned = await ok_json(
        await n.clerk.post(f"/api/network/intakes/{labour['id']}/assign", json={})
    )
    assert assigned["unassigned"] is None and assigned["mediator_id"] == u["mediator_a2"]


async def test_the_mediator_is_told_of_an_assignment(h2: Any) -> None:
    h, n = h2
    u = h.seed.users
    await profile(n.admin, u["mediator_a"], specialties=["marriage_family"], phone="13700003333")
    made = await ok_json(await n.clerk.post("/api/network/intakes", json=intake_body()), 201)
    await ok_json(await n.clerk.post(f"/api/network/intakes/{made['id']}/assign", json={}))
    sent = runtime(h.app[STATE_KEY]).notifier.sent  # type: ignore[attr-defined]
    notice = [(p, params) for p, t, params in sent if t == "mediator_assigned"]
    assert notice == [
        (
            "13700003333",
            {
                "number": made["number"],
                "case_type": "婚姻家庭纠纷",
                "mediator": notice[0][1]["mediator"],
            },
        )
    ]
    async with h.app[STATE_KEY].db.session() as s:
        rows = list(
            await s.scalars(
                select(IntakeAssignment).where(IntakeAssignment.intake_id == made["id"])
            )
        )
    assert [r.mediator_id for r in rows] == [u["mediator_a"]]


async def test_a_reassignment_needs_a_reason_and_a_profile_keeps_its_note(h2: Any) -> None:
    h, n = h2
    u = h.seed.users
    await profile(n.admin, u["mediator_a"], specialties=["marriage_family"], note="周三不接案")
    listed = await ok_json(await n.clerk.get("/api/network/mediators"))
    assert next(m for m in listed if m["user_id"] == u["mediator_a"])["note"] == "周三不接案"
    made = await ok_json(await n.clerk.post("/api/network/intakes", json=intake_body()), 201)
    first = await ok_json(await n.clerk.post(f"/api/network/intakes/{made['id']}/assign", json={}))
    assert first["mediator_id"] == u["mediator_a"]
    # the candidate's reason reads in Chinese first
    assert first["assignments"][0]["reason"].startswith("规则 v1：擅长婚姻家庭纠纷")
    bare = await n.clerk.post(
        f"/api/network/intakes/{made['id']}/assign", json={"mediator_id": u["judge_a"]}
    )
    assert bare.status == 400 and (await bare.json())["error"]["code"] == "reason_required"
    moved = await ok_json(
        await n.clerk.post(
            f"/api/network/intakes/{made['id']}/assign",
            json={"mediator_id": u["judge_a"], "reason": "申请人要求回避"},
        )
    )
    assert moved["mediator_id"] == u["judge_a"]
    assert moved["assignments"][-1]["reason"] == "申请人要求回避"
