"""Browser tests of the integration page /clerk/integration (issue #17), in headless Chromium at
1366×768, zh-CN.

The court administrator, on the page:
- creates an API key (its secret shown once, with the warning); the key works from outside
  (GET /api/network/intakes with it → 200); revoking it (confirmed) makes it answer 401;
- registers a webhook to a real aiohttp receiver started here that answers 500: intakes created
  through the API make its deliveries fail, and the page shows the webhook failing and the red
  alert banner (GET /api/network/webhooks/alerts); once the receiver answers 200, replaying a
  failed delivery from the page gets it delivered, signed with the secret the page showed;
- sees the server's refusal of a private webhook target, with its Chinese message, on a server
  with the shipped defaults (webhook_allow_private_targets off).

A receiver on 127.0.0.1 needs `webhook_allow_private_targets`: the first test runs its own
server process with SHARED_COURT_WEBHOOK_ALLOW_PRIVATE_TARGETS=true (started as conftest does).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.web.conftest import Server, _free_port, require_browser, running_server
from tests.web.test_web_mediator_and_stats import PASSWORDS, Staff

pytestmark = pytest.mark.slow

VIEWPORT = {"width": 1366, "height": 768}


class Receiver:
    """A webhook receiver on 127.0.0.1 in a thread of its own: answers `status`, keeps what came."""

    def __init__(self) -> None:
        self.status = 500
        self.requests: list[dict[str, Any]] = []
        self.port = _free_port()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            {"headers": dict(request.headers), "body": body, "status": self.status}
        )
        return web.Response(status=self.status, text="ok" if self.status < 300 else "broken")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def private_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server process that accepts webhook targets on private addresses (127.0.0.1)."""
    require_browser()
    with running_server(
        tmp_path_factory.mktemp("integdata"),
        "web-server-integration.log",
        {"SHARED_COURT_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"},
    ) as srv:
        yield srv


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    try:
        yield r
    finally:
        r.stop()


def admin_page(browser: Any, server: Server) -> Any:
    ctx = browser.new_context(locale="zh-CN", viewport=VIEWPORT)
    try:
        ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
    except Exception:  # an older Chromium without these permissions: copying is not checked
        pass
    page = ctx.new_page()
    page.set_default_timeout(20000)
    page.goto(server.base_url + "/login?next=/clerk/integration")
    page.get_by_test_id("login-username").fill("admin")
    page.get_by_test_id("login-password").fill(PASSWORDS["admin"])
    page.get_by_test_id("login-submit").click()
    page.wait_for_url("**/clerk/integration")
    page.get_by_test_id("apikeys").wait_for()
    return page


def http_get(server: Server, path: str, bearer: str) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        server.base_url + path,
        headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def confirm_box(page: Any) -> None:
    box = page.locator(".el-message-box:visible")
    box.wait_for()
    box.locator(
        ".el-message-box__btns .el-button--primary, .el-message-box__btns .el-button--danger"
    ).last.click()
    box.wait_for(state="hidden")


def read_secret(page: Any, testid: str, prefix: str) -> str:
    dialog = page.get_by_test_id(testid + "-dialog")
    secret_input = page.get_by_test_id(testid)
    secret_input.wait_for()
    secret = secret_input.input_value()
    assert secret.startswith(prefix), secret
    # The warning that it is shown once only.
    assert "只显示这一次" in dialog.inner_text()
    page.get_by_test_id(testid + "-copy").click()
    try:
        copied = page.evaluate("() => navigator.clipboard.readText()")
    except Exception:
        copied = None
    if copied is not None:
        assert copied == secret
    page.get_by_test_id(testid + "-close").click()
    secret_input.wait_for(state="detached")
    return secret


def test_api_key_and_failing_webhook_replayed(
    private_server: Server, browser: Any, receiver: Receiver, screenshots: Path
) -> None:
    server = private_server
    page = admin_page(browser, server)
    try:
        # ── API key: created with two scopes, its secret shown once ─────────────────────────
        page.get_by_test_id("apikey-name").fill("诉讼服务平台")
        for scope in ("intakes:read", "intakes:write"):
            box = page.locator(f'[data-testid=apikey-scope][data-scope="{scope}"]')
            assert "调解申请" in box.inner_text()  # every scope is explained in Chinese
            box.click()
        page.get_by_test_id("apikey-create").click()
        key = read_secret(page, "apikey-secret", "sk_")
        prefix = key.split("_")[1]
        row = page.locator(f'[data-testid=apikey-row][data-prefix="{prefix}"]')
        row.wait_for()
        assert row.get_attribute("data-revoked") == "false"
        assert "诉讼服务平台" in row.inner_text()
        # The secret is not on the page any more.
        assert key not in page.content()

        status, body = http_get(server, "/api/network/intakes", key)
        assert status == 200, body

        # ── Revoked (confirmed): the key is refused ─────────────────────────────────────────
        row.get_by_test_id("apikey-revoke").click()
        confirm_box(page)
        page.locator(
            f'[data-testid=apikey-row][data-prefix="{prefix}"][data-revoked="true"]'
        ).wait_for()
        status, body = http_get(server, "/api/network/intakes", key)
        assert status == 401, body
        assert body["error"]["code"] == "api_key_revoked"

        # ── A webhook to a receiver that answers 500 ────────────────────────────────────────
        page.get_by_test_id("webhook-url").fill(receiver.url)
        received = page.locator('[data-testid=webhook-event][data-event="intake.received"]')
        assert "收到调解申请" in received.inner_text()
        received.click()
        page.get_by_test_id("webhook-create").click()
        secret = read_secret(page, "webhook-secret", "whsec_")
        hook_row = page.locator(f'[data-testid=webhook-row][data-url="{receiver.url}"]')
        hook_row.wait_for()
        assert hook_row.get_attribute("data-failing") == "false"
        assert page.get_by_test_id("webhook-alerts").count() == 0

        # Events: intakes created through the API (a clerk's session). A webhook is failing
        # after 5 failed attempts in a row: five first attempts, one per intake.
        clerk = Staff(browser, server, "clerk", PASSWORDS["clerk"])
        try:
            for n in range(5):
                clerk.send(
                    "POST",
                    "/api/network/intakes",
                    {
                        "case_type": "neighbour",
                        "applicant_name": f"对接申请人{n}",
                        "applicant_phone": f"1390000000{n}",
                        "respondent_name": f"对接被申请人{n}",
                        "claim": "请求调解",
                    },
                )
        finally:
            clerk.close()

        # The page refreshes itself: the webhook turns failing, the red banner appears.
        page.locator(
            f'[data-testid=webhook-row][data-url="{receiver.url}"][data-failing="true"]'
        ).wait_for(timeout=60000)
        hook_row.get_by_test_id("webhook-failing").wait_for()
        assert "HTTP 500" in hook_row.get_by_test_id("webhook-last-error").inner_text()
        banner = page.get_by_test_id("webhook-alerts")
        banner.wait_for(timeout=15000)
        text = banner.inner_text()
        assert receiver.url in text and "HTTP 500" in text and "推送失败" in text, text
        assert len(receiver.requests) >= 5
        assert all(r["status"] == 500 for r in receiver.requests)
        page.screenshot(path=str(screenshots / "integration-failing.png"), full_page=True)

        # ── The delivery log: failed deliveries, waiting for their retry ────────────────────
        hook_row.get_by_test_id("webhook-deliveries-toggle").click()
        failed_row = page.locator('[data-testid=delivery-row][data-status="retrying"]').first
        failed_row.wait_for()
        assert "HTTP 500" in failed_row.get_by_test_id("delivery-error").inner_text()
        assert int(failed_row.get_by_test_id("delivery-attempts").inner_text()) >= 1
        original_id = failed_row.get_attribute("data-id")

        # The receiver is fixed; the delivery is replayed from the page.
        receiver.status = 200
        page.locator(f'[data-testid=delivery-row][data-id="{original_id}"]').get_by_test_id(
            "delivery-replay"
        ).click()
        replay_row = page.locator(
            f'[data-testid=delivery-row][data-replay-of="{original_id}"][data-status="delivered"]'
        )
        replay_row.wait_for(timeout=30000)
        replay_id = replay_row.get_attribute("data-id")
        assert replay_id

        # The receiver got it, signed with the secret the page showed once.
        deadline = time.time() + 10
        got: list[dict[str, Any]] = []
        while time.time() < deadline and not got:
            got = [
                r
                for r in receiver.requests
                if r["headers"].get("X-SharedCourt-Delivery") == replay_id and r["status"] == 200
            ]
            time.sleep(0.2)
        assert got, [r["headers"].get("X-SharedCourt-Delivery") for r in receiver.requests]
        req = got[0]
        ts = req["headers"]["X-SharedCourt-Timestamp"]
        expected = (
            "sha256="
            + hmac.new(
                secret.encode(), ts.encode() + b"." + req["body"], hashlib.sha256
            ).hexdigest()
        )
        assert hmac.compare_digest(req["headers"]["X-SharedCourt-Signature"], expected)
        assert req["headers"]["X-SharedCourt-Event"] == "intake.received"
        assert json.loads(req["body"])["event"] == "intake.received"

        # A success clears the failing state: the banner goes.
        page.locator(
            f'[data-testid=webhook-row][data-url="{receiver.url}"][data-failing="false"]'
        ).wait_for(timeout=15000)
        page.get_by_test_id("webhook-alerts").wait_for(state="detached", timeout=15000)
        page.screenshot(path=str(screenshots / "integration-recovered.png"), full_page=True)
    finally:
        page.context.close()


def test_private_webhook_target_refused_with_chinese_message(
    server: Server, browser: Any, screenshots: Path
) -> None:
    """The shipped defaults refuse a loopback target; the page shows why, in Chinese."""
    page = admin_page(browser, server)
    try:
        page.get_by_test_id("webhook-url").fill("http://127.0.0.1:9/hook")
        page.locator('[data-testid=webhook-event][data-event="session.ended"]').click()
        page.get_by_test_id("webhook-create").click()
        refused = page.get_by_test_id("webhook-refused")
        refused.wait_for()
        text = refused.inner_text()
        assert "回调地址须为公网地址" in text, text
        assert "loopback" in page.get_by_test_id("webhook-refused-detail").inner_text()
        assert page.get_by_test_id("webhook-secret").count() == 0
        assert (
            page.locator('[data-testid=webhook-row][data-url="http://127.0.0.1:9/hook"]').count()
            == 0
        )
        page.screenshot(path=str(screenshots / "integration-refused.png"), full_page=True)
        # In English the page says the same (the server's English half of the message).
        page.get_by_test_id("locale-switch").click()
        page.get_by_text("Integration · API keys and webhooks").wait_for()
        page.get_by_test_id("webhook-create").click()
        page.get_by_test_id("webhook-refused").get_by_text("non-public address").wait_for()
    finally:
        page.context.close()
