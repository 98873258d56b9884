"""Permission matrix: every API endpoint x every kind of caller, with the expected status.

One test walks the whole matrix and reports every mismatch at once; a second test makes sure
each declared route has a row here (or is covered by a dedicated test), so a new endpoint can't
ship without its permission rules being written down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from server.app import all_routes
from tests.api.world import (
    World,
    build_world,
    create_session,
    create_terminal,
    issue_invite,
    terminal_token,
    unique,
)
from tests.conftest import Harness

STAFF = {
    "admin": "admin_a",
    "judge": "judge_a",
    "clerk": "clerk_a",
    "mediator": "mediator_a",  # assigned to case_med and mediating session_smed
    "mediator2": "mediator_a2",  # assigned to nothing
    "other": "judge_b",  # judge of court B
    "other_admin": "admin_b",
}
ROLES = [*STAFF, "anon", "party", "terminal"]

Prepare = Callable[[World, str], Awaitable[tuple[str, Any]]]
Check = Callable[[World, str, Any], None]


def expect(
    *,
    admin: int,
    judge: int,
    clerk: int,
    mediator: int,
    mediator2: int | None = None,
    other: int,
    other_admin: int | None = None,
    anon: int = 401,
    party: int = 401,
    terminal: int = 401,
) -> dict[str, int]:
    return {
        "admin": admin,
        "judge": judge,
        "clerk": clerk,
        "mediator": mediator,
        "mediator2": mediator if mediator2 is None else mediator2,
        "other": other,
        "other_admin": (other if other_admin is None else other_admin),
        "anon": anon,
        "party": party,
        "terminal": terminal,
    }


ALL_STAFF_OK = expect(admin=200, judge=200, clerk=200, mediator=200, other=200)
READERS_OK = expect(admin=403, judge=200, clerk=200, mediator=200, other=200, other_admin=403)


@dataclass
class Row:
    method: str
    route: str  # the declared path, for the coverage check
    prepare: Prepare
    expected: dict[str, int]
    check: Check | None = None
    fresh_login: bool = False


def fixed(path: str, body: Any = None) -> Prepare:
    async def prep(w: World, role: str) -> tuple[str, Any]:
        return path.format(w=w), body

    return prep


def ids(items: Any) -> set[str]:
    return {item["id"] for item in items}


# --- content checks: what a caller may see, not only whether the call succeeds ---------------
def check_courts(w: World, role: str, body: Any) -> None:
    if role in ("other", "other_admin"):
        assert w.h.seed.court_a not in ids(body)
    elif role in STAFF:
        assert ids(body) == {w.h.seed.court_a}


def check_users(w: World, role: str, body: Any) -> None:
    court = w.h.seed.court_b if role in ("other", "other_admin") else w.h.seed.court_a
    assert body and {u["court_id"] for u in body} == {court}
    assert all("password" not in k for u in body for k in u)


def check_cases(w: World, role: str, body: Any) -> None:
    seen = ids(body)
    if role == "mediator":
        assert seen == {w.case_med["id"], w.case_smed["id"]}
    elif role == "mediator2":
        assert seen == set()
    elif role == "other":
        assert seen == {w.case_b["id"]}
    else:
        assert {w.case_a["id"], w.case_med["id"], w.case_smed["id"]} <= seen
        assert w.case_b["id"] not in seen


def check_sessions(w: World, role: str, body: Any) -> None:
    seen = ids(body)
    if role == "mediator":
        assert seen == {w.session_smed["id"]}
    elif role == "mediator2":
        assert seen == set()
    elif role == "other":
        assert seen == {w.session_b["id"]}
    else:
        assert {w.session_a["id"], w.session_smed["id"]} <= seen
        assert w.session_b["id"] not in seen


def check_terminals(w: World, role: str, body: Any) -> None:
    seen = ids(body)
    if role in ("other", "other_admin"):
        assert w.terminal_a not in seen and w.terminal_b in seen
    else:
        assert w.terminal_a in seen and w.terminal_b not in seen
    assert all("key" not in k for t in body for k in t)


def check_audit(w: World, role: str, body: Any) -> None:
    assert body, "audit log should not be empty"
    ids_a = {w.session_a["id"], w.session_smed["id"]}
    sessions = {e["session_id"] for e in body if e["session_id"]}
    if role in ("other", "other_admin"):
        assert not sessions & ids_a
        assert {e["actor"] for e in body} & {f"user:{w.uid(STAFF[role])}"}
    else:
        assert w.session_b["id"] not in sessions


def check_join(w: World, role: str, body: Any) -> None:
    # Whoever holds the link sees exactly that participant of that session, nothing else.
    assert body["session"]["id"] == w.session_a["id"]
    assert body["participant"]["id"] == w.invite_a["invite"]["participant_id"]
    assert body["participant"]["kind"] == "party"


def check_schedule(w: World, role: str, body: Any) -> None:
    assert [item["session"]["id"] for item in body] == [w.session_a["id"]]


def check_created_in_own_court(w: World, role: str, body: Any) -> None:
    item = body.get("terminal", body)
    court = w.h.seed.court_b if role in ("other", "other_admin") else w.h.seed.court_a
    if "court_id" in item:
        assert item["court_id"] == court


# --- preparations that need a fresh object per caller (state-changing endpoints) -------------
async def fresh_session(w: World, role: str) -> tuple[str, Any]:
    s = await create_session(w.clerk, w.case_a["id"], w.uid("judge_a"))
    return f"/api/sessions/{s['id']}/cancel", None


async def fresh_invite(w: World, role: str) -> tuple[str, Any]:
    link = await issue_invite(w.clerk, w.session_a)
    return f"/api/invites/{link['invite']['id']}/revoke", None


async def fresh_terminal(w: World, role: str) -> tuple[str, Any]:
    tid, _ = await create_terminal(w.admin)
    return f"/api/terminals/{tid}/rotate-key", None


async def new_court(w: World, role: str) -> tuple[str, Any]:
    return "/api/courts", {"name": unique(f"新法院-{role}-")}


async def new_user(w: World, role: str) -> tuple[str, Any]:
    return "/api/users", {
        "username": unique(f"user_{role}_"),
        "display_name": "新用户",
        "role": "clerk",
        "password": "long-enough-password",
    }


async def new_case(w: World, role: str) -> tuple[str, Any]:
    return "/api/cases", {"case_number": unique(f"案-{role}-"), "case_type": "labour"}


async def new_terminal(w: World, role: str) -> tuple[str, Any]:
    return "/api/terminals", {"name": unique(f"终端-{role}-")}


async def new_session(w: World, role: str) -> tuple[str, Any]:
    at = datetime.now(UTC) + timedelta(days=1)
    return "/api/sessions", {
        "case_id": w.case_a["id"],
        "scheduled_at": at.isoformat(),
        "mediator_id": w.uid("judge_a"),
    }


async def new_party(w: World, role: str) -> tuple[str, Any]:
    return f"/api/cases/{w.case_a['id']}/parties", {"name": unique("代理人"), "role": "agent"}


async def new_invite(w: World, role: str) -> tuple[str, Any]:
    party = next(p for p in w.session_a["participants"] if p["kind"] == "party")
    return f"/api/sessions/{w.session_a['id']}/invites", {"participant_id": party["id"]}


async def join_a(w: World, role: str) -> tuple[str, Any]:
    return f"/api/join/{w.invite_a['token']}", None


async def invitation_a(w: World, role: str) -> tuple[str, Any]:
    return f"/api/invites/{w.invite_a['invite']['id']}/invitation", None


async def short_a(w: World, role: str) -> tuple[str, Any]:
    return f"/j/{w.invite_a['invite']['short_code']}", None


async def qr_a(w: World, role: str) -> tuple[str, Any]:
    return f"/api/invites/{w.invite_a['invite']['id']}/qr.svg", None


def party_id(w: World) -> str:
    return str(w.case_a["parties"][0]["id"])


ROWS: list[Row] = [
    Row(
        "POST",
        "/api/auth/logout",
        fixed("/api/auth/logout"),
        expect(admin=204, judge=204, clerk=204, mediator=204, other=204),
        fresh_login=True,
    ),
    Row("GET", "/api/auth/me", fixed("/api/auth/me"), ALL_STAFF_OK),
    Row("GET", "/api/courts", fixed("/api/courts"), ALL_STAFF_OK, check_courts),
    Row(
        "POST",
        "/api/courts",
        new_court,
        expect(admin=201, judge=403, clerk=403, mediator=403, other=403, other_admin=201),
    ),
    Row(
        "PATCH",
        "/api/courts/{court_id}",
        fixed("/api/courts/{w.h.seed.court_a}", {"region": "浙江省"}),
        expect(admin=200, judge=403, clerk=403, mediator=403, other=403, other_admin=404),
    ),
    Row("GET", "/api/users", fixed("/api/users"), ALL_STAFF_OK, check_users),
    Row(
        "POST",
        "/api/users",
        new_user,
        expect(admin=201, judge=403, clerk=403, mediator=403, other=403, other_admin=201),
        check_created_in_own_court,
    ),
    Row(
        "PATCH",
        "/api/users/{user_id}",
        fixed("/api/users/{w.h.seed.users[clerk_a]}", {"display_name": "李书记员"}),
        expect(admin=200, judge=403, clerk=403, mediator=403, other=403, other_admin=404),
    ),
    Row("GET", "/api/cases", fixed("/api/cases"), READERS_OK, check_cases),
    Row(
        "POST",
        "/api/cases",
        new_case,
        expect(admin=403, judge=201, clerk=201, mediator=403, other=201, other_admin=403),
        check_created_in_own_court,
    ),
    Row(
        "GET",
        "/api/cases/{case_id}",
        fixed("/api/cases/{w.case_a[id]}"),
        expect(admin=403, judge=200, clerk=200, mediator=404, other=404, other_admin=403),
    ),
    Row(  # assigned to the mediator through case.mediator_id
        "GET",
        "/api/cases/{case_id}",
        fixed("/api/cases/{w.case_med[id]}"),
        expect(
            admin=403, judge=200, clerk=200, mediator=200, mediator2=404, other=404, other_admin=403
        ),
    ),
    Row(  # visible to the mediator because they mediate one of its sessions
        "GET",
        "/api/cases/{case_id}",
        fixed("/api/cases/{w.case_smed[id]}"),
        expect(
            admin=403, judge=200, clerk=200, mediator=200, mediator2=404, other=404, other_admin=403
        ),
    ),
    Row(
        "PATCH",
        "/api/cases/{case_id}",
        fixed("/api/cases/{w.case_a[id]}", {"title": "新标题"}),
        expect(admin=403, judge=200, clerk=200, mediator=403, other=404, other_admin=403),
    ),
    Row(
        "PATCH",
        "/api/cases/{case_id}",
        fixed("/api/cases/{w.case_med[id]}", {"title": "改"}),
        expect(admin=403, judge=200, clerk=200, mediator=403, other=404, other_admin=403),
    ),
    Row(
        "POST",
        "/api/cases/{case_id}/parties",
        new_party,
        expect(admin=403, judge=201, clerk=201, mediator=403, other=404, other_admin=403),
    ),
    Row(
        "PATCH",
        "/api/parties/{party_id}",
        lambda w, r: fixed(f"/api/parties/{party_id(w)}", {"phone": "13900000000"})(w, r),
        expect(admin=403, judge=200, clerk=200, mediator=403, other=404, other_admin=403),
    ),
    Row("GET", "/api/terminals", fixed("/api/terminals"), ALL_STAFF_OK, check_terminals),
    Row(
        "POST",
        "/api/terminals",
        new_terminal,
        expect(admin=201, judge=403, clerk=403, mediator=403, other=403, other_admin=201),
        check_created_in_own_court,
    ),
    Row(
        "PATCH",
        "/api/terminals/{terminal_id}",
        fixed("/api/terminals/{w.terminal_a}", {"location": "村委会"}),
        expect(admin=200, judge=403, clerk=403, mediator=403, other=403, other_admin=404),
    ),
    Row(
        "POST",
        "/api/terminals/{terminal_id}/rotate-key",
        fresh_terminal,
        expect(admin=200, judge=403, clerk=403, mediator=403, other=403, other_admin=404),
    ),
    Row(
        "GET",
        "/api/terminal/schedule",
        fixed("/api/terminal/schedule"),
        expect(
            admin=401, judge=401, clerk=401, mediator=401, other=401, terminal=200, party=401
        ),
        check_schedule,
    ),
    Row("GET", "/api/sessions", fixed("/api/sessions"), READERS_OK, check_sessions),
    Row(
        "POST",
        "/api/sessions",
        new_session,
        expect(admin=403, judge=201, clerk=201, mediator=403, other=404, other_admin=403),
    ),
    Row(
        "GET",
        "/api/sessions/{session_id}",
        fixed("/api/sessions/{w.session_a[id]}"),
        expect(admin=403, judge=200, clerk=200, mediator=404, other=404, other_admin=403),
    ),
    Row(
        "GET",
        "/api/sessions/{session_id}",
        fixed("/api/sessions/{w.session_smed[id]}"),
        expect(
            admin=403, judge=200, clerk=200, mediator=200, mediator2=404, other=404, other_admin=403
        ),
    ),
    Row(
        "PATCH",
        "/api/sessions/{session_id}",
        fixed("/api/sessions/{w.session_a[id]}", {"duration_minutes": 45}),
        expect(admin=403, judge=200, clerk=200, mediator=403, other=404, other_admin=403),
    ),
    Row(
        "PATCH",
        "/api/sessions/{session_id}",
        fixed("/api/sessions/{w.session_smed[id]}", {"duration_minutes": 50}),
        expect(admin=403, judge=200, clerk=200, mediator=403, other=404, other_admin=403),
    ),
    Row(
        "POST",
        "/api/sessions/{session_id}/cancel",
        fresh_session,
        expect(admin=403, judge=200, clerk=200, mediator=403, other=404, other_admin=403),
    ),
    Row(
        "GET",
        "/api/sessions/{session_id}/invites",
        fixed("/api/sessions/{w.session_a[id]}/invites"),
        expect(admin=403, judge=200, clerk=200, mediator=403, other=404, other_admin=403),
    ),
    Row(
        "POST",
        "/api/sessions/{session_id}/invites",
        new_invite,
        expect(admin=403, judge=201, clerk=201, mediator=403, other=404, other_admin=403),
    ),
    Row(
        "POST",
        "/api/invites/{invite_id}/revoke",
        fresh_invite,
        expect(admin=403, judge=200, clerk=200, mediator=403, other=404, other_admin=403),
    ),
    Row(
        "GET",
        "/api/invites/{invite_id}/qr.svg",
        qr_a,
        expect(admin=403, judge=200, clerk=200, mediator=403, other=404, other_admin=403),
    ),
    Row(
        "GET",
        "/api/invites/{invite_id}/invitation",
        invitation_a,
        expect(admin=403, judge=200, clerk=200, mediator=403, other=404, other_admin=403),
    ),
    Row(  # a join link is a bearer credential: whoever holds it sees only its own data
        "GET",
        "/api/join/{token}",
        join_a,
        expect(
            admin=200,
            judge=200,
            clerk=200,
            mediator=200,
            other=200,
            anon=200,
            party=200,
            terminal=200,
        ),
        check_join,
    ),
    Row(  # the short form of the same bearer link: a redirect to it, for anyone
        "GET",
        "/j/{code}",
        short_a,
        expect(
            admin=302,
            judge=302,
            clerk=302,
            mediator=302,
            other=302,
            anon=302,
            party=302,
            terminal=302,
        ),
    ),
    Row(
        "GET",
        "/api/audit",
        fixed("/api/audit"),
        expect(admin=200, judge=200, clerk=200, mediator=403, other=200, other_admin=200),
        check_audit,
    ),
]

# Routes whose callers are anyone (credentials are in the body); covered by dedicated tests.
COVERED_ELSEWHERE = {
    ("POST", "/api/auth/login"),  # test_auth.py
    ("POST", "/api/terminal/login"),  # test_tokens.py
}
# Feature routes whose permission rules are tested, role by role, in their own suites.
FEATURE_SUITES = {
    "recordings": "tests/archive/test_recordings_api.py",
    "transcripts": "tests/transcripts/",
    "agreements": "tests/agreements/",
    "network": "tests/court_network/",
}


def _feature_routes() -> set[tuple[str, str]]:
    from server.agreements import routes as agreements
    from server.archive import routes as recordings
    from server.court_network import routes as network
    from server.transcripts import routes as transcripts

    modules = {"recordings": recordings, "transcripts": transcripts,
               "agreements": agreements, "network": network}
    assert set(modules) == set(FEATURE_SUITES)
    return {(r.method, r.path) for m in modules.values() for r in m.api.routes}


def test_every_route_is_in_the_matrix() -> None:
    declared = {(r.method, r.path) for r in all_routes().routes}
    in_matrix = {(row.method, row.route) for row in ROWS}
    assert in_matrix <= declared, f"stale rows: {in_matrix - declared}"
    missing = declared - in_matrix - COVERED_ELSEWHERE - _feature_routes()
    assert not missing, f"routes without permission rows: {sorted(missing)}"


async def _callers(h: Harness, w: World) -> dict[str, Any]:
    callers: dict[str, Any] = {
        "admin": w.admin,
        "judge": w.judge,
        "clerk": w.clerk,
        "other": w.judge_b,
        "other_admin": w.admin_b,
        "mediator": await h.login("mediator_a"),
        "mediator2": await h.login("mediator_a2"),
    }
    anon = await h.anon()
    term = await terminal_token(anon, w.terminal_a_key)
    callers["anon"] = anon
    callers["party"] = ("Bearer", w.invite_a["token"])
    callers["terminal"] = ("Bearer", term)
    return callers


async def _send(
    h: Harness, caller: Any, anon: Any, method: str, path: str, body: Any
) -> tuple[int, Any]:
    # A redirect is the answer (the short link's 302), not a hop to follow.
    kw: dict[str, Any] = {"allow_redirects": False}
    if body is not None:
        kw["json"] = body
    if isinstance(caller, tuple):
        # Party and terminal tokens travel as bearer tokens, with no staff cookie.
        kw["headers"] = {"Authorization": f"Bearer {caller[1]}"}
        resp = await anon.request(method, path, **kw)
    else:
        resp = await caller.request(method, path, **kw)
    ctype = resp.headers.get("Content-Type", "")
    if "json" in ctype:
        return resp.status, await resp.json()
    return resp.status, await resp.read()


async def test_permission_matrix(harness: Harness) -> None:
    w = await build_world(harness)
    callers = await _callers(harness, w)
    anon = callers["anon"]
    bearer_client = await harness.anon()
    failures: list[str] = []
    for row in ROWS:
        for role in ROLES:
            path, body = await row.prepare(w, role)
            caller = callers[role]
            if row.fresh_login and role in STAFF:
                caller = await harness.login(STAFF[role])
            client = bearer_client if isinstance(caller, tuple) else anon
            status, payload = await _send(harness, caller, client, row.method, path, body)
            want = row.expected[role]
            label = f"{row.method} {path} as {role}"
            if status != want:
                failures.append(f"{label}: got {status}, expected {want}: {payload!r:.200}")
                continue
            if status >= 400:
                if not (isinstance(payload, dict) and "code" in payload.get("error", {})):
                    failures.append(f"{label}: error body is not JSON with error.code")
            elif row.check is not None:
                try:
                    row.check(w, role, payload)
                except AssertionError as exc:
                    failures.append(f"{label}: content check failed: {exc}")
    assert not failures, "permission matrix mismatches:\n" + "\n".join(failures)


async def test_staff_cookie_with_bearer_token_does_not_escalate(harness: Harness) -> None:
    """A terminal or party token never grants staff rights, and staff rights don't leak into
    terminal-only endpoints."""
    w = await build_world(harness)
    anon = await harness.anon()
    term = await terminal_token(anon, w.terminal_a_key)
    resp = await anon.get("/api/cases", headers={"Authorization": f"Bearer {term}"})
    assert resp.status == 401
    resp = await w.judge.get(
        "/api/terminal/schedule", headers={"Authorization": f"Bearer {w.invite_a['token']}"}
    )
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "token_malformed"


async def test_other_court_ids_are_hidden(harness: Harness) -> None:
    """Court B's objects are not found for court A staff, whatever the route."""
    w = await build_world(harness)
    case_b, session_b = w.case_b["id"], w.session_b["id"]
    party_b = w.case_b["parties"][0]["id"]
    invite_b = w.invite_b["invite"]["id"]
    probes = [
        ("GET", f"/api/cases/{case_b}", None),
        ("PATCH", f"/api/cases/{case_b}", {"title": "x"}),
        ("POST", f"/api/cases/{case_b}/parties", {"name": "x", "role": "agent"}),
        ("PATCH", f"/api/parties/{party_b}", {"name": "x"}),
        ("GET", f"/api/sessions/{session_b}", None),
        ("PATCH", f"/api/sessions/{session_b}", {"duration_minutes": 30}),
        ("POST", f"/api/sessions/{session_b}/cancel", None),
        ("GET", f"/api/sessions/{session_b}/invites", None),
        ("POST", f"/api/invites/{invite_b}/revoke", None),
        ("GET", f"/api/invites/{invite_b}/qr.svg", None),
    ]
    for method, path, body in probes:
        resp = await w.judge.request(method, path, json=body)
        assert resp.status == 404, f"{method} {path}: {resp.status}"
        assert (await resp.json())["error"]["code"] == "not_found"
    admin_probes = [
        ("PATCH", f"/api/courts/{harness.seed.court_b}", {"region": "x"}),
        ("PATCH", f"/api/users/{w.uid('judge_b')}", {"active": False}),
        ("PATCH", f"/api/terminals/{w.terminal_b}", {"active": False}),
        ("POST", f"/api/terminals/{w.terminal_b}/rotate-key", None),
    ]
    for method, path, body in admin_probes:
        resp = await w.admin.request(method, path, json=body)
        assert resp.status == 404, f"{method} {path}: {resp.status}"
    # Nothing in court B changed: judge_b still works, session B still scheduled.
    resp = await w.judge_b.get(f"/api/sessions/{session_b}")
    assert resp.status == 200 and (await resp.json())["status"] == "scheduled"


async def test_cross_court_references_in_bodies_are_rejected(harness: Harness) -> None:
    """Ids of another court's staff, terminals or cases can't be smuggled in through bodies."""
    w = await build_world(harness)
    at = datetime.now(UTC).isoformat()
    base = {"case_id": w.case_a["id"], "scheduled_at": at, "mediator_id": w.uid("judge_a")}
    for patch, code in [
        ({"mediator_id": w.uid("judge_b")}, "invalid_mediator_id"),
        ({"clerk_id": w.uid("clerk_b")}, "invalid_clerk_id"),
        ({"terminal_id": w.terminal_b}, "invalid_terminal_id"),
        ({"party_ids": [w.case_b["parties"][0]["id"]]}, "invalid_party_ids"),
        ({"mediator_id": w.uid("clerk_a")}, "invalid_mediator_id"),
    ]:
        resp = await w.clerk.post("/api/sessions", json={**base, **patch})
        assert resp.status == 400, (patch, await resp.text())
        assert (await resp.json())["error"]["code"] == code
    resp = await w.clerk.post("/api/sessions", json={**base, "case_id": w.case_b["id"]})
    assert resp.status == 404
    resp = await w.clerk.patch(f"/api/cases/{w.case_a['id']}", json={"mediator_id": w.uid("judge_b")})
    assert resp.status == 400
    resp = await w.clerk.post(
        f"/api/cases/{w.case_a['id']}/parties",
        json={"name": "代理人", "role": "agent", "represents_id": w.case_b["parties"][0]["id"]},
    )
    assert resp.status == 400
    # A participant of session B can't get a link issued under session A.
    participant_b = w.session_b["participants"][-1]["id"]
    resp = await w.clerk.post(
        f"/api/sessions/{w.session_a['id']}/invites", json={"participant_id": participant_b}
    )
    assert resp.status == 400

