"""Staff login, logout, session cookie expiry, login rate limiting and CSRF protection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from server.app import all_routes
from server.models import AuditEvent, StaffSession
from server.state import STATE_KEY
from tests.api.world import AnyId, build_world, ok_json
from tests.conftest import PASSWORD, Harness


async def audit_rows(h: Harness, action: str) -> list[AuditEvent]:
    async with h.app[STATE_KEY].db.session() as s:
        return list(await s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def login_raw(h: Harness, username: str, password: str) -> Any:
    client = await h.anon()
    return await client.post("/api/auth/login", json={"username": username, "password": password})


async def test_login_success_sets_a_strict_httponly_cookie_and_audits(harness: Harness) -> None:
    client = await harness.anon()
    resp = await client.post("/api/auth/login", json={"username": "clerk_a", "password": PASSWORD})
    body = await ok_json(resp)
    assert body["user"]["username"] == "clerk_a" and body["user"]["role"] == "clerk"
    assert "password_hash" not in body["user"]
    assert len(body["csrf_token"]) >= 20
    cookie = resp.headers["Set-Cookie"]
    assert "sc_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    me = await ok_json(await client.get("/api/auth/me"))
    assert me["user"]["id"] == harness.seed.users["clerk_a"]
    assert me["csrf_token"] == body["csrf_token"]
    rows = await audit_rows(harness, "login")
    assert [r.actor for r in rows] == [f"user:{harness.seed.users['clerk_a']}"]
    assert rows[0].court_id == harness.seed.court_a and rows[0].ip
    # Only a hash of the cookie value is stored.
    token = client.session.cookie_jar.filter_cookies(client.make_url("/"))["sc_session"].value
    async with harness.app[STATE_KEY].db.session() as s:
        hashes = list(await s.scalars(select(StaffSession.token_hash)))
    assert token not in hashes and len(hashes) == 1


async def test_login_failures_are_uniform_and_audited(harness: Harness) -> None:
    for username, password in [
        ("clerk_a", "wrong-password"),
        ("no_such_user", PASSWORD),
        ("CLERK_A", PASSWORD),  # usernames are exact
    ]:
        resp = await login_raw(harness, username, password)
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "bad_credentials"
        assert "Set-Cookie" not in resp.headers
    failed = await audit_rows(harness, "login.failed")
    assert [r.target for r in failed] == ["clerk_a", "no_such_user", "CLERK_A"]
    assert all(r.actor == "anonymous" for r in failed)
    assert await audit_rows(harness, "login") == []


async def test_inactive_user_cannot_log_in_and_loses_sessions(harness: Harness) -> None:
    admin = await harness.login("admin_a")
    clerk = await harness.login("clerk_a")
    uid = harness.seed.users["clerk_a"]
    await ok_json(await admin.patch(f"/api/users/{uid}", json={"active": False}))
    resp = await clerk.get("/api/auth/me")
    assert resp.status == 401
    resp = await login_raw(harness, "clerk_a", PASSWORD)
    assert resp.status == 401
    await ok_json(await admin.patch(f"/api/users/{uid}", json={"active": True}))
    await harness.login("clerk_a")


async def test_password_change_takes_effect(harness: Harness) -> None:
    admin = await harness.login("admin_a")
    uid = harness.seed.users["judge_a"]
    await ok_json(await admin.patch(f"/api/users/{uid}", json={"password": "a-brand-new-pass"}))
    assert (await login_raw(harness, "judge_a", PASSWORD)).status == 401
    assert (await login_raw(harness, "judge_a", "a-brand-new-pass")).status == 200


async def test_login_is_rate_limited(harness: Harness) -> None:
    max_failures = harness.app[STATE_KEY].settings.login_max_failures
    for _ in range(max_failures):
        resp = await login_raw(harness, "judge_a", "wrong-password")
        assert resp.status == 401
    # Now even the right password is refused until the window passes.
    resp = await login_raw(harness, "judge_a", PASSWORD)
    assert resp.status == 429
    body = await resp.json()
    assert body["error"]["code"] == "rate_limited"
    assert len(await audit_rows(harness, "login.failed")) == max_failures
    throttled = await audit_rows(harness, "login.throttled")
    assert [r.target for r in throttled] == ["judge_a"]
    # The source address is throttled as well, so other accounts are protected.
    resp = await login_raw(harness, "clerk_a", PASSWORD)
    assert resp.status == 429
    assert await audit_rows(harness, "login") == []


async def test_login_rate_limit_window_expires(harness: Harness) -> None:
    limiter = harness.app[STATE_KEY].login_limiter
    for _ in range(limiter.max_events):
        await limiter.hit("user:judge_a", now=1000.0)
    assert await limiter.retry_after("user:judge_a", now=1000.0) > 0
    assert await limiter.retry_after("user:judge_a", now=1000.0 + limiter.window + 0.01) == 0
    assert await limiter.retry_after("user:clerk_a", now=1000.0) == 0


async def test_successful_login_resets_the_account_counter(harness: Harness) -> None:
    limiter = harness.app[STATE_KEY].login_limiter
    for _ in range(limiter.max_events - 1):
        assert (await login_raw(harness, "judge_a", "nope-nope")).status == 401
    assert (await login_raw(harness, "judge_a", PASSWORD)).status == 200
    assert await limiter.retry_after("user:judge_a") == 0


async def test_logout_invalidates_the_cookie(harness: Harness) -> None:
    clerk = await harness.login("clerk_a")
    jar = clerk.client.session.cookie_jar
    token = jar.filter_cookies(clerk.client.make_url("/"))["sc_session"].value
    resp = await clerk.post("/api/auth/logout")
    assert resp.status == 204
    assert "sc_session" in resp.headers.get("Set-Cookie", "")
    assert (await clerk.get("/api/auth/me")).status == 401
    # Replaying the old cookie value does not work either: the server forgot the session.
    replay = await harness.anon()
    resp = await replay.get("/api/auth/me", cookies={"sc_session": token})
    assert resp.status == 401
    assert len(await audit_rows(harness, "logout")) == 1
    # Other sessions of the same user are unaffected.
    other = await harness.login("clerk_a")
    assert (await other.get("/api/auth/me")).status == 200


async def test_expired_staff_session_is_rejected(harness: Harness) -> None:
    clerk = await harness.login("clerk_a")
    assert (await clerk.get("/api/auth/me")).status == 200
    async with harness.app[STATE_KEY].db.session() as s:
        await s.execute(
            update(StaffSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    resp = await clerk.get("/api/auth/me")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthenticated"


async def test_forged_cookie_is_rejected(harness: Harness) -> None:
    anon = await harness.anon()
    for value in ("x", "a" * 43, ""):
        resp = await anon.get("/api/auth/me", cookies={"sc_session": value})
        assert resp.status == 401


async def test_csrf_required_on_every_unsafe_staff_route(harness: Harness) -> None:
    w = await build_world(harness)
    # Another session's CSRF token is as wrong as a made-up one.
    foreign = w.judge.csrf
    unsafe = [
        r for r in all_routes().routes if r.auth == "staff" and r.method in ("POST", "PATCH")
    ]
    assert len(unsafe) >= 15
    values = AnyId({
        "court_id": harness.seed.court_a,
        "user_id": w.uid("mediator_a2"),
        "case_id": w.case_a["id"],
        "party_id": w.case_a["parties"][0]["id"],
        "terminal_id": w.terminal_a,
        "session_id": w.session_a["id"],
        "invite_id": w.invite_a["invite"]["id"],
    })
    for spec in unsafe:
        path = spec.path.format_map(values)
        for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": foreign}):
            # Bypass the helper that adds the right header.
            resp = await w.admin.client.request(spec.method, path, json={}, headers=headers)
            assert resp.status == 403, f"{spec.method} {path} {headers}: {resp.status}"
            assert (await resp.json())["error"]["code"] == "csrf_failed"
    # Nothing was changed by the refused requests; the session is still scheduled.
    session = await ok_json(await w.clerk.get(f"/api/sessions/{w.session_a['id']}"))
    assert session["status"] == "scheduled"
    # Safe methods need no token; the right token works.
    resp = await w.admin.client.get("/api/users")
    assert resp.status == 200
    resp = await w.admin.patch(f"/api/courts/{harness.seed.court_a}", json={"region": "杭州"})
    assert resp.status == 200


async def test_logout_requires_csrf(harness: Harness) -> None:
    clerk = await harness.login("clerk_a")
    resp = await clerk.client.post("/api/auth/logout")
    assert resp.status == 403
    assert (await clerk.get("/api/auth/me")).status == 200
