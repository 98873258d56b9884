"""What the clerk (书记员) meets: the court's time zone reaches the web client, staff and courts
have a contact phone, a refused join link names whom to call, and a printed invitation states
everything a party needs (issue #15)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from server.models import SessionStatus
from server.state import STATE_KEY
from tests.api.world import (
    World,
    build_world,
    create_case,
    create_session,
    issue_invite,
    ok_json,
    set_session_status,
)
from tests.conftest import PASSWORD, Harness
from tests.web.conftest import token_payload

CLERK_PHONE = "0571-87654321"
COURT_PHONE = "0571-12345678"


async def _set_phones(w: World, *, clerk: str = CLERK_PHONE, court: str = COURT_PHONE) -> None:
    await ok_json(await w.admin.patch(f"/api/users/{w.uid('clerk_a')}", json={"phone": clerk}))
    await ok_json(await w.admin.patch(f"/api/courts/{w.h.seed.court_a}", json={"phone": court}))


async def _refusal(w: World, token: str) -> dict[str, Any]:
    anon = await w.h.anon()
    resp = await anon.get(f"/api/join/{token}")
    assert resp.status in (401, 410), await resp.text()
    err: dict[str, Any] = (await resp.json())["error"]
    return err


# --- the court's time zone -------------------------------------------------------------------
async def test_me_states_the_courts_time_zone_and_phone(harness: Harness) -> None:
    w = await build_world(harness)
    await _set_phones(w)
    me = await ok_json(await w.clerk.get("/api/auth/me"))
    assert me["court"] == {
        "id": harness.seed.court_a,
        "name": "甲法院 Court A",
        "timezone": "Asia/Shanghai",
        "phone": COURT_PHONE,
    }
    assert me["user"]["phone"] == CLERK_PHONE
    # the short links' base: /j/<short_code> of each listed link
    assert me["public_url"] == harness.app[STATE_KEY].settings.effective_public_url
    # a court in another zone says so
    await ok_json(
        await w.admin.patch(f"/api/courts/{harness.seed.court_a}", json={"timezone": "Asia/Urumqi"})
    )
    me = await ok_json(await w.clerk.get("/api/auth/me"))
    assert me["court"]["timezone"] == "Asia/Urumqi"
    # login answers the same shape
    anon = await harness.anon()
    login = await ok_json(
        await anon.post("/api/auth/login", json={"username": "judge_a", "password": PASSWORD})
    )
    assert login["court"]["timezone"] == "Asia/Urumqi"


async def test_the_join_info_states_the_courts_time_zone(harness: Harness) -> None:
    w = await build_world(harness)
    anon = await harness.anon()
    info = await ok_json(await anon.get(f"/api/join/{w.invite_a['token']}"))
    assert info["session"]["timezone"] == "Asia/Shanghai"
    await ok_json(
        await w.admin.patch(
            f"/api/courts/{harness.seed.court_a}", json={"timezone": "America/New_York"}
        )
    )
    info = await ok_json(await anon.get(f"/api/join/{w.invite_a['token']}"))
    assert info["session"]["timezone"] == "America/New_York"


async def test_a_time_entered_as_court_time_is_stored_as_that_instant(harness: Harness) -> None:
    """10:30 in Shanghai (what the clerk types, whatever the PC's zone) is 02:30 UTC."""
    w = await build_world(harness)
    case = await create_case(w.clerk)
    body = {
        "case_id": case["id"],
        "scheduled_at": "2026-12-03T10:30:00+08:00",
        "mediator_id": w.uid("judge_a"),
    }
    out = await ok_json(await w.clerk.post("/api/sessions", json=body), 201)
    stored = datetime.fromisoformat(out["scheduled_at"].replace("Z", "+00:00"))
    assert stored == datetime(2026, 12, 3, 2, 30, tzinfo=UTC), stored


# --- phones of staff and courts --------------------------------------------------------------
async def test_staff_accounts_have_a_phone(harness: Harness) -> None:
    w = await build_world(harness)
    created = await ok_json(
        await w.admin.post(
            "/api/users",
            json={
                "username": "clerk_new",
                "display_name": "王书记员",
                "role": "clerk",
                "password": "a-long-password",
                "phone": " 0571-1111 2222 ",
            },
        ),
        201,
    )
    assert created["phone"] == "0571-1111 2222"
    patched = await ok_json(
        await w.admin.patch(f"/api/users/{created['id']}", json={"phone": "13900000000"})
    )
    assert patched["phone"] == "13900000000"
    listed = await ok_json(await w.clerk.get("/api/users"))
    assert {u["username"]: u["phone"] for u in listed}["clerk_new"] == "13900000000"
    # not a phone number
    bad = await w.admin.patch(f"/api/users/{created['id']}", json={"phone": "call me"})
    assert bad.status == 400
    # an account created without one has none
    plain = await ok_json(
        await w.admin.post(
            "/api/users",
            json={
                "username": "clerk_plain",
                "display_name": "赵书记员",
                "role": "clerk",
                "password": "a-long-password",
            },
        ),
        201,
    )
    assert plain["phone"] == ""


async def test_courts_have_a_phone(harness: Harness) -> None:
    w = await build_world(harness)
    out = await ok_json(
        await w.admin.patch(f"/api/courts/{harness.seed.court_a}", json={"phone": COURT_PHONE})
    )
    assert out["phone"] == COURT_PHONE
    courts = await ok_json(await w.clerk.get("/api/courts"))
    assert courts[0]["phone"] == COURT_PHONE
    bad = await w.admin.patch(f"/api/courts/{harness.seed.court_a}", json={"phone": "x" * 5})
    assert bad.status == 400


# --- a refused link names whom to call --------------------------------------------------------
async def test_a_revoked_link_names_the_sessions_clerk(harness: Harness) -> None:
    w = await build_world(harness)
    await _set_phones(w)
    await ok_json(await w.clerk.post(f"/api/invites/{w.invite_a['invite']['id']}/revoke"))
    err = await _refusal(w, w.invite_a["token"])
    assert err["code"] == "link_revoked"
    assert err["contact"] == {"name": "clerk_a", "phone": CLERK_PHONE}
    assert "请联系书记员" in err["message"]


async def test_a_clerk_without_a_phone_gives_the_courts_number(harness: Harness) -> None:
    w = await build_world(harness)
    await _set_phones(w, clerk="")
    await ok_json(await w.clerk.post(f"/api/invites/{w.invite_a['invite']['id']}/revoke"))
    err = await _refusal(w, w.invite_a["token"])
    assert err["contact"] == {"name": "clerk_a", "phone": COURT_PHONE}


async def test_a_session_scheduled_by_a_clerk_names_that_clerk(harness: Harness) -> None:
    w = await build_world(harness)
    await _set_phones(w)
    session = w.session_smed  # scheduled by clerk_a without naming a clerk
    assert session["clerk_id"] is None
    link = await issue_invite(w.clerk, session)
    await ok_json(await w.clerk.post(f"/api/invites/{link['invite']['id']}/revoke"))
    err = await _refusal(w, link["token"])
    assert err["contact"] == {"name": "clerk_a", "phone": CLERK_PHONE}


async def test_a_session_without_a_clerk_gives_the_court(harness: Harness) -> None:
    w = await build_world(harness)
    await _set_phones(w)
    case = await create_case(w.judge)
    session = await create_session(  # a judge schedules, naming no clerk
        w.judge, case["id"], w.uid("judge_a"), at=datetime.now(UTC) + timedelta(days=5)
    )
    link = await issue_invite(w.judge, session)
    await ok_json(await w.judge.post(f"/api/invites/{link['invite']['id']}/revoke"))
    err = await _refusal(w, link["token"])
    assert err["contact"] == {"name": "甲法院 Court A", "phone": COURT_PHONE}


async def test_an_expired_link_names_the_clerk(harness: Harness) -> None:
    w = await build_world(harness)
    await _set_phones(w)
    signer = harness.app[STATE_KEY].signer
    claims = {k: v for k, v in token_payload(w.invite_a["url"]).items() if k != "exp"}
    expired = signer.sign("join", claims, time.time() - 60)
    err = await _refusal(w, expired)
    assert err["code"] == "link_expired"
    assert err["contact"] == {"name": "clerk_a", "phone": CLERK_PHONE}


async def test_a_forged_or_unknown_link_names_nobody(harness: Harness) -> None:
    w = await build_world(harness)
    await _set_phones(w)
    token = w.invite_a["token"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    err = await _refusal(w, forged)
    assert err["code"] == "link_invalid" and "contact" not in err
    # a genuine signature over an invite that does not exist
    signer = harness.app[STATE_KEY].signer
    claims = {**token_payload(w.invite_a["url"]), "inv": "0" * 32}
    claims.pop("exp")
    ghost = signer.sign("join", claims, time.time() + 3600)
    err = await _refusal(w, ghost)
    assert err["code"] == "link_revoked" and "contact" not in err
    # an expired one of an invite that does not exist either
    ghost_expired = signer.sign("join", claims, time.time() - 60)
    err = await _refusal(w, ghost_expired)
    assert err["code"] == "link_expired" and "contact" not in err


async def test_a_closed_sessions_link_names_the_clerk(harness: Harness) -> None:
    w = await build_world(harness)
    await _set_phones(w)
    await set_session_status(harness, w.session_a["id"], SessionStatus.ended)
    err = await _refusal(w, w.invite_a["token"])
    assert err["code"] == "session_closed"
    assert err["contact"] == {"name": "clerk_a", "phone": CLERK_PHONE}


async def test_other_errors_carry_no_contact(harness: Harness) -> None:
    w = await build_world(harness)
    resp = await w.clerk.get("/api/sessions/" + "0" * 32)
    assert resp.status == 404
    assert "contact" not in (await resp.json())["error"]


# --- the printed invitation ------------------------------------------------------------------
async def test_the_invitation_states_what_a_party_needs(harness: Harness) -> None:
    w = await build_world(harness)
    await _set_phones(w)
    inv_id = w.invite_a["invite"]["id"]
    out = await ok_json(await w.clerk.get(f"/api/invites/{inv_id}/invitation"))
    party = next(p for p in w.session_a["participants"] if p["kind"] == "party")
    assert out["invite_id"] == inv_id and out["revoked"] is False
    assert out["participant_name"] == party["display_name"] == "张三"
    assert out["role"] == "applicant" and out["role_label"] == "申请人"
    assert out["case_number"] == w.case_a["case_number"]
    assert out["court_name"] == "甲法院 Court A"
    assert out["timezone"] == "Asia/Shanghai"
    assert out["scheduled_at"][:16] == w.session_a["scheduled_at"][:16]
    assert out["short_url"] == w.invite_a["short_url"]
    assert out["qr_url"] == f"/api/invites/{inv_id}/qr.svg"
    assert out["contact"] == {"name": "clerk_a", "phone": CLERK_PHONE}
    # a revoked link's invitation says so (the page prints no QR code for it)
    await ok_json(await w.clerk.post(f"/api/invites/{inv_id}/revoke"))
    assert (await ok_json(await w.clerk.get(f"/api/invites/{inv_id}/invitation")))["revoked"]


async def test_the_invitation_is_for_the_courts_writers_only(harness: Harness) -> None:
    w = await build_world(harness)
    inv_id = w.invite_a["invite"]["id"]
    mediator = await harness.login("mediator_a")
    assert (await mediator.get(f"/api/invites/{inv_id}/invitation")).status == 403
    clerk_b = await harness.login("clerk_b")
    assert (await clerk_b.get(f"/api/invites/{inv_id}/invitation")).status == 404
    anon = await harness.anon()
    assert (await anon.get(f"/api/invites/{inv_id}/invitation")).status == 401
    assert (await w.clerk.get(f"/api/invites/{'0' * 32}/invitation")).status == 404


async def test_a_terminals_invitation_names_the_terminal(harness: Harness) -> None:
    w = await build_world(harness)
    link = await issue_invite(w.clerk, w.session_a, kind="terminal")
    out = await ok_json(await w.clerk.get(f"/api/invites/{link['invite']['id']}/invitation"))
    assert out["role"] == "terminal"
    assert out["terminal_name"]
