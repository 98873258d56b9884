"""Webhooks to a real local HTTP receiver, API keys, CSV import (all or nothing)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select

from server.court_network.service import runtime
from server.court_network.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from server.state import STATE_KEY
from tests.api.world import create_case, ok_json
from tests.conftest import Harness
from tests.court_network.net import intake_body


class Receiver:
    """An aiohttp server on 127.0.0.1 that records requests; fails the first `fail` ones."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((dict(request.headers), await request.read()))
        if len(self.calls) <= self.fail:
            return web.Response(status=503, text="busy")
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


def fast_dispatcher(h: Harness) -> None:
    d = runtime(h.app[STATE_KEY]).dispatcher
    d.poll_interval, d.base_delay, d.max_attempts = 0.05, 0.05, 3


async def wait_for(pred: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await pred():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_webhook_signed_delivery_and_session_events(h2: Any) -> None:
    h, n = h2
    fast_dispatcher(h)
    rx = Receiver()
    await rx.start()
    try:
        hook = await ok_json(
            await n.admin.post(
                "/api/network/webhooks",
                json={
                    "url": rx.url,
                    "events": ["intake.received", "session.scheduled", "session.ended"],
                },
            ),
            201,
        )
        secret = hook["secret"]
        intake = await ok_json(
            await n.clerk.post("/api/network/intakes", json=intake_body(shared_court_id=n.village)),
            201,
        )
        await wait_for(lambda: _n(rx, 1))
        headers, body = rx.calls[0]
        assert verify(secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
        assert not verify("wrong", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
        import json

        payload = json.loads(body)
        assert payload["event"] == "intake.received"
        assert payload["data"]["number"] == intake["number"]
        assert "applicant_phone" not in payload["data"]
        # session scheduled through the existing sessions API, ended through the end hook
        await ok_json(
            await n.clerk.post(
                f"/api/network/intakes/{intake['id']}/assign",
                json={"mediator_id": h.seed.users["mediator_a"]},
            )
        )
        when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        sess = await ok_json(
            await n.clerk.post(
                "/api/sessions",
                json={
                    "case_id": intake["case_id"],
                    "scheduled_at": when,
                    "mediator_id": h.seed.users["mediator_a"],
                },
            ),
            201,
        )
        await wait_for(lambda: _n(rx, 2))
        assert json.loads(rx.calls[1][1])["event"] == "session.scheduled"
        from server.court_network.service import on_session_ended

        await on_session_ended(h.app[STATE_KEY], sess["id"], "settled", "达成协议")
        await wait_for(lambda: _n(rx, 3))
        ended = json.loads(rx.calls[2][1])
        assert ended["event"] == "session.ended" and ended["data"]["outcome"] == "settled"
        detail = await ok_json(await n.clerk.get(f"/api/network/intakes/{intake['id']}"))
        assert detail["status"] == "settled"
        # a case not born from an intake still announces its sessions
        case = await create_case(n.clerk, mediator_id=h.seed.users["mediator_a"])
        await ok_json(
            await n.clerk.post(
                "/api/sessions",
                json={
                    "case_id": case["id"],
                    "scheduled_at": when,
                    "mediator_id": h.seed.users["mediator_a"],
                },
            ),
            201,
        )
        await wait_for(lambda: _n(rx, 4))
        for headers, body in rx.calls:
            assert verify(secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    finally:
        await rx.stop()


async def _n(rx: Receiver, k: int) -> bool:
    return len(rx.calls) >= k


async def test_failing_receiver_gets_retries_logged_and_replay(h2: Any) -> None:
    h, n = h2
    fast_dispatcher(h)
    rx = Receiver(fail=2)  # 503, 503, then 200
    await rx.start()
    try:
        hook = await ok_json(
            await n.admin.post(
                "/api/network/webhooks", json={"url": rx.url, "events": ["intake.received"]}
            ),
            201,
        )
        hid = hook["webhook"]["id"]
        await ok_json(await n.clerk.post("/api/network/intakes", json=intake_body()), 201)

        async def delivered() -> bool:
            rows = await ok_json(await n.admin.get(f"/api/network/webhooks/{hid}/deliveries"))
            return bool(rows) and rows[0]["status"] == "delivered"

        await wait_for(delivered)
        rows = await ok_json(await n.admin.get(f"/api/network/webhooks/{hid}/deliveries"))
        d = await ok_json(await n.admin.get(f"/api/network/webhook-deliveries/{rows[0]['id']}"))
        assert d["attempts"] == 3
        assert [a["status_code"] for a in d["attempt_log"]] == [503, 503, 200]
        assert d["attempt_log"][0]["error"] == "HTTP 503"
        assert len(rx.calls) == 3
        # every retry carries the same delivery id and a valid signature
        assert len({c[0]["X-SharedCourt-Delivery"] for c in rx.calls}) == 1
        # replay: a new delivery with the same payload
        replay = await ok_json(
            await n.admin.post(f"/api/network/webhook-deliveries/{d['id']}/replay"), 201
        )
        assert replay["replay_of"] == d["id"] and replay["payload"] == d["payload"]
        await wait_for(lambda: _n(rx, 4))
        assert rx.calls[3][1] == rx.calls[0][1]
        # court B cannot see or replay court A's deliveries
        ab = await h.login("admin_b")
        assert (await ab.get(f"/api/network/webhook-deliveries/{d['id']}")).status == 404
        assert (await ab.post(f"/api/network/webhook-deliveries/{d['id']}/replay")).status == 404
    finally:
        await rx.stop()


async def test_unreachable_receiver_gives_up_and_restart_resumes(h2: Any) -> None:
    h, n = h2
    d = runtime(h.app[STATE_KEY]).dispatcher
    await d.stop()  # as if the server were down when the event happened
    rx = Receiver()
    await rx.start()
    try:
        await ok_json(
            await n.admin.post(
                "/api/network/webhooks", json={"url": rx.url, "events": ["intake.received"]}
            ),
            201,
        )
        await ok_json(await n.clerk.post("/api/network/intakes", json=intake_body()), 201)
        await asyncio.sleep(0.2)
        assert rx.calls == []
        fast_dispatcher(h)
        d.start()  # "restart": the pending delivery from the database is sent
        await wait_for(lambda: _n(rx, 1))
    finally:
        await rx.stop()
    # now nobody listens: attempts stop at max_attempts, status failed
    await ok_json(
        await n.admin.post(
            "/api/network/webhooks", json={"url": rx.url, "events": ["intake.received"]}
        ),
        201,
    )
    await ok_json(await n.clerk.post("/api/network/intakes", json=intake_body()), 201)
    hooks = await ok_json(await n.admin.get("/api/network/webhooks"))

    async def failed() -> bool:
        rows = await ok_json(
            await n.admin.get(f"/api/network/webhooks/{hooks[-1]['id']}/deliveries")
        )
        return bool(rows) and rows[0]["status"] == "failed"

    await wait_for(failed)
    rows = await ok_json(await n.admin.get(f"/api/network/webhooks/{hooks[-1]['id']}/deliveries"))
    assert rows[0]["attempts"] == 3 and rows[0]["last_status_code"] is None


async def test_api_keys_scoped_revocable_hashed(h2: Any) -> None:
    h, n = h2
    out = await ok_json(
        await n.admin.post(
            "/api/network/api-keys",
            json={"name": "市域治理平台", "scopes": ["stats:read", "intakes:write"]},
        ),
        201,
    )
    secret = out["secret"]
    assert secret.startswith("sk_")
    from sqlalchemy import select

    from server.court_network.models import ApiKey

    async with h.app[STATE_KEY].db.session() as s:
        row = await s.scalar(select(ApiKey).where(ApiKey.id == out["key"]["id"]))
        assert row is not None and secret not in (row.key_hash, row.prefix)
    anon = await h.anon()
    auth = {"Authorization": f"Bearer {secret}"}
    stats = await anon.get("/api/network/stats?year=2026", headers=auth)
    assert stats.status == 200, await stats.text()
    made = await anon.post("/api/network/intakes", headers=auth, json=intake_body())
    assert made.status == 201 and (await made.json())["channel"] == "api"
    # no CSRF needed for bearer keys, but scopes are enforced
    assert (await anon.get("/api/network/intakes", headers=auth)).status == 403
    # a route without a scope does not take API keys at all
    assert (await anon.get("/api/cases", headers=auth)).status == 401
    assert (
        await anon.get(
            "/api/network/stats?year=2026", headers={"Authorization": "Bearer sk_nope_nope"}
        )
    ).status == 401
    await ok_json(await n.admin.post(f"/api/network/api-keys/{out['key']['id']}/revoke"))
    resp = await anon.get("/api/network/stats?year=2026", headers=auth)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "api_key_revoked"
    # only admins manage keys; other courts can't revoke
    assert (
        await n.clerk.post("/api/network/api-keys", json={"name": "x", "scopes": ["stats:read"]})
    ).status == 403
    ab = await h.login("admin_b")
    assert (await ab.post(f"/api/network/api-keys/{out['key']['id']}/revoke")).status == 404
    spec = await (await anon.get("/api/openapi.json")).json()
    sec = spec["paths"]["/api/network/stats"]["get"]["security"]
    assert {"apiKeyBearer": ["stats:read"]} in sec


CASES_CSV = """case_type,applicant_name,applicant_phone,respondent_name,claim,shared_court,received_at
marriage_family,王五,13911112222,赵六,离婚财产,{court},2026-01-05T09:00:00+08:00
labour,钱七,13933334444,某公司,欠薪,,
{bad_type},孙八,13955556666,周九,物业费,,
"""


async def test_csv_import_all_or_nothing(h2: Any) -> None:
    h, n = h2
    courts = await ok_json(await n.admin.get("/api/network/shared-courts"))
    name = next(c["name"] for c in courts if c["id"] == n.village)
    headers = {"Content-Type": "text/csv"}
    bad = CASES_CSV.format(court=name, bad_type="pets")
    resp = await n.clerk.post("/api/network/import/cases", data=bad.encode(), headers=headers)
    assert resp.status == 400
    err = (await resp.json())["error"]
    assert err["code"] == "import_invalid" and "row 4" in err["message"]
    assert [f["field"] for f in err["fields"]] == ["row 4.case_type"]
    assert await ok_json(await n.clerk.get("/api/network/intakes")) == []  # nothing imported
    good = CASES_CSV.format(court=name, bad_type="property_management")
    out = await ok_json(
        await n.clerk.post("/api/network/import/cases", data=good.encode(), headers=headers), 201
    )
    assert out["imported"] == 3
    rows = await ok_json(await n.clerk.get("/api/network/intakes"))
    first = next(r for r in rows if r["applicant_name"] == "王五")
    assert first["shared_court_id"] == n.village and first["channel"] == "imported"
    assert first["received_at"].startswith("2026-01-05T01:00:00")
    # mediators: an unknown shared court on row 3 → nothing imported, row named
    mcsv = (
        "username,display_name,role,kind,specialties,shared_courts\n"
        f"lawyer_li,李律师,mediator,lawyer,marriage_family;labour,{name}\n"
        "teacher_wu,吴老师,mediator,teacher,neighbour,不存在的法庭\n"
    )
    resp = await n.admin.post("/api/network/import/mediators", data=mcsv.encode(), headers=headers)
    assert resp.status == 400
    assert [f["field"] for f in (await resp.json())["error"]["fields"]] == ["row 3.shared_courts"]
    assert await ok_json(await n.admin.get("/api/network/mediators")) == []
    mcsv = mcsv.replace("不存在的法庭", name) + "judge_a,法官甲,judge,judge,other,\n"
    out = await ok_json(
        await n.admin.post("/api/network/import/mediators", data=mcsv.encode(), headers=headers),
        201,
    )
    assert out["imported"] == 3
    meds = {m["username"]: m for m in await ok_json(await n.admin.get("/api/network/mediators"))}
    assert meds["lawyer_li"]["specialties"] == ["labour", "marriage_family"]
    assert meds["lawyer_li"]["shared_court_ids"] == [n.village]
    assert meds["judge_a"]["kind"] == "judge"
    # duplicates inside the file and a mediator role clash are row errors too
    dup = (
        "username,display_name,role,kind\nx1,甲,mediator,lawyer\nx1,乙,mediator,lawyer\n"
        "clerk_a,书记员,mediator,other\n"
    )
    resp = await n.admin.post("/api/network/import/mediators", data=dup.encode(), headers=headers)
    fields = [f["field"] for f in (await resp.json())["error"]["fields"]]
    assert fields == ["row 3.username", "row 4.username"]
    # mediators may not import
    med = await h.login("mediator_a")
    assert (
        await med.post("/api/network/import/cases", data=good.encode(), headers=headers)
    ).status == 403


async def test_education_playlist(h2: Any) -> None:
    _h, n = h2
    item = await ok_json(
        await n.clerk.post(
            "/api/network/education",
            json={"kind": "video", "title": "民法典婚姻家庭编", "duration_seconds": 90},
        ),
        201,
    )
    article = await ok_json(
        await n.clerk.post(
            "/api/network/education",
            json={"kind": "article", "title": "物业纠纷怎么办", "body": "……"},
        ),
        201,
    )
    import aiohttp

    f = aiohttp.FormData()
    video = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
    f.add_field("file", video, filename="clip.mp4")
    await ok_json(await n.clerk.post(f"/api/network/education/{item['id']}/media", data=f))
    today = (datetime.now(UTC) + timedelta(hours=8)).strftime("%Y-%m-%d")
    for pos, it in enumerate((article, item)):
        await ok_json(
            await n.clerk.post(
                "/api/network/education/schedules",
                json={
                    "item_id": it["id"],
                    "terminal_id": n.terminal_id,
                    "starts_on": today,
                    "ends_on": today,
                    "position": pos,
                },
            ),
            201,
        )
    playlist = await ok_json(
        await n.terminal.get("/api/network/terminal/education", headers=n.tauth)
    )
    assert [p["title"] for p in playlist] == ["物业纠纷怎么办", "民法典婚姻家庭编"]
    media = await n.terminal.get(playlist[1]["media_url"])
    assert media.status == 200 and await media.read() == video
    assert (
        await ok_json(
            await n.terminal.get("/api/network/terminal/education", headers=n.other_terminal)
        )
        == []
    )
    assert (await n.terminal.get("/api/network/education-media/forged")).status == 404


async def test_webhooks_to_internal_addresses_are_refused(h2: Any) -> None:
    """By default the server calls only public addresses (no SSRF into the court's network):
    registration is refused, and a delivery whose name now resolves inward fails unsent."""
    h, n = h2
    fast_dispatcher(h)
    rx = Receiver()
    await rx.start()
    try:
        state = h.app[STATE_KEY]
        # Registered while private targets were allowed (as an on-premises receiver would be) …
        hook = await ok_json(
            await n.admin.post(
                "/api/network/webhooks", json={"url": rx.url, "events": ["intake.received"]}
            ),
            201,
        )
        assert hook
        state.settings.webhook_allow_private_targets = False
        runtime(state).dispatcher.allow_private_targets = False
        for url in (
            rx.url,
            "http://localhost:9/x",
            "http://169.254.169.254/latest/meta-data",
            "http://10.1.2.3/hook",
            "http://[::1]:9/x",
        ):
            resp = await n.admin.post(
                "/api/network/webhooks", json={"url": url, "events": ["intake.received"]}
            )
            assert resp.status == 400, url
            assert (await resp.json())["error"]["code"] == "webhook_target_refused"
        # … a delivery to it now fails without reaching the receiver.
        anon = await h.anon()
        await ok_json(
            await anon.post(
                "/api/network/intakes/online", json=intake_body(shared_court_id=n.village)
            ),
            201,
        )
        from server.court_network.models import WebhookDelivery

        async def failed_unsent() -> bool:
            async with state.db.session() as db:
                rows = list(await db.scalars(select(WebhookDelivery)))
            return any("EgressRefused" in (r.last_error or "") for r in rows)

        await wait_for(failed_unsent)
        assert rx.calls == []
    finally:
        await rx.stop()
