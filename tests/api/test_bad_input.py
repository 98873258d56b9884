"""Bad input on every endpoint: never a 5xx, always a JSON error body with `error.code`.

The property tests run hypothesis in a worker thread and send each example to the real
application running on the test's event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from server.app import all_routes
from server.http.framework import RouteSpec
from server.models import SessionStatus
from tests.api.world import (
    AnyId,
    World,
    build_world,
    create_case,
    create_session,
    ok_json,
    set_session_status,
    terminal_token,
)
from tests.conftest import Harness

ROUTES = all_routes().routes
BODY_ROUTES = [r for r in ROUTES if r.body is not None]


def concrete_path(w: World, spec: RouteSpec, token: str = "") -> str:
    """The declared path with real ids of court A, so requests reach the handlers."""
    values = AnyId(
        {
            "court_id": w.h.seed.court_a,
            "user_id": w.uid("mediator_a2"),
            "case_id": w.case_a["id"],
            "party_id": w.case_a["parties"][1]["id"],
            "terminal_id": w.terminal_a,
            "session_id": w.session_a["id"],
            "invite_id": w.invite_a["invite"]["id"],
            "token": w.invite_a["token"],
            "case_type": "neighbour",
            "kind": "agreement",
            "sha256": "0" * 64,
        }
    )
    return spec.path.format_map(values)


async def request_as(w: World, spec: RouteSpec, path: str, terminal: str, **kw: Any) -> Any:
    """Send as a caller allowed through authentication and role checks, so that input
    validation and the handler itself are what is being exercised."""
    from server.models import UserRole

    if spec.auth in ("public", "party"):
        client = w.h._clients[-1]
        return await client.request(spec.method, path, **kw)
    if spec.auth == "terminal":
        client = w.h._clients[-1]
        headers = {**kw.pop("headers", {}), "Authorization": f"Bearer {terminal}"}
        return await client.request(spec.method, path, headers=headers, **kw)
    staff = w.admin if spec.roles and UserRole.judge not in spec.roles else w.judge
    return await staff.request(spec.method, path, **kw)


async def assert_error_body(resp: Any, where: str) -> dict[str, Any]:
    raw = await resp.read()
    if resp.status < 400:
        return {}  # success bodies may be binary (PDF, archives)
    text = raw.decode("utf-8", "replace")
    assert resp.status < 500, f"{where}: {resp.status} {text[:300]}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), (
        f"{where}: {resp.status} non-JSON error {text[:200]}"
    )
    body = json.loads(text)
    assert isinstance(body["error"]["code"], str) and body["error"]["code"], where
    assert isinstance(body["error"]["message"], str), where
    assert "Traceback" not in text and 'File "' not in text, where
    if body["error"]["code"] == "validation_error":
        assert body["error"]["fields"], where
    return dict(body)


# --- strategies -------------------------------------------------------------------------------
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def plausible_values(w: World) -> st.SearchStrategy[Any]:
    """Values that get past type checks often, so deeper validation and handlers run too."""
    samples: list[Any] = [
        "",
        " ",
        "x" * 70,
        "x" * 300,
        "a" * 32,
        uuid.uuid4().hex,
        w.case_a["id"],
        w.case_b["id"],
        w.uid("judge_a"),
        w.uid("mediator_a"),
        w.uid("clerk_a"),
        w.uid("judge_b"),
        w.terminal_a,
        w.terminal_b,
        w.session_a["participants"][0]["id"],
        w.case_a["parties"][0]["id"],
        "2026-01-01",
        "2026-13-45",
        "2026-01-01T10:00:00",
        "2026-01-01T10:00:00+08:00",
        "9999-12-31T23:59:59-12:00",
        "0001-01-01T00:00:00+14:00",
        datetime.now(UTC).isoformat(),
        "applicant",
        "agent",
        "judge",
        "admin",
        "neighbour",
        "settled",
        "scheduled",
        "13800000000",
        "+86 138-0000",
        "long-enough-password",
        "../../etc/passwd",
        "' OR 1=1 --",
        "%",
        "_",
        0,
        -1,
        5,
        45,
        601,
        2**63,
        -(2**63) - 1,
        1e308,
        0.5,
        True,
        [],
        {},
    ]
    return st.sampled_from(samples)


def body_strategy(model: type[BaseModel], w: World) -> st.SearchStrategy[Any]:
    fields = list(model.model_fields)
    keys = (st.sampled_from(fields) | st.text(max_size=12)) if fields else st.text(max_size=12)
    values = plausible_values(w) | json_value
    nested_parties = st.lists(
        st.dictionaries(st.sampled_from(["name", "role", "phone", "represents_id"]), values),
        max_size=3,
    )
    obj = st.dictionaries(keys, values | nested_parties, max_size=len(fields) + 2)
    return obj | json_value


def query_strategy(model: type[BaseModel] | None) -> st.SearchStrategy[dict[str, str]]:
    names = list(model.model_fields) if model is not None else []
    keys = (
        (st.sampled_from(names) | st.text(min_size=1, max_size=10))
        if names
        else st.text(min_size=1, max_size=10)
    )
    raw = st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1",
            "501",
            "1001",
            "99999999999999999999999",
            "1e3",
            "abc",
            "true",
            "2026-01-01",
            "2026-02-30",
            "scheduled",
            "neighbour",
            "a" * 32,
            "%00",
            "\u4e2d",
        ]
    )
    return st.dictionaries(keys, raw | st.text(max_size=30), max_size=4)


FUZZ = settings(
    # Per route; raise it locally for a deeper search (the suite must stay fast on 2 cores).
    max_examples=int(os.environ.get("SHARED_COURT_FUZZ_EXAMPLES", "20")),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _fuzz_one(spec: RouteSpec, body_st: st.SearchStrategy[Any], run: Any, send: Any) -> Any:
    @FUZZ
    @given(body=body_st, query=query_strategy(spec.query))
    def check(body: Any, query: dict[str, str]) -> None:
        run(send(spec, body, query))

    return check


async def test_fuzzed_bodies_and_queries_never_5xx(harness: Harness) -> None:
    w = await build_world(harness)
    anon = await harness.anon()
    term = await terminal_token(anon, w.terminal_a_key)
    loop = asyncio.get_running_loop()

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    async def send(spec: RouteSpec, body: Any, query: dict[str, str]) -> None:
        path = concrete_path(w, spec)
        kw: dict[str, Any] = {"params": query}
        if spec.method != "GET":
            kw["data"] = json.dumps(body).encode()
            kw["headers"] = {"Content-Type": "application/json"}
        resp = await request_as(w, spec, path, term, **kw)
        await assert_error_body(resp, f"{spec.method} {path} body={body!r:.200} q={query!r}")

    # State-changing routes without a body or query have nothing to fuzz (and would log the
    # caller out or cancel the session under test); they are covered by dedicated tests.
    targets = [r for r in ROUTES if r.body is not None or r.query is not None or r.method == "GET"]
    assert len(targets) >= 20
    for spec in targets:
        body_st = body_strategy(spec.body, w) if spec.body is not None else st.just(None)

        await asyncio.to_thread(_fuzz_one(spec, body_st, run, send))


async def test_invalid_json_on_every_body_route(harness: Harness) -> None:
    w = await build_world(harness)
    term = await terminal_token(await harness.anon(), w.terminal_a_key)
    for spec in BODY_ROUTES:
        path = concrete_path(w, spec)
        for raw in (b"{not json", b'{"a": 1', b"\xff\xfe\x00", b"{'single': 'quotes'}"):
            resp = await request_as(
                w, spec, path, term, data=raw, headers={"Content-Type": "application/json"}
            )
            body = await assert_error_body(resp, f"{spec.method} {path}")
            assert resp.status == 400, f"{spec.method} {path}: {resp.status}"
            assert body["error"]["code"] == "invalid_json", body


async def test_wrong_types_give_field_errors_on_every_body_route(harness: Harness) -> None:
    w = await build_world(harness)
    term = await terminal_token(await harness.anon(), w.terminal_a_key)
    for spec in BODY_ROUTES:
        assert spec.body is not None
        path = concrete_path(w, spec)
        fields = list(spec.body.model_fields)
        # An object nested twice is the wrong type for every field of every body model.
        wrong = {name: {"nested": {"x": 1}} for name in fields}
        wrong["no_such_field"] = 1
        resp = await request_as(w, spec, path, term, json=wrong)
        body = await assert_error_body(resp, f"{spec.method} {path}")
        assert resp.status == 400, f"{spec.method} {path}: {resp.status} {body}"
        assert body["error"]["code"] == "validation_error"
        reported = {f["field"].split(".")[0] for f in body["error"]["fields"]}
        assert set(fields) <= reported, f"{spec.method} {path}: {reported}"
        assert "no_such_field" in reported
        for not_an_object in (b"[]", b'"text"', b"7", b"null"):
            resp = await request_as(
                w, spec, path, term, data=not_an_object, headers={"Content-Type": "application/json"}
            )
            err = await assert_error_body(resp, f"{spec.method} {path} {not_an_object!r}")
            assert resp.status == 400 and err["error"]["code"] == "validation_error"


async def test_wrong_query_types_give_field_errors(harness: Harness) -> None:
    w = await build_world(harness)
    cases = [
        ("/api/cases", {"limit": "abc"}, "limit"),
        ("/api/cases", {"limit": "0"}, "limit"),
        ("/api/cases", {"case_type": "murder"}, "case_type"),
        ("/api/cases", {"unknown": "1"}, "unknown"),
        ("/api/sessions", {"date": "today"}, "date"),
        ("/api/sessions", {"date": "2026-02-30"}, "date"),
        ("/api/sessions", {"status": "bogus"}, "status"),
        ("/api/sessions", {"case_id": "not-an-id"}, "case_id"),
        ("/api/audit", {"limit": "5000"}, "limit"),
        ("/api/audit", {"before_id": "0"}, "before_id"),
        # Integers beyond the database's 64-bit range must be rejected, not crash the query.
        ("/api/cases", {"offset": str(2**70)}, "offset"),
        ("/api/sessions", {"offset": str(2**63)}, "offset"),
        ("/api/audit", {"before_id": str(2**64)}, "before_id"),
    ]
    for path, query, field in cases:
        resp = await w.judge.get(path, params=query)
        body = await assert_error_body(resp, f"{path} {query}")
        assert resp.status == 400, f"{path} {query}: {resp.status} {body}"
        assert body["error"]["code"] == "validation_error"
        assert field in {f["field"] for f in body["error"]["fields"]}, body


async def test_unstorable_text_is_rejected(harness: Harness) -> None:
    """Lone surrogates and NUL are valid JSON escapes but not storable text."""
    w = await build_world(harness)
    for raw in (
        b'{"case_number": "\\ud800", "case_type": "labour"}',
        b'{"case_number": "A1", "case_type": "labour", "title": "x\\udfff"}',
    ):
        resp = await w.clerk.post(
            "/api/cases", data=raw, headers={"Content-Type": "application/json"}
        )
        body = await assert_error_body(resp, raw.decode())
        assert resp.status == 400, body
    # NUL can't be stored by PostgreSQL; it is refused on every backend alike.
    resp = await w.clerk.post("/api/cases", json={"case_number": "A\u0000", "case_type": "labour"})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_characters"
    resp = await w.clerk.get("/api/cases", params={"q": "\u0000"})
    assert resp.status == 400
    resp = await w.clerk.get("/api/cases/%00")
    assert resp.status == 404


async def test_oversized_body_is_413_json(harness: Harness) -> None:
    w = await build_world(harness)
    big = json.dumps({"case_number": "X", "case_type": "labour", "description": "x" * 2_000_000})
    resp = await w.clerk.post(
        "/api/cases", data=big.encode(), headers={"Content-Type": "application/json"}
    )
    body = await assert_error_body(resp, "oversized")
    assert resp.status == 413
    assert body["error"]["code"] == "payload_too_large"
    anon = await harness.anon()
    resp = await anon.post(
        "/api/auth/login",
        data=b"{" + b" " * 1_100_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 413 and (await resp.json())["error"]["code"] == "payload_too_large"
    # Limits inside the models: too many parties, too long texts.
    resp = await w.clerk.post(
        "/api/cases",
        json={
            "case_number": "X2",
            "case_type": "labour",
            "parties": [{"name": f"p{i}", "role": "applicant"} for i in range(51)],
        },
    )
    assert resp.status == 400


async def test_unknown_routes_and_methods_are_json(harness: Harness) -> None:
    anon = await harness.anon()
    resp = await anon.get("/api/no-such-thing")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    resp = await anon.delete("/api/cases")
    assert resp.status == 405 and (await resp.json())["error"]["code"] == "method_not_allowed"
    resp = await anon.put("/api/auth/login", json={})
    assert resp.status == 405


async def test_unknown_ids_are_404_on_every_id_route(harness: Harness) -> None:
    w = await build_world(harness)
    await harness.anon()
    # Routes keyed by the foundation's ids; feature suites (recordings, transcripts, network,
    # agreements) test unknown ids of their own resources.
    id_routes = [
        r
        for r in ROUTES
        if "{" in r.path
        and set(PATH_PARAM.findall(r.path)) <= FOUNDATION_IDS
        and (r.body is None or r.body.__name__ in MINIMAL_BODIES)
    ]
    assert len(id_routes) >= 14
    for spec in id_routes:
        for bogus in (uuid.uuid4().hex, "nope", "0" * 300):
            path = spec.path.format(
                **{
                    k: bogus
                    for k in (
                        "court_id",
                        "user_id",
                        "case_id",
                        "party_id",
                        "terminal_id",
                        "session_id",
                        "invite_id",
                    )
                }
            )
            body: Any = None
            if spec.body is not None:
                body = _minimal_valid_body(spec.body, w)
            resp = await request_as(w, spec, path, "", json=body)
            err = await assert_error_body(resp, f"{spec.method} {path}")
            assert resp.status == 404, f"{spec.method} {path}: {resp.status} {err}"
            assert err["error"]["code"] == "not_found"


FOUNDATION_IDS = {
    "court_id",
    "user_id",
    "case_id",
    "party_id",
    "terminal_id",
    "session_id",
    "invite_id",
}
PATH_PARAM = re.compile(r"{(\w+)}")
MINIMAL_BODIES = {
    "CourtPatch",
    "UserPatch",
    "CasePatch",
    "PartyIn",
    "PartyPatch",
    "TerminalPatch",
    "SessionPatch",
    "InviteIn",
}


def _minimal_valid_body(model: type[BaseModel], w: World) -> dict[str, Any]:
    by_name = {
        "CourtPatch": {"region": "x"},
        "UserPatch": {"display_name": "x"},
        "CasePatch": {"title": "x"},
        "PartyIn": {"name": "x", "role": "agent"},
        "PartyPatch": {"name": "x"},
        "TerminalPatch": {"location": "x"},
        "SessionPatch": {"duration_minutes": 30},
        "InviteIn": {"participant_id": w.session_a["participants"][0]["id"]},
    }
    return by_name[model.__name__]


async def test_unknown_join_tokens_are_401(harness: Harness) -> None:
    anon = await harness.anon()
    for token in ("x", "join.a.b", "join..", "a" * 3000, "join.e30.AAAA", "join.%E4%B8%AD.x"):
        resp = await anon.get(f"/api/join/{token}")
        body = await assert_error_body(resp, token)
        assert resp.status == 401, (token, body)
        assert body["error"]["code"] == "link_invalid"


async def test_conflicts_are_409(harness: Harness) -> None:
    w = await build_world(harness)
    # Duplicate case number within a court (another court may reuse it).
    number = w.case_a["case_number"]
    resp = await w.clerk.post("/api/cases", json={"case_number": number, "case_type": "labour"})
    err = await assert_error_body(resp, "dup case")
    assert resp.status == 409 and err["error"]["code"] == "conflict"
    await create_case(w.judge_b, number=number)
    # Duplicate username (usernames are global).
    user = {"display_name": "x", "role": "clerk", "password": "long-enough-password"}
    resp = await w.admin.post("/api/users", json={"username": "judge_b", **user})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "conflict"
    # Duplicate court name.
    resp = await w.admin.post("/api/courts", json={"name": "乙法院 Court B"})
    assert resp.status == 409
    # Cancelling an ended, a cancelled or a live session.
    for status in (SessionStatus.ended, SessionStatus.live):
        s = await create_session(w.clerk, w.case_a["id"], w.uid("judge_a"))
        await set_session_status(harness, s["id"], status)
        resp = await w.clerk.post(f"/api/sessions/{s['id']}/cancel")
        err = await assert_error_body(resp, "cancel")
        assert resp.status == 409 and err["error"]["code"] == "conflict", status
        resp = await w.clerk.patch(f"/api/sessions/{s['id']}", json={"duration_minutes": 30})
        assert resp.status == 409
        resp = await w.clerk.post(
            f"/api/sessions/{s['id']}/invites",
            json={"participant_id": s["participants"][0]["id"]},
        )
        assert resp.status == (409 if status == SessionStatus.ended else 201)
    s = await create_session(w.clerk, w.case_a["id"], w.uid("judge_a"))
    await ok_json(await w.clerk.post(f"/api/sessions/{s['id']}/cancel"))
    resp = await w.clerk.post(f"/api/sessions/{s['id']}/cancel")
    assert resp.status == 409
    # The rejected changes left nothing behind.
    cases = await ok_json(await w.clerk.get("/api/cases", params={"q": number}))
    assert [c["id"] for c in cases] == [w.case_a["id"]]
