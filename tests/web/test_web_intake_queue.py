"""The court's side of the shared-court network in the browser (issue #17), at 1366×768 in zh-CN:
the administrator sets up an area and a shared court and attaches the terminal
(/clerk/network); the clerk edits mediators' profiles (/clerk/mediators), sees an intake of a
case type nobody takes flagged 暂无调解员 under the court's alert banner, assigns a coverable
intake from the candidates with one click, reassigns it with a written reason, corrects its
status (a step back needs a note: the server's Chinese message is shown), and filters the queue
(/clerk/intakes). Every step is checked in the DOM and then through the API."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import Server

pytestmark = pytest.mark.slow

VIEWPORT = {"width": 1366, "height": 768}
ADMIN = ("admin", "demo-admin-2026")
CLERK = ("clerk", "demo-clerk-2026")
AREA = "径山镇（队列测试）"
COURT = "径山镇共享法庭（队列测试）"
TERMINAL = "径山镇共享法庭"  # the demo's terminal


class StaffApi:
    """A logged-in staff member speaking to the real API (session cookie + CSRF header)."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        self.csrf = ""
        me = self.call("POST", "/api/auth/login", {"username": username, "password": password})
        self.csrf = me["csrf_token"]
        self.user = me["user"]

    def call(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.csrf and method not in ("GET", "HEAD"):
            req.add_header("X-CSRF-Token", self.csrf)
        try:
            with self.opener.open(req, timeout=20) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        if expect is not None:
            assert status == expect, (method, path, status, text)
        elif status >= 400:
            raise AssertionError(f"{method} {path} → {status}: {text}")
        return json.loads(text) if text else None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, body)


def new_page(browser: Any) -> Any:
    ctx = browser.new_context(locale="zh-CN", viewport=VIEWPORT)
    page = ctx.new_page()
    page.set_default_timeout(20000)
    return page


def login(page: Any, server: Server, who: tuple[str, str], path: str) -> None:
    page.goto(f"{server.base_url}/login?next={path}")
    page.get_by_test_id("login-username").fill(who[0])
    page.get_by_test_id("login-password").fill(who[1])
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"**{path}*")


def pick(page: Any, testid: str, label: str, scope: Any = None) -> None:
    """Choose `label` in an element-plus select (its options open in a popper on <body>)."""
    (scope or page).get_by_test_id(testid).click()
    option = page.locator(".el-select-dropdown__item:visible", has_text=label).first
    option.click()
    page.locator(".el-select-dropdown:visible").first.wait_for(state="hidden")


def no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= VIEWPORT["width"], f"page is {width}px wide at 1366×768"


def row(page: Any, number: str) -> Any:
    return page.locator(f'[data-testid=intake-row][data-number="{number}"]')


def test_clerk_runs_the_intake_queue(server: Server, browser: Any, screenshots: Path) -> None:
    base = server.base_url
    admin = StaffApi(base, *ADMIN)
    # Two mediator accounts (no profile yet: not matched) made by the administrator.
    made = {}
    for username, name in (("queue_med_a", "调解员甲"), ("queue_med_b", "调解员乙")):
        made[username] = admin.post(
            "/api/users",
            {
                "username": username,
                "display_name": name,
                "role": "mediator",
                "password": "queue-pass-2026",
            },
        )
    med_a, med_b = made["queue_med_a"]["id"], made["queue_med_b"]["id"]
    terminal_id = next(t["id"] for t in admin.get("/api/terminals") if t["name"] == TERMINAL)

    # --- the administrator sets up the network ------------------------------------------------
    page = new_page(browser)
    login(page, server, ADMIN, "/clerk/network")
    page.get_by_test_id("network-setup").wait_for()
    page.get_by_test_id("area-name").fill(AREA)
    page.locator(
        "[data-testid=area-population-input] input, input[data-testid=area-population-input]"
    ).first.fill("32000")
    page.get_by_test_id("area-add").click()
    area_row = page.locator(f'[data-testid=area-row][data-name="{AREA}"]')
    area_row.wait_for()
    assert "32000" in area_row.get_by_test_id("area-population").inner_text()

    page.get_by_test_id("court-name").fill(COURT)
    pick(page, "court-kind", "村居共享法庭")
    pick(page, "court-area", AREA)
    page.get_by_test_id("court-address").fill("径山镇村民服务中心二楼")
    page.get_by_test_id("court-director-name").fill("陈主任")
    page.get_by_test_id("court-director-phone").fill("13900000009")
    page.get_by_test_id("court-save").click()
    court_row = page.locator(f'[data-testid=court-row][data-name="{COURT}"]')
    court_row.wait_for()
    assert court_row.get_by_test_id("court-area-name").inner_text() == AREA
    assert "陈主任" in court_row.inner_text()
    pick(page, "terminal-pick", TERMINAL, scope=court_row)
    court_row.get_by_test_id("terminal-attach").click()
    court_row.get_by_test_id("court-terminal").filter(has_text=TERMINAL).wait_for()
    no_horizontal_scroll(page)
    page.screenshot(path=str(screenshots / "network-setup-1366.png"))
    page.context.close()

    area = next(a for a in admin.get("/api/network/areas") if a["name"] == AREA)
    assert area["population"] == 32000
    court = next(c for c in admin.get("/api/network/shared-courts") if c["name"] == COURT)
    assert court["kind"] == "village" and court["area_id"] == area["id"]
    assert court["director_name"] == "陈主任" and court["director_phone"] == "13900000009"
    assert terminal_id in court["terminal_ids"]

    # --- the clerk: the network set-up is read-only, the mediators' profiles are theirs --------
    page = new_page(browser)
    login(page, server, CLERK, "/clerk")
    page.get_by_test_id("nav-mediators").click()
    page.wait_for_url("**/clerk/mediators")
    row_a = page.locator(f'[data-testid=mediator-row][data-user-id="{med_a}"]')
    row_b = page.locator(f'[data-testid=mediator-row][data-user-id="{med_b}"]')
    row_a.get_by_test_id("mediator-no-profile").wait_for()

    row_a.get_by_test_id("mediator-edit").click()
    form = page.get_by_test_id("mediator-form")
    form.wait_for()
    form.get_by_test_id("profile-specialty-property_management").click()
    form.get_by_test_id(f"profile-court-{court['id']}").click()
    form.locator("input[data-testid=profile-phone], [data-testid=profile-phone] input").first.fill(
        "13700000001"
    )
    page.get_by_test_id("profile-save").click()
    form.wait_for(state="hidden")
    row_a.get_by_test_id("mediator-specialties").filter(has_text="物业服务合同纠纷").wait_for()
    assert COURT in row_a.get_by_test_id("mediator-courts").inner_text()
    assert row_a.get_by_test_id("mediator-load").inner_text().startswith("0 / 20")

    row_b.get_by_test_id("mediator-edit").click()
    form.wait_for()
    form.get_by_test_id("profile-specialty-property_management").click()
    form.get_by_test_id("profile-specialty-neighbour").click()
    page.get_by_test_id("profile-save").click()
    form.wait_for(state="hidden")
    row_b.get_by_test_id("mediator-specialties").filter(has_text="邻里纠纷").wait_for()
    no_horizontal_scroll(page)
    page.screenshot(path=str(screenshots / "mediators-1366.png"))

    clerk = StaffApi(base, *CLERK)
    profiles = {m["user_id"]: m for m in clerk.get("/api/network/mediators")}
    assert profiles[med_a]["specialties"] == ["property_management"]
    assert profiles[med_a]["shared_court_ids"] == [court["id"]]
    assert profiles[med_a]["phone"] == "13700000001"
    assert sorted(profiles[med_b]["specialties"]) == ["neighbour", "property_management"]

    page.get_by_test_id("nav-network").click()
    page.get_by_test_id("setup-admin-only").wait_for()
    page.locator(f'[data-testid=court-row][data-name="{COURT}"]').wait_for()
    assert page.get_by_test_id("court-save").count() == 0

    # --- two intakes arrive: one nobody takes (labour), one the mediators take ---------------
    def intake(case_type: str, applicant: str) -> dict[str, Any]:
        return clerk.post(
            "/api/network/intakes",
            {
                "case_type": case_type,
                "applicant_name": applicant,
                "applicant_phone": "13800001111",
                "respondent_name": "某某公司",
                "claim": "请求调解" + applicant,
                "shared_court_id": court["id"],
            },
        )

    labour = intake("labour", "赵六")
    prop = intake("property_management", "钱七")
    assert labour["unassigned"]["code"] == "no_specialist"
    assert prop["unassigned"]["code"] == "awaiting_assignment"

    page.get_by_test_id("nav-intakes").click()
    page.wait_for_url("**/clerk/intakes*")
    banner = page.get_by_test_id("uncovered-banner")
    banner.wait_for()
    assert "以下纠纷类型暂无调解员：" in banner.inner_text()
    labour_alert = banner.locator('[data-testid=uncovered-type][data-case-type="labour"]')
    assert labour_alert.inner_text() == "劳动争议（1 件待分配）"
    assert banner.locator('[data-case-type="property_management"]').count() == 0

    row(page, labour["number"]).wait_for()
    flag = row(page, labour["number"]).get_by_test_id("intake-unassigned")
    assert flag.inner_text() == "暂无调解员"
    assert flag.get_attribute("data-code") == "no_specialist"
    assert "el-tag--warning" in (flag.get_attribute("class") or "")
    assert row(page, labour["number"]).get_by_test_id("intake-case-type").inner_text() == "劳动争议"
    assert COURT in row(page, labour["number"]).inner_text()
    waiting = row(page, prop["number"]).get_by_test_id("intake-unassigned")
    assert waiting.inner_text() == "待分配"
    assert "el-tag--warning" not in (waiting.get_attribute("class") or "")
    no_horizontal_scroll(page)
    page.screenshot(path=str(screenshots / "intake-queue-1366.png"))

    # The labour intake: nobody to pick from.
    row(page, labour["number"]).click()
    detail = page.get_by_test_id("intake-detail")
    detail.wait_for()
    detail.get_by_test_id("no-candidates").wait_for()
    assert detail.get_by_test_id("detail-unassigned").inner_text() == "暂无调解员"
    assert (
        "没有可用的调解员擅长劳动争议"
        in detail.get_by_test_id("detail-unassigned-message").inner_text()
    )
    page.keyboard.press("Escape")
    detail.wait_for(state="detached")

    # --- one click assigns the property intake to the first candidate --------------------------
    row(page, prop["number"]).click()
    detail = page.locator(f'[data-testid=intake-detail][data-intake-id="{prop["id"]}"]')
    detail.wait_for()
    assert "钱七" in detail.get_by_test_id("detail-applicant").inner_text()
    assert detail.get_by_test_id("detail-claim").inner_text() == "请求调解钱七"
    candidates = detail.get_by_test_id("candidate-row")
    candidates.first.wait_for()
    assert candidates.count() == 2
    assert candidates.nth(0).get_attribute("data-user-id") == med_a  # tier 0: serves the court
    assert "本共享法庭" in candidates.nth(0).inner_text()
    candidates.nth(0).get_by_test_id("candidate-assign").click()
    detail.get_by_test_id("detail-mediator").filter(has_text="调解员甲").wait_for()
    assert detail.get_by_test_id("detail-status").inner_text() == "已分配调解员"
    assert detail.get_by_test_id("assignment-row").count() == 1
    assert row(page, prop["number"]).get_by_test_id("intake-mediator").inner_text() == "调解员甲"

    # --- reassignment needs a written reason ----------------------------------------------------
    target = detail.locator(f'[data-testid=candidate-row][data-user-id="{med_b}"]')
    target.get_by_test_id("candidate-assign").click()
    detail.get_by_test_id("reassign-confirm").click()
    detail.get_by_test_id("reassign-reason-missing").wait_for()
    assert detail.get_by_test_id("detail-mediator").inner_text() == "调解员甲"
    detail.get_by_test_id("reassign-reason").fill("调解员甲与申请人相识，回避")
    detail.get_by_test_id("reassign-confirm").click()
    detail.get_by_test_id("detail-mediator").filter(has_text="调解员乙").wait_for()
    history = detail.get_by_test_id("assignment-row")
    assert history.count() == 2
    assert "调解员甲 → 调解员乙" in history.nth(1).inner_text()
    assert "调解员甲与申请人相识，回避" in history.nth(1).inner_text()
    assert "人工指定" in history.nth(1).inner_text()

    # --- a status correction: forward, then a step back without and with a reason --------------
    pick(page, "transition-status", "已排期", scope=detail)
    detail.get_by_test_id("transition-submit").click()
    detail.get_by_test_id("detail-status").filter(has_text="已排期").wait_for()
    pick(page, "transition-status", "已分配调解员", scope=detail)
    detail.get_by_test_id("transition-note-hint").wait_for()
    detail.get_by_test_id("transition-submit").click()
    err = detail.get_by_test_id("intake-error")
    err.wait_for()
    assert err.inner_text() == "退回状态须写明原因", err.inner_text()
    assert detail.get_by_test_id("detail-status").inner_text() == "已排期"
    detail.get_by_test_id("transition-note").fill("当事人要求改期，排期作废")
    detail.get_by_test_id("transition-submit").click()
    detail.get_by_test_id("detail-status").filter(has_text="已分配调解员").wait_for()
    err.wait_for(state="detached")
    notes = detail.get_by_test_id("transition-item").all_inner_texts()
    assert any("当事人要求改期，排期作废" in n for n in notes), notes
    page.screenshot(path=str(screenshots / "intake-detail-1366.png"))
    page.keyboard.press("Escape")
    detail.wait_for(state="detached")

    # --- the filters -----------------------------------------------------------------------------
    row(page, prop["number"]).get_by_test_id("intake-status").filter(
        has_text="已分配调解员"
    ).wait_for()
    page.get_by_test_id("filter-unassigned").click()
    page.wait_for_url(re.compile(r".*unassigned=true.*"))
    row(page, prop["number"]).wait_for(state="detached")
    row(page, labour["number"]).wait_for()
    assert all(
        s == "received"
        for s in page.get_by_test_id("intake-row").evaluate_all(
            "rs => rs.map(r => r.dataset.status)"
        )
    )
    page.get_by_test_id("filter-unassigned").click()
    row(page, prop["number"]).wait_for()
    pick(page, "filter-case-type", "劳动争议")
    row(page, prop["number"]).wait_for(state="detached")
    assert (
        page.get_by_test_id("intake-row").evaluate_all("rs => rs.map(r => r.dataset.caseType)")
        == ["labour"] * page.get_by_test_id("intake-row").count()
    )
    page.get_by_test_id("filter-clear").click()
    row(page, prop["number"]).wait_for()

    # English second: the same queue, the court's words translated.
    page.get_by_test_id("locale-switch").click()
    row(page, labour["number"]).get_by_test_id("intake-unassigned").filter(
        has_text="No mediator"
    ).wait_for()
    assert row(page, labour["number"]).get_by_test_id("intake-case-type").inner_text() == "Labour"
    assert "Labour (1 waiting)" in page.get_by_test_id("uncovered-banner").inner_text()
    no_horizontal_scroll(page)
    page.get_by_test_id("locale-switch").click()
    page.context.close()

    # --- and the API agrees -----------------------------------------------------------------------
    got = clerk.get(f"/api/network/intakes/{prop['id']}")
    assert got["status"] == "assigned" and got["mediator_id"] == med_b
    assert [a["mediator_id"] for a in got["assignments"]] == [med_a, med_b]
    assert got["assignments"][1]["previous_id"] == med_a
    assert got["assignments"][1]["reason"] == "调解员甲与申请人相识，回避"
    # A reassignment is no status change: received → assigned → scheduled → assigned (back).
    assert [t["to_status"] for t in got["transitions"]] == [
        "received",
        "assigned",
        "scheduled",
        "assigned",
    ]
    assert got["transitions"][-1]["note"] == "当事人要求改期，排期作废"
    waiting_ids = {i["id"] for i in clerk.get("/api/network/intakes?unassigned=true")}
    assert labour["id"] in waiting_ids and prop["id"] not in waiting_ids
    alerts = clerk.get("/api/network/alerts")
    uncovered = {u["case_type"]: u for u in alerts["uncovered_case_types"]}
    assert uncovered["labour"]["reason"] == "no_specialist" and uncovered["labour"]["waiting"] == 1
    assert "property_management" not in uncovered
