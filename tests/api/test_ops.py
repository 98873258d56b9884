"""Operations surface: audit log immutability, /healthz, /metrics, OpenAPI document and docs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from server.app import all_routes, openapi_spec
from server.models import AuditEvent
from server.state import STATE_KEY
from tests.api.world import build_world, ok_json
from tests.conftest import Harness

ROOT = Path(__file__).resolve().parents[2]


# --- audit log --------------------------------------------------------------------------------
async def test_audit_log_is_append_only_in_the_database(harness: Harness) -> None:
    await harness.login("clerk_a")
    db = harness.app[STATE_KEY].db
    async with db.session() as s:
        rows = list(await s.scalars(select(AuditEvent)))
    assert rows, "login should have written an audit row"
    for stmt in (
        update(AuditEvent).values(action="tampered"),
        delete(AuditEvent),
        text("UPDATE audit_events SET actor = 'x'"),
        text("DELETE FROM audit_events"),
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.session() as s:
                await s.execute(stmt)
    async with db.session() as s:
        after = list(await s.scalars(select(AuditEvent)))
    assert [(r.id, r.action, r.actor) for r in after] == [(r.id, r.action, r.actor) for r in rows]
    # Appending still works.
    async with db.session() as s:
        s.add(AuditEvent(actor="system", action="test.append"))
    async with db.session() as s:
        assert await s.scalar(select(AuditEvent).where(AuditEvent.action == "test.append"))


async def test_audit_records_logins_invites_and_joins(harness: Harness) -> None:
    w = await build_world(harness)
    anon = await harness.anon()
    await ok_json(await anon.get(f"/api/join/{w.invite_a['token']}"))
    await ok_json(await w.clerk.post(f"/api/invites/{w.invite_a['invite']['id']}/revoke"))
    events = await ok_json(await w.judge.get("/api/audit", params={"limit": 1000}))
    by_action: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_action.setdefault(e["action"], []).append(e)
    for action in ("login", "invite.issue", "invite.revoke", "invite.open", "session.schedule"):
        assert action in by_action, f"no {action} in {sorted(by_action)}"
    invite_id = w.invite_a["invite"]["id"]
    issue = [e for e in by_action["invite.issue"] if e["target"] == invite_id]
    assert issue and issue[0]["actor"] == f"user:{w.uid('clerk_a')}"
    assert issue[0]["session_id"] == w.session_a["id"]
    opened = [e for e in by_action["invite.open"] if e["target"] == invite_id]
    assert opened and opened[0]["actor"].startswith("participant:")
    # Newest first, filters work, other courts' rows are absent.
    ids = [e["id"] for e in events]
    assert ids == sorted(ids, reverse=True)
    only = await ok_json(
        await w.judge.get("/api/audit", params={"session_id": w.session_a["id"]})
    )
    assert only and {e["session_id"] for e in only} == {w.session_a["id"]}
    revokes = await ok_json(await w.judge.get("/api/audit", params={"action": "invite.revoke"}))
    assert [e["target"] for e in revokes] == [invite_id]
    page = await ok_json(await w.judge.get("/api/audit", params={"before_id": ids[0], "limit": 2}))
    assert [e["id"] for e in page] == ids[1:3]
    assert w.session_b["id"] not in {e["session_id"] for e in events}


# --- health and metrics -----------------------------------------------------------------------
async def test_healthz(harness: Harness) -> None:
    anon = await harness.anon()
    resp = await anon.get("/healthz")
    body = await ok_json(resp)
    assert body["status"] == "ok" and body["database"] == "ok" and body["version"]


async def test_healthz_reports_database_failure(harness: Harness) -> None:
    from server.db import Database

    state = harness.app[STATE_KEY]
    real = state.db
    state.db = Database("sqlite+aiosqlite:////nonexistent-dir/for/sure/x.db")
    try:
        anon = await harness.anon()
        resp = await anon.get("/healthz")
        assert resp.status == 503
        body = await resp.json()
        assert body["status"] == "error" and "Traceback" not in json.dumps(body)
    finally:
        await state.db.close()
        state.db = real


async def test_metrics(harness: Harness) -> None:
    anon = await harness.anon()
    await anon.get("/api/auth/me")  # a 4xx
    await anon.get("/api/openapi.json")
    resp = await anon.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    body = await resp.text()
    for name in ("shared_court_rooms", "shared_court_participants", "shared_court_http_requests"):
        assert re.search(rf"^{name}", body, re.M), name
    match = re.search(r'^shared_court_http_requests_total\{status="4xx"\} (\S+)$', body, re.M)
    assert match and float(match.group(1)) >= 1
    match2 = re.search(r'^shared_court_http_requests_total\{status="2xx"\} (\S+)$', body, re.M)
    assert match2 and float(match2.group(1)) >= 1


# --- OpenAPI ----------------------------------------------------------------------------------
def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        for v in node.values():
            out += _refs(v)
        return out
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node[part]
    return node


async def test_openapi_document(harness: Harness) -> None:
    anon = await harness.anon()
    spec = await ok_json(await anon.get("/api/openapi.json"))
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["title"] and spec["info"]["version"]
    declared = {(r.method.lower(), r.path) for r in all_routes().routes}
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert documented == declared
    op_ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(op_ids) == len(set(op_ids)), "operationIds must be unique"
    for ref in _refs(spec):
        _resolve(spec, ref)  # raises KeyError when dangling
    for path, ops in spec["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, op in ops.items():
            params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == names, f"{method} {path}"
            assert op["responses"] and "default" in op["responses"], f"{method} {path}"
    login = spec["paths"]["/api/auth/login"]["post"]
    assert "security" not in login
    assert spec["paths"]["/api/cases"]["get"]["security"]
    schema = spec["components"]["schemas"]["CaseIn"]
    assert set(schema["required"]) == {"case_number", "case_type"}
    assert "ErrorBody" in spec["components"]["schemas"]
    assert spec == json.loads(json.dumps(openapi_spec()))


async def test_api_docs_page(harness: Harness) -> None:
    anon = await harness.anon()
    resp = await anon.get("/api/docs")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/html")
    page = await resp.text()
    assert "/api/openapi.json" in page
    for route in all_routes().routes:
        assert route.path in page, route.path


def test_committed_openapi_file_is_current() -> None:
    committed = ROOT / "docs" / "openapi.json"
    assert committed.exists(), "docs/openapi.json is missing; run: python scripts/gen_openapi.py"
    current = json.loads(committed.read_text(encoding="utf-8"))
    assert current == json.loads(json.dumps(openapi_spec())), (
        "docs/openapi.json is out of date; run: python scripts/gen_openapi.py"
    )
