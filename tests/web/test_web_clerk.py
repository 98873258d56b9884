"""What the clerk (书记员) meets (issue #15), in headless Chromium against a real server:
times entered and shown in the court's zone on a PC set to UTC, revoked links struck through,
short links, the printable invitation with the clerk's phone, and the phone a party whose link
was revoked is given."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.web.conftest import Server, token_payload

pytestmark = pytest.mark.slow

CASE_NUMBER = "（2026）浙0110民诉前调0001号"  # server/demo.py
CLERK = ("clerk", "demo-clerk-2026")
ADMIN = ("admin", "demo-admin-2026")
CLERK_PHONE = "0571-88886666"
COURT_PHONE = "0571-12368"
DAY = "2026-12-20"  # a day of its own, clear of the demo's session (now)
SHORT = re.compile(r"^https?://[^/]+/j/[2-9a-hjkmnp-z]{8}$")


def new_page(browser: Any, **kw: Any) -> Any:
    ctx = browser.new_context(locale="zh-CN", **kw)
    page = ctx.new_page()
    page.set_default_timeout(20000)
    return page


def login(page: Any, server: Server, who: tuple[str, str], path: str) -> None:
    page.goto(f"{server.base_url}/login?next={path}")
    page.get_by_test_id("login-username").fill(who[0])
    page.get_by_test_id("login-password").fill(who[1])
    page.get_by_test_id("login-submit").click()
    # by path: the login page's own URL (?next=/clerk) ends with it too
    page.wait_for_url(lambda url: urlparse(url).path == path)


def pick(page: Any, testid: str, label: str) -> None:
    """Choose `label` in an element-plus select (its options open in a popper on <body>)."""
    page.get_by_test_id(testid).click()
    page.locator(".el-select-dropdown__item:visible", has_text=label).first.click()
    page.locator(".el-select-dropdown:visible").first.wait_for(state="hidden")


def api(page: Any, method: str, path: str, body: Any = None) -> Any:
    """A call from the page (its cookie and CSRF token), answering {status, body}."""
    return page.evaluate(
        """async ([method, path, body]) => {
          const headers = {'Content-Type': 'application/json',
                           'X-CSRF-Token': sessionStorage.getItem('csrf_token') || ''};
          const r = await fetch(path, {method, headers,
                                       body: body === null ? undefined : JSON.stringify(body)});
          return {status: r.status, body: await r.json().catch(() => null)};
        }""",
        [method, path, body],
    )


@pytest.fixture(scope="module")
def phones(server: Server, browser: Any) -> None:
    """The demo clerk's work number and the court's switchboard, set by the admin."""
    page = new_page(browser)
    login(page, server, ADMIN, "/console")
    got = api(page, "GET", "/api/users")
    assert got["status"] == 200, got
    users = got["body"]
    clerk = next(u for u in users if u["username"] == "clerk")
    out = api(page, "PATCH", f"/api/users/{clerk['id']}", {"phone": CLERK_PHONE})
    assert out["status"] == 200 and out["body"]["phone"] == CLERK_PHONE, out
    out = api(page, "PATCH", f"/api/courts/{clerk['court_id']}", {"phone": COURT_PHONE})
    assert out["status"] == 200, out
    page.context.close()


def session_card(page: Any, time_text: str) -> Any:
    return page.get_by_test_id("clerk-session").filter(
        has=page.get_by_test_id("clerk-session-time").filter(has_text=time_text)
    )


def test_the_clerk_on_a_utc_pc_schedules_prints_and_revokes(
    server: Server, browser: Any, phones: None
) -> None:
    page = new_page(browser, timezone_id="UTC", permissions=["clipboard-read", "clipboard-write"])
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "UTC"
    login(page, server, CLERK, "/clerk")

    # --- 1. 10:30 typed on a UTC PC is 10:30 in Shanghai, listed as 10:30 (was: 18:30) ---------
    page.get_by_test_id("clerk-zone").wait_for()
    assert "北京时间" in page.get_by_test_id("clerk-zone").inner_text()
    pick(page, "clerk-case", CASE_NUMBER)
    pick(page, "clerk-mediator", "王法官")
    page.get_by_test_id("clerk-when").fill(f"{DAY}T10:30")
    page.get_by_test_id("clerk-submit").click()
    card = session_card(page, "10:30")
    card.wait_for()
    assert "18:30" not in page.get_by_test_id("clerk-session-time").all_inner_texts()
    listed = api(page, "GET", f"/api/sessions?date={DAY}")["body"]
    stored = [s["scheduled_at"] for s in listed]
    assert any(re.match(rf"{DAY}T02:30:00(Z|\+00:00)", at) for at in stored), stored
    # the role is named in the page's language
    assert "申请人" in card.locator(".person-row", has_text="张三").inner_text()

    # --- 3. the short link is shown and copied by default ------------------------------------
    card.locator(".person-row", has_text="张三").get_by_role("button", name="生成链接").click()
    issued = card.get_by_test_id("issued-short").first
    issued.wait_for()
    short = issued.inner_text().strip()
    assert SHORT.match(short), short
    card.get_by_test_id("copy-short").first.click()
    assert page.evaluate("navigator.clipboard.readText()") == short
    row = card.get_by_test_id("invite-row").filter(has_text=short.rsplit("/", 1)[1])
    row.wait_for()
    invite_id = row.get_attribute("data-invite")
    assert row.get_attribute("data-revoked") == "no"
    assert row.get_by_test_id("invite-copy").count() == 1

    # a party opening the short link reaches the join page
    party = new_page(browser)
    party.goto(short)
    party.wait_for_url("**/join/**")
    party.get_by_test_id("who-name").wait_for()
    assert party.get_by_test_id("who-name").inner_text() == "张三"
    assert party.get_by_test_id("who-case").inner_text() == CASE_NUMBER
    long_link = party.url

    # --- the printable invitation ------------------------------------------------------------
    row.get_by_test_id("invite-print").click()
    page.wait_for_url(f"**/clerk/invite/{invite_id}/print")
    inv = page.get_by_test_id("invitation")
    inv.wait_for()
    greeting = page.get_by_test_id("inv-greeting").inner_text()
    assert "张三" in greeting and "申请人" in greeting, greeting
    assert page.get_by_test_id("inv-case").inner_text() == CASE_NUMBER
    assert page.get_by_test_id("inv-court").inner_text() == "示范基层人民法院（演示）"
    when = page.get_by_test_id("inv-time").inner_text()
    assert "2026" in when and "20" in when and "10:30" in when and "18:30" not in when, when
    assert "北京时间" in page.get_by_test_id("inv-zone").inner_text()
    assert page.get_by_test_id("inv-short").inner_text().strip() == short
    assert page.get_by_test_id("inv-phone").inner_text() == CLERK_PHONE
    assert "李书记员" in page.get_by_test_id("inv-contact").inner_text()
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=inv-qr]');"
        " return i && i.complete && i.naturalWidth > 0 }"
    )
    assert page.get_by_test_id("print-button").is_enabled()
    # printed: the invitation alone, without the bar and its buttons
    page.emulate_media(media="print")
    assert page.locator(".topbar").is_hidden()
    assert page.get_by_test_id("inv-qr").is_visible()
    page.emulate_media(media="screen")
    # in English the role is English too (it was 申请人 in English mode)
    page.evaluate("localStorage.setItem('locale', 'en')")
    page.reload()
    page.get_by_test_id("inv-greeting").wait_for()
    assert "Applicant" in page.get_by_test_id("inv-greeting").inner_text()
    assert "10:30" in page.get_by_test_id("inv-time").inner_text()
    page.evaluate("localStorage.setItem('locale', 'zh-CN')")

    # --- 2. a revoked link is struck through, with nothing to copy, show or print ------------
    page.goto(f"{server.base_url}/clerk")
    page.get_by_test_id("clerk-session").first.wait_for()  # today's list has loaded
    page.get_by_test_id("clerk-date").fill(DAY)
    page.get_by_test_id("clerk-date").dispatch_event("change")
    row = page.locator(f'[data-testid=invite-row][data-invite="{invite_id}"]')
    row.wait_for()
    row.get_by_role("button", name="撤销").click()
    page.locator(".el-message-box:visible .el-button--primary").click()
    page.locator(
        f'[data-testid=invite-row][data-invite="{invite_id}"][data-revoked="yes"]'
    ).wait_for()
    link = row.get_by_test_id("invite-link")
    assert link.evaluate("e => e.tagName") == "S"
    assert "line-through" in link.evaluate("e => getComputedStyle(e).textDecorationLine")
    assert row.get_by_test_id("invite-revoked").inner_text() == "已撤销"
    for testid in ("invite-copy", "invite-qr", "invite-print"):
        assert row.get_by_test_id(testid).count() == 0, testid

    # --- 4. the party's revoked link names the clerk's phone ---------------------------------
    party.goto(short)
    party.wait_for_url("**/join/**")
    party.get_by_test_id("error-panel").wait_for()
    assert "链接已失效" in party.get_by_test_id("error-panel").inner_text()
    token = long_link.rsplit("/", 1)[1]
    refused = api(party, "GET", f"/api/join/{token}", None)
    assert refused["status"] == 401
    assert refused["body"]["error"]["code"] == "link_revoked"
    assert refused["body"]["error"]["contact"] == {"name": "李书记员", "phone": CLERK_PHONE}
    party.context.close()
    page.context.close()


def test_a_revoked_link_shows_the_party_the_clerks_phone(
    server: Server, browser: Any, phones: None, fresh: dict[str, Any]
) -> None:
    clerk = new_page(browser)
    login(clerk, server, CLERK, "/clerk")
    link = fresh["party_links"][0]["url"]
    invites = api(clerk, "GET", f"/api/sessions/{fresh['session_id']}/invites")["body"]
    token = link.rsplit("/", 1)[1]
    inv = token_payload(link)["inv"]
    assert any(i["id"] == inv for i in invites)
    assert api(clerk, "POST", f"/api/invites/{inv}/revoke", None)["status"] == 200
    party = new_page(browser)
    party.goto(f"{server.base_url}/join/{token}")
    party.get_by_test_id("error-panel").wait_for()
    phone = party.get_by_test_id("error-contact-phone")
    phone.wait_for(timeout=5000)
    assert phone.inner_text() == CLERK_PHONE
