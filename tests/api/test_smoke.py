from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import Harness


async def test_schedule_and_join_flow(harness: Harness) -> None:
    clerk = await harness.login("clerk_a")
    resp = await clerk.post(
        "/api/cases",
        json={
            "case_number": "（2026）浙0110民诉前调1号",
            "case_type": "neighbour",
            "parties": [
                {"name": "张三", "role": "applicant"},
                {"name": "李四", "role": "respondent"},
            ],
        },
    )
    assert resp.status == 201, await resp.text()
    case = await resp.json()
    resp = await clerk.post(
        "/api/sessions",
        json={
            "case_id": case["id"],
            "scheduled_at": datetime.now(UTC).isoformat(),
            "mediator_id": harness.seed.users["judge_a"],
            "clerk_id": harness.seed.users["clerk_a"],
        },
    )
    assert resp.status == 201, await resp.text()
    session = await resp.json()
    party = next(p for p in session["participants"] if p["kind"] == "party")
    resp = await clerk.post(
        f"/api/sessions/{session['id']}/invites", json={"participant_id": party["id"]}
    )
    assert resp.status == 201, await resp.text()
    link = await resp.json()
    anon = await harness.anon()
    resp = await anon.get(f"/api/join/{link['token']}")
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["participant"]["display_name"] == "张三"
    assert body["participant"]["role_label"] == "申请人"
    resp = await clerk.post(f"/api/invites/{link['invite']['id']}/revoke")
    assert resp.status == 200
    resp = await anon.get(f"/api/join/{link['token']}")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "link_revoked"
