"""Join links and terminal tokens: expiry, tampering, revocation, kind confusion, key rotation;
the terminal's schedule; time zones of scheduled sessions."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from server.models import AuditEvent, SessionStatus
from server.security.tokens import TokenSigner
from server.state import STATE_KEY
from tests.api.world import (
    World,
    build_world,
    create_session,
    create_terminal,
    issue_invite,
    ok_json,
    set_session_status,
    terminal_token,
)
from tests.conftest import Harness

CST = timezone(timedelta(hours=8))


def signer(h: Harness) -> TokenSigner:
    return h.app[STATE_KEY].signer


def decode(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


def encode(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


async def join(h: Harness, token: str) -> tuple[int, Any]:
    anon = await h.anon()
    resp = await anon.get(f"/api/join/{token}")
    return resp.status, await resp.json()


async def schedule(h: Harness, token: str) -> tuple[int, Any]:
    anon = await h.anon()
    resp = await anon.get("/api/terminal/schedule", headers={"Authorization": f"Bearer {token}"})
    return resp.status, await resp.json()


# --- join links -------------------------------------------------------------------------------
async def test_join_link_shows_only_its_own_participant(harness: Harness) -> None:
    w = await build_world(harness)
    status, body = await join(harness, w.invite_a["token"])
    assert status == 200
    assert body["session"]["id"] == w.session_a["id"]
    assert body["participant"]["id"] == w.invite_a["invite"]["participant_id"]
    assert body["session"]["case_number"] == w.case_a["case_number"]
    assert body["recording_notice"] and body["signaling_path"]
    # Nothing about other participants or staff-only data (phones, descriptions).
    text = json.dumps(body, ensure_ascii=False)
    assert "13800000001" not in text and "participants" not in body
    status, body = await join(harness, w.invite_b["token"])
    assert status == 200 and body["session"]["id"] == w.session_b["id"]
    async with harness.app[STATE_KEY].db.session() as s:
        opened = list(
            await s.scalars(select(AuditEvent).where(AuditEvent.action == "invite.open"))
        )
    assert {e.session_id for e in opened} == {w.session_a["id"], w.session_b["id"]}


async def test_expired_join_link(harness: Harness) -> None:
    w = await build_world(harness)
    payload = decode(w.invite_a["token"])
    payload.pop("exp")
    expired = signer(harness).sign("join", payload, time.time() - 5)
    status, body = await join(harness, expired)
    assert status == 401 and body["error"]["code"] == "link_expired"
    # A link issued with a short lifetime expires on its own.
    party = next(p for p in w.session_a["participants"] if p["kind"] == "party")
    link = await ok_json(
        await w.clerk.post(
            f"/api/sessions/{w.session_a['id']}/invites",
            json={"participant_id": party["id"], "ttl_hours": 0.0001},
        ),
        201,
    )
    assert decode(link["token"])["exp"] <= time.time() + 1
    await asyncio.sleep(max(0.0, decode(link["token"])["exp"] - time.time()) + 1.05)
    status, body = await join(harness, link["token"])
    assert status == 401 and body["error"]["code"] == "link_expired"


async def test_tampered_join_links(harness: Harness) -> None:
    w = await build_world(harness)
    kind, body, sig = w.invite_a["token"].split(".")
    payload = decode(w.invite_a["token"])
    # Payload changed (point it at court B's invite, extend expiry), signature kept.
    for change in (
        {"inv": w.invite_b["invite"]["id"], "sid": w.session_b["id"]},
        {"exp": payload["exp"] + 86400 * 365},
        {"role": "mediator"},
    ):
        forged = f"{kind}.{encode({**payload, **change})}.{sig}"
        status, err = await join(harness, forged)
        assert status == 401 and err["error"]["code"] == "link_invalid", change
    # Signature changed.
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    for token in (f"{kind}.{body}.{flipped}", f"{kind}.{body}.", f"{kind}.{body}"):
        status, err = await join(harness, token)
        assert status == 401 and err["error"]["code"] == "link_invalid", token
    # Signed with another secret.
    other = TokenSigner(b"some-other-secret").sign("join", payload, payload["exp"])
    status, err = await join(harness, other)
    assert status == 401 and err["error"]["code"] == "link_invalid"
    # The untouched link still works.
    status, _ = await join(harness, w.invite_a["token"])
    assert status == 200


async def test_revoked_join_link(harness: Harness) -> None:
    w = await build_world(harness)
    invite_id = w.invite_a["invite"]["id"]
    revoked = await ok_json(await w.clerk.post(f"/api/invites/{invite_id}/revoke"))
    assert revoked["revoked_at"] is not None
    status, body = await join(harness, w.invite_a["token"])
    assert status == 401 and body["error"]["code"] == "link_revoked"
    # Revoking twice is harmless and audited once; the QR code of a revoked link is refused.
    await ok_json(await w.clerk.post(f"/api/invites/{invite_id}/revoke"))
    resp = await w.clerk.get(f"/api/invites/{invite_id}/qr.svg")
    assert resp.status == 409
    async with harness.app[STATE_KEY].db.session() as s:
        rows = list(
            await s.scalars(select(AuditEvent).where(AuditEvent.action == "invite.revoke"))
        )
    assert [r.target for r in rows] == [invite_id]
    # A fresh link for the same participant works again.
    fresh = await issue_invite(w.clerk, w.session_a)
    assert (await join(harness, fresh["token"]))[0] == 200


async def test_join_link_for_another_sessions_participant(harness: Harness) -> None:
    """A validly signed token whose invite belongs to another session is refused."""
    w = await build_world(harness)
    payload = decode(w.invite_a["token"])
    payload.pop("exp")
    other_session = await create_session(w.clerk, w.case_a["id"], w.uid("judge_a"))
    crossed = signer(harness).sign(
        "join", {**payload, "sid": other_session["id"]}, time.time() + 3600
    )
    status, body = await join(harness, crossed)
    assert status == 401 and body["error"]["code"] == "link_invalid"
    # An invite id that does not exist at all.
    ghost = signer(harness).sign("join", {**payload, "inv": "0" * 32}, time.time() + 3600)
    status, body = await join(harness, ghost)
    assert status == 401 and body["error"]["code"] == "link_revoked"


async def test_links_die_with_their_session(harness: Harness) -> None:
    w = await build_world(harness)
    await ok_json(await w.clerk.post(f"/api/sessions/{w.session_a['id']}/cancel"))
    status, body = await join(harness, w.invite_a["token"])
    assert status == 401 and body["error"]["code"] == "link_revoked"
    await set_session_status(harness, w.session_b["id"], SessionStatus.ended)
    status, body = await join(harness, w.invite_b["token"])
    assert status == 410 and body["error"]["code"] == "session_closed"


async def test_token_kind_confusion(harness: Harness) -> None:
    w = await build_world(harness)
    anon = await harness.anon()
    term = await terminal_token(anon, w.terminal_a_key)
    # A terminal token is not a join link, and a join link is not a terminal token.
    status, body = await join(harness, term)
    assert status == 401 and body["error"]["code"] == "link_invalid"
    status, body = await schedule(harness, w.invite_a["token"])
    assert status == 401 and body["error"]["code"] == "token_malformed"
    # Relabelling the kind (the JWT header's `typ`) breaks the signature (the key is derived
    # per kind, and the header is signed too).
    _, tbody, tsig = term.split(".")
    relabelled = encode({"alg": "HS256", "typ": "join"})
    status, body = await join(harness, f"{relabelled}.{tbody}.{tsig}")
    assert status == 401 and body["error"]["code"] == "link_invalid"
    _, jbody, jsig = w.invite_a["token"].split(".")
    relabelled = encode({"alg": "HS256", "typ": "term"})
    status, body = await schedule(harness, f"{relabelled}.{jbody}.{jsig}")
    assert status == 401 and body["error"]["code"] == "token_bad_signature"
    # Even correctly signed, a payload of the wrong kind carries nothing usable.
    tpayload = decode(term)
    tpayload.pop("exp")
    join_with_term_payload = signer(harness).sign("join", tpayload, time.time() + 600)
    status, body = await join(harness, join_with_term_payload)
    assert status == 401
    jpayload = decode(w.invite_a["token"])
    jpayload.pop("exp")
    term_with_join_payload = signer(harness).sign("term", jpayload, time.time() + 600)
    status, body = await schedule(harness, term_with_join_payload)
    assert status == 401 and body["error"]["code"] == "token_revoked"


# --- terminals --------------------------------------------------------------------------------
async def test_terminal_login_and_bad_keys(harness: Harness) -> None:
    w = await build_world(harness)
    anon = await harness.anon()
    out = await ok_json(
        await anon.post("/api/terminal/login", json={"device_key": w.terminal_a_key})
    )
    assert out["terminal"]["id"] == w.terminal_a
    assert datetime.fromisoformat(out["expires_at"]) > datetime.now(UTC)
    prefix = w.terminal_a_key.split(".")[0]
    for key in (prefix + ".wrong-secret-value", "nosuchprefix.secret", w.terminal_b_key + "x"):
        resp = await anon.post("/api/terminal/login", json={"device_key": key})
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "bad_device_key"
    max_failures = harness.app[STATE_KEY].login_limiter.max_events
    for _ in range(max_failures - 3):
        resp = await anon.post("/api/terminal/login", json={"device_key": "zzzzzzzz.zzzz"})
        assert resp.status == 401
    resp = await anon.post("/api/terminal/login", json={"device_key": w.terminal_a_key})
    assert resp.status == 429 and (await resp.json())["error"]["code"] == "rate_limited"
    async with harness.app[STATE_KEY].db.session() as s:
        failed = list(
            await s.scalars(
                select(AuditEvent).where(AuditEvent.action == "terminal.login_failed")
            )
        )
    assert len(failed) == max_failures


async def test_expired_and_tampered_terminal_tokens(harness: Harness) -> None:
    w = await build_world(harness)
    anon = await harness.anon()
    term = await terminal_token(anon, w.terminal_a_key)
    assert (await schedule(harness, term))[0] == 200
    payload = decode(term)
    payload.pop("exp")
    expired = signer(harness).sign("term", payload, time.time() - 1)
    status, body = await schedule(harness, expired)
    assert status == 401 and body["error"]["code"] == "token_expired"
    kind, body_part, sig = term.split(".")
    # Point the token at court B's terminal without re-signing.
    forged = encode({**decode(term), "tid": w.terminal_b})
    status, body = await schedule(harness, f"{kind}.{forged}.{sig}")
    assert status == 401 and body["error"]["code"] == "token_bad_signature"
    # A reversed signature is often not even canonical base64, which PyJWT refuses as malformed
    # before comparing.
    status, body = await schedule(harness, f"{kind}.{body_part}.{sig[::-1]}")
    assert status == 401
    assert body["error"]["code"] in ("token_bad_signature", "token_malformed")
    anon2 = await harness.anon()
    resp = await anon2.get("/api/terminal/schedule")
    assert resp.status == 401
    resp = await anon2.get("/api/terminal/schedule", headers={"Authorization": f"Basic {term}"})
    assert resp.status == 401


async def test_key_rotation_invalidates_old_key_and_tokens(harness: Harness) -> None:
    w = await build_world(harness)
    anon = await harness.anon()
    old_token = await terminal_token(anon, w.terminal_a_key)
    assert (await schedule(harness, old_token))[0] == 200
    rotated = await ok_json(await w.admin.post(f"/api/terminals/{w.terminal_a}/rotate-key"))
    new_key = rotated["device_key"]
    assert new_key != w.terminal_a_key
    status, body = await schedule(harness, old_token)
    assert status == 401 and body["error"]["code"] == "token_revoked"
    resp = await anon.post("/api/terminal/login", json={"device_key": w.terminal_a_key})
    assert resp.status == 401
    new_token = await terminal_token(anon, new_key)
    assert (await schedule(harness, new_token))[0] == 200
    # Deactivating the terminal cuts it off as well.
    await ok_json(await w.admin.patch(f"/api/terminals/{w.terminal_a}", json={"active": False}))
    status, body = await schedule(harness, new_token)
    assert status == 401 and body["error"]["code"] == "token_revoked"
    resp = await anon.post("/api/terminal/login", json={"device_key": new_key})
    assert resp.status == 401


async def test_terminal_schedule_is_today_and_this_terminal_only(harness: Harness) -> None:
    w: World = await build_world(harness)
    other_terminal, _ = await create_terminal(w.admin)
    now = datetime.now(UTC)
    judge = w.uid("judge_a")
    case = w.case_a["id"]
    later_today = await create_session(w.clerk, case, judge, terminal_id=w.terminal_a, at=now)
    tomorrow = now + timedelta(days=2)
    yesterday = now - timedelta(days=2)
    await create_session(w.clerk, case, judge, terminal_id=w.terminal_a, at=tomorrow)
    await create_session(w.clerk, case, judge, terminal_id=w.terminal_a, at=yesterday)
    await create_session(w.clerk, case, judge, terminal_id=other_terminal, at=now)
    await create_session(w.clerk, case, judge, at=now)  # no terminal
    cancelled = await create_session(w.clerk, case, judge, terminal_id=w.terminal_a, at=now)
    await ok_json(await w.clerk.post(f"/api/sessions/{cancelled['id']}/cancel"))
    ended = await create_session(w.clerk, case, judge, terminal_id=w.terminal_a, at=now)
    await set_session_status(harness, ended["id"], SessionStatus.ended)
    live = await create_session(w.clerk, case, judge, terminal_id=w.terminal_a, at=now)
    await set_session_status(harness, live["id"], SessionStatus.live)

    anon = await harness.anon()
    token = await terminal_token(anon, w.terminal_a_key)
    status, items = await schedule(harness, token)
    assert status == 200
    got = {item["session"]["id"] for item in items}
    assert got == {w.session_a["id"], later_today["id"], live["id"]}
    for item in items:
        assert item["session"]["terminal_name"]
        # Each item carries a working one-tap link for the terminal participant.
        s, info = await join(harness, item["join_token"])
        assert s == 200
        assert info["participant"]["kind"] == "terminal"
        assert info["participant"]["id"] == item["participant_id"]
        assert info["session"]["id"] == item["session"]["id"]
        assert item["join_url"].endswith(item["join_token"])
    # The one-tap links are reused, not re-issued on every poll.
    _, again = await schedule(harness, token)
    assert {i["join_token"] for i in again} == {i["join_token"] for i in items}
    # Court B's terminal sees court B's session only.
    token_b = await terminal_token(anon, w.terminal_b_key)
    _, items_b = await schedule(harness, token_b)
    assert [i["session"]["id"] for i in items_b] == [w.session_b["id"]]


async def test_scheduled_time_keeps_its_instant_across_time_zones(harness: Harness) -> None:
    """10:00 in Beijing is 02:00 UTC, whatever offset the client used and the database has."""
    w = await build_world(harness)
    at = datetime(2030, 5, 1, 10, 0, tzinfo=CST)
    created = await create_session(w.clerk, w.case_a["id"], w.uid("judge_a"), at=at)
    fetched = await ok_json(await w.clerk.get(f"/api/sessions/{created['id']}"))
    stored = datetime.fromisoformat(fetched["scheduled_at"])
    assert stored.tzinfo is not None, fetched["scheduled_at"]
    assert stored == at
    # The list filter uses the court's local date (China Standard Time).
    day = await ok_json(await w.clerk.get("/api/sessions", params={"date": "2030-05-01"}))
    assert created["id"] in {s["id"] for s in day}
    early = datetime(2030, 5, 2, 7, 30, tzinfo=CST)  # 23:30 UTC on 1 May
    s2 = await create_session(w.clerk, w.case_a["id"], w.uid("judge_a"), at=early)
    day2 = await ok_json(await w.clerk.get("/api/sessions", params={"date": "2030-05-02"}))
    assert {s["id"] for s in day2} == {s2["id"]}
    # Naive datetimes are refused rather than guessed.
    resp = await w.clerk.post(
        "/api/sessions",
        json={
            "case_id": w.case_a["id"],
            "scheduled_at": "2030-05-01T10:00:00",
            "mediator_id": w.uid("judge_a"),
        },
    )
    assert resp.status == 400
    fields = {f["field"] for f in (await resp.json())["error"]["fields"]}
    assert "scheduled_at" in fields
