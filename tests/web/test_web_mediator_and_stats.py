"""Browser tests of the mediator's own work and the leadership's statistics (issue #17).

Through the real API (staff HTTP sessions) the test sets up two shared courts, a mediator
profile for the demo mediator (王法官, who holds the console), a second mediator, intakes (one
of a case type no mediator covers) and assignments; then, in headless Chromium:
- the demo mediator sees the intake assigned to them under 我的调解申请 with the 新分配 notice,
  which clears once viewed (and stays cleared after a reload);
- the statistics page shows the backlog and the uncovered case types exactly as
  GET /api/network/alerts gives them, the mediator's workload row as GET /api/network/mediators
  gives it, figures that change with the shared-court filter as GET /api/network/stats does, a
  rise in 调解不成 coloured as bad news and one in 调解成功 as good news, and chart legends that
  follow the language switch without a reload.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import Server
from tests.web.test_web_agreement import staff_login
from tests.web.test_web_client import new_page, wait_until

pytestmark = pytest.mark.slow

PASSWORDS = {"admin": "demo-admin-2026", "judge": "demo-judge-2026", "clerk": "demo-clerk-2026"}
MEDIATOR = ("work_mediator", "赵调解员", "work-mediator-2026")


class Staff:
    """A logged-in staff member's HTTP session (cookie + CSRF header), on its own context."""

    def __init__(self, browser: Any, server: Server, username: str, password: str) -> None:
        self.base = server.base_url
        self.ctx = browser.new_context()
        self.api = self.ctx.request
        r = self.api.post(
            self.base + "/api/auth/login", data={"username": username, "password": password}
        )
        assert r.ok, r.text()
        self.csrf = self.api.get(self.base + "/api/auth/me").json()["csrf_token"]

    def get(self, path: str, **params: Any) -> Any:
        r = self.api.get(self.base + path, params={k: v for k, v in params.items() if v})
        assert r.ok, f"GET {path}: {r.status} {r.text()}"
        return r.json()

    def send(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        r = self.api.fetch(
            self.base + path,
            method=method,
            headers={"X-CSRF-Token": self.csrf, **kw.pop("headers", {})},
            data=body,
            **kw,
        )
        assert r.ok, f"{method} {path}: {r.status} {r.text()}"
        return r.json() if r.text() else None

    def close(self) -> None:
        self.ctx.close()


def court_year() -> int:
    return (datetime.now(UTC) + timedelta(hours=8)).year


@pytest.fixture(scope="module")
def setup(server: Server, browser: Any) -> dict[str, Any]:
    """The network's data, made once for the module through the API."""
    admin = Staff(browser, server, "admin", PASSWORDS["admin"])
    clerk = Staff(browser, server, "clerk", PASSWORDS["clerk"])
    try:
        users = {u["username"]: u for u in admin.get("/api/users")}
        judge = users["judge"]
        if MEDIATOR[0] not in users:
            users[MEDIATOR[0]] = admin.send(
                "POST",
                "/api/users",
                {
                    "username": MEDIATOR[0],
                    "display_name": MEDIATOR[1],
                    "role": "mediator",
                    "password": MEDIATOR[2],
                },
            )
        mediator = users[MEDIATOR[0]]
        east = admin.send(
            "POST",
            "/api/network/shared-courts",
            {"name": "东湖村共享法庭", "kind": "village", "auto_assign": False},
        )
        west = admin.send(
            "POST",
            "/api/network/shared-courts",
            {"name": "西溪社区共享法庭", "kind": "community", "auto_assign": False},
        )
        # The demo mediator's profile: property and neighbour disputes, at the east court.
        admin.send(
            "PUT",
            f"/api/network/mediators/{judge['id']}",
            {
                "kind": "judge",
                "specialties": ["property_management", "neighbour"],
                "shared_court_ids": [east["id"]],
                "max_open": 5,
            },
        )
        admin.send(
            "PUT",
            f"/api/network/mediators/{mediator['id']}",
            {
                "kind": "industry",
                "specialties": ["labour", "marriage_family", "other"],
                "shared_court_ids": [west["id"]],
                "max_open": 3,
            },
        )

        # No profile takes finance_insurance: an intake of that type can only wait.
        def intake(n: int, case_type: str, court: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = clerk.send(
                "POST",
                "/api/network/intakes",
                {
                    "case_type": case_type,
                    "applicant_name": f"申请人{n}",
                    "applicant_phone": f"1370000000{n}",
                    "respondent_name": f"被申请人{n}",
                    "claim": "请求调解",
                    "shared_court_id": court["id"],
                },
            )
            return out

        def assign(i: dict[str, Any], user: dict[str, Any]) -> None:
            clerk.send(
                "POST", f"/api/network/intakes/{i['id']}/assign", {"mediator_id": user["id"]}
            )

        # The demo mediator's: one open with a session booked, one failed, one settled.
        mine = intake(1, "property_management", east)
        assign(mine, judge)
        at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
        clerk.send(
            "POST",
            "/api/sessions",
            {
                "case_id": mine["case_id"],
                "scheduled_at": at.isoformat(),
                "mediator_id": judge["id"],
            },
        )
        failed = intake(2, "neighbour", east)
        assign(failed, judge)
        clerk.send("POST", f"/api/network/intakes/{failed['id']}/transition", {"status": "failed"})
        settled = intake(3, "neighbour", east)
        assign(settled, judge)
        clerk.send(
            "POST", f"/api/network/intakes/{settled['id']}/transition", {"status": "settled"}
        )
        # Someone else's, and two waiting at the west court (one of the uncovered type).
        theirs = intake(4, "labour", west)
        assign(theirs, mediator)
        uncovered = intake(5, "finance_insurance", west)
        waiting = intake(6, "property_management", west)
        # A received intake from 10 days ago (imported): it has waited longer than 7 days.
        old = (datetime.now(UTC) + timedelta(hours=8) - timedelta(days=10)).strftime(
            "%Y-%m-%dT10:00:00+08:00"
        )
        csv = (
            "case_type,applicant_name,applicant_phone,respondent_name,claim,shared_court,received_at\n"
            f"property_management,申请人7,13700000007,被申请人7,请求调解,西溪社区共享法庭,{old}\n"
        )
        clerk.send(
            "POST",
            "/api/network/import/cases",
            headers={"Content-Type": "text/csv"},
            body=csv.encode("utf-8"),
        )
        return dict(
            judge=judge,
            mediator=mediator,
            east=east,
            west=west,
            mine=mine,
            failed=failed,
            theirs=theirs,
            uncovered=uncovered,
            waiting=waiting,
            session_at=at,
        )
    finally:
        admin.close()
        clerk.close()


def test_mediator_sees_own_intakes_and_new_assignment_notice(
    server: Server, browser: Any, setup: dict[str, Any], screenshots: Path
) -> None:
    page = new_page(browser, viewport={"width": 1366, "height": 768})
    staff_login(page, server, "judge", PASSWORDS["judge"], "/console")
    section = page.get_by_test_id("my-intakes")
    section.wait_for()
    assert "我的调解申请" in section.inner_text()
    # Only the intakes assigned to this mediator (a judge reads the court's through the API).
    rows = page.get_by_test_id("my-intake-row")
    wait_until(lambda: rows.count() == 3, what="three intakes of the demo mediator")
    ids = {rows.nth(i).get_attribute("data-intake-id") for i in range(rows.count())}
    assert setup["mine"]["id"] in ids and setup["failed"]["id"] in ids
    assert setup["theirs"]["id"] not in ids and setup["waiting"]["id"] not in ids
    row = page.locator(f'[data-testid=my-intake-row][data-intake-id="{setup["mine"]["id"]}"]')
    text = row.inner_text()
    assert setup["mine"]["number"] in text
    assert "物业" in text and "已排期" in text
    received_day = (
        (datetime.fromisoformat(setup["mine"]["received_at"]) + timedelta(hours=8))
        .date()
        .isoformat()
    )
    assert received_day in text
    # The next session: month-day hour:minute in the court's time zone.
    local = setup["session_at"] + timedelta(hours=8)
    next_cell = row.locator("[data-col=next-session]").inner_text()
    assert f"{local.minute:02d}" in next_cell and f"{local.day:02d}" in next_cell, next_cell
    failed_row = page.locator(
        f'[data-testid=my-intake-row][data-intake-id="{setup["failed"]["id"]}"]'
    )
    assert "调解不成" in failed_row.inner_text()
    # Newly assigned since last looked: only the open one counts.
    notice = page.get_by_test_id("new-assignments")
    notice.wait_for()
    assert "新分配 1 件" in notice.inner_text()
    assert row.get_attribute("data-new") == "true"
    assert failed_row.get_attribute("data-new") == "false"
    # The sessions list keeps its interface.
    page.get_by_test_id("session-list").wait_for(state="attached")
    page.screenshot(path=str(screenshots / "console-my-intakes.png"))
    page.get_by_test_id("new-assignments-view").click()
    notice.wait_for(state="detached")
    assert row.get_attribute("data-new") == "true"  # still marked for this visit
    page.reload()
    section.wait_for()
    wait_until(lambda: rows.count() == 3, what="intakes after reload")
    page.wait_for_timeout(300)
    assert page.get_by_test_id("new-assignments").count() == 0
    assert row.get_attribute("data-new") == "false"
    page.context.close()


def test_mediator_of_role_mediator_sees_only_own(
    server: Server, browser: Any, setup: dict[str, Any]
) -> None:
    page = new_page(browser, viewport={"width": 1366, "height": 768})
    staff_login(page, server, MEDIATOR[0], MEDIATOR[2], "/console")
    rows = page.get_by_test_id("my-intake-row")
    wait_until(lambda: rows.count() == 1, what="the mediator's one intake")
    assert rows.first.get_attribute("data-intake-id") == setup["theirs"]["id"]
    assert "新分配 1 件" in page.get_by_test_id("new-assignments").inner_text()
    page.context.close()


def test_stats_backlog_workload_filter_and_semantic_trends(
    server: Server, browser: Any, setup: dict[str, Any], screenshots: Path
) -> None:
    clerk = Staff(browser, server, "clerk", PASSWORDS["clerk"])
    alerts = clerk.get("/api/network/alerts")
    workload = {m["user_id"]: m for m in clerk.get("/api/network/mediators")}
    year = court_year()
    whole = clerk.get("/api/network/stats", year=year)
    west = clerk.get("/api/network/stats", year=year, shared_court_id=setup["west"]["id"])
    clerk.close()
    # The data behind the page is what the setup made.
    assert alerts["unassigned"] >= 3 and alerts["waiting_longer"] >= 1
    assert "finance_insurance" in {u["case_type"] for u in alerts["uncovered_case_types"]}
    assert whole["failed"]["value"] >= 1 and whole["failed"]["change"] > 0
    assert west["disputes"]["value"] != whole["disputes"]["value"]

    page = new_page(browser, viewport={"width": 1366, "height": 950})
    staff_login(page, server, "clerk", PASSWORDS["clerk"], "/clerk")
    page.goto(server.base_url + "/clerk/stats")
    page.get_by_test_id("kpis").wait_for()

    backlog = page.get_by_test_id("stats-backlog")
    backlog.wait_for()
    figure = backlog.locator("[data-key=unassigned] .kpi-value")
    assert figure.inner_text() == str(alerts["unassigned"])
    longer = backlog.locator("[data-key=waiting_longer]")
    assert longer.locator(".kpi-value").inner_text() == str(alerts["waiting_longer"])
    assert longer.get_attribute("data-days") == str(alerts["days"])
    assert f"超过 {alerts['days']} 天未分配" in longer.inner_text()

    uncovered = page.get_by_test_id("stats-uncovered")
    assert "以下纠纷类型暂无调解员" in uncovered.inner_text()
    items = page.get_by_test_id("stats-uncovered-type")
    shown = {
        items.nth(i).get_attribute("data-case-type"): int(
            items.nth(i).get_attribute("data-waiting") or -1
        )
        for i in range(items.count())
    }
    assert shown == {u["case_type"]: u["waiting"] for u in alerts["uncovered_case_types"]}
    fin = page.locator('[data-testid=stats-uncovered-type][data-case-type="finance_insurance"]')
    assert "金融保险" in fin.inner_text() and "等待 1 件" in fin.inner_text()

    table = page.get_by_test_id("stats-workload")
    for uid in (setup["judge"]["id"], setup["mediator"]["id"]):
        m = workload[uid]
        wrow = table.locator(f'[data-testid=stats-workload-row][data-user-id="{uid}"]')
        assert wrow.get_attribute("data-open") == str(m["open_intakes"])
        assert wrow.get_attribute("data-max") == str(m["max_open"])
        assert f"{m['open_intakes']} / {m['max_open']}" in wrow.inner_text()
        assert m["display_name"] in wrow.inner_text()
    assert workload[setup["judge"]["id"]]["open_intakes"] == 1

    # Year on year by meaning: more failed is bad news, more settled good news.
    kpi = page.get_by_test_id("kpis")
    assert kpi.locator("[data-key=failed] .kpi-value").inner_text() == str(whole["failed"]["value"])
    failed_yoy = kpi.locator("[data-key=failed] .kpi-yoy")
    assert failed_yoy.get_attribute("data-trend") == "bad"
    red = failed_yoy.evaluate("e => getComputedStyle(e).color")
    assert red == "rgb(208, 48, 48)", red  # var(--bad)
    if (whole["settled"]["change"] or 0) > 0:
        settled_yoy = kpi.locator("[data-key=settled] .kpi-yoy")
        assert settled_yoy.get_attribute("data-trend") == "good"
        assert settled_yoy.evaluate("e => getComputedStyle(e).color") == "rgb(26, 154, 91)"
    page.locator("[data-testid=chart-month] canvas").wait_for()
    page.wait_for_timeout(300)
    page.screenshot(path=str(screenshots / "stats-work.png"), full_page=True)

    # The shared-court filter: the figures become those of the west court.
    disputes = kpi.locator("[data-key=disputes] .kpi-value")
    assert disputes.inner_text() == str(whole["disputes"]["value"])
    page.get_by_test_id("stats-shared-court").click()
    page.locator(".el-select-dropdown__item", has_text="西溪社区共享法庭").click()
    wait_until(
        lambda: disputes.inner_text() == str(west["disputes"]["value"]),
        what=f"west disputes {west['disputes']['value']}, shown {disputes.inner_text()}",
    )
    assert kpi.locator("[data-key=failed] .kpi-value").inner_text() == str(west["failed"]["value"])
    assert "shared_court_id=" + setup["west"]["id"] in (
        page.get_by_test_id("stats-csv").get_attribute("href") or ""
    )
    # Workload of the mediators serving that shared court only.
    wait_until(
        lambda: (
            table.locator(
                f'[data-testid=stats-workload-row][data-user-id="{setup["judge"]["id"]}"]'
            ).count()
            == 0
        ),
        what="the judge (east court) filtered out",
    )
    assert (
        table.locator(
            f'[data-testid=stats-workload-row][data-user-id="{setup["mediator"]["id"]}"]'
        ).count()
        == 1
    )

    # Chart legends follow the language without a reload (the charts' aria-label names them).
    month = page.get_by_test_id("chart-month")
    wait_until(lambda: f"{year}年纠纷数" in (month.get_attribute("aria-label") or ""), what="zh")
    page.get_by_test_id("locale-switch").click()
    wait_until(
        lambda: f"Disputes {year}" in (month.get_attribute("aria-label") or ""),
        what=f"English legend, aria-label={month.get_attribute('aria-label')!r}",
    )
    assert "Backlog" in page.get_by_test_id("stats-backlog").inner_text()
    assert "No mediator can take" in page.get_by_test_id("stats-uncovered").inner_text()
    page.get_by_test_id("locale-switch").click()  # back to Chinese for the other tests
    wait_until(lambda: f"{year}年纠纷数" in (month.get_attribute("aria-label") or ""), what="zh")
    page.context.close()
