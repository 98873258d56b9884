"""The village terminal's kiosk in the browser (issues #17 and #15), at kiosk size in zh-CN with
Chromium's fake camera: the home screen's big tiles, one task per screen —

- 代办申请: an intake for a villager with a document photo taken by the terminal's camera (a JPEG
  the server keeps), the villager's consent, the intake number shown large;
- 本庭申请 / 预约调解: once the clerk assigned it (API), a free slot booked, a slot taken meanwhile
  refused with the server's Chinese message and then shown as taken;
- 案件查询: by number + phone, the status; wrong phones back off and say 请 N 秒后再试;
- home again after 3 minutes untouched (the page's clock fast-forwarded); 1080×1920 portrait;
- #15: one tap from the schedule into the lobby (no preview, no consent step: the terminal's
  registration is its consent, said on screen), the live session marked 进行中, and after a
  reload the kiosk goes back into its live session on its own, media proved by decoded frames.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import Server, token_payload
from tests.web.test_web_agreement import start_console
from tests.web.test_web_client import admit, decoded_frames, remote_video_ok, wait_until
from tests.web.test_web_intake_queue import StaffApi

pytestmark = pytest.mark.slow

LANDSCAPE = {"width": 1280, "height": 800}
PORTRAIT = {"width": 1080, "height": 1920}
ADMIN = ("admin", "demo-admin-2026")
CLERK = ("clerk", "demo-clerk-2026")
JUDGE = ("judge", "demo-judge-2026")
TERMINAL = "径山镇共享法庭"  # the demo's terminal


def kiosk_page(browser: Any, viewport: dict[str, int]) -> Any:
    ctx = browser.new_context(locale="zh-CN", viewport=viewport)
    page = ctx.new_page()
    page.set_default_timeout(20000)
    return page


def kiosk_login(page: Any, server: Server, device_key: str) -> None:
    page.goto(server.base_url + "/terminal")
    page.get_by_test_id("terminal-key").fill(device_key)
    page.get_by_test_id("terminal-setup").locator("button[type=submit]").click()
    page.get_by_test_id("kiosk-home").wait_for()


def no_horizontal_scroll(page: Any, width: int) -> None:
    got = page.evaluate("() => document.documentElement.scrollWidth")
    assert got <= width, f"page is {got}px wide at {width}px"


def attach_terminal(server: Server) -> dict[str, Any]:
    """The administrator links the demo terminal to a village shared court (once per server)."""
    admin = StaffApi(server.base_url, *ADMIN)
    terminal_id = next(t["id"] for t in admin.get("/api/terminals") if t["name"] == TERMINAL)
    court = next(
        (c for c in admin.get("/api/network/shared-courts") if terminal_id in c["terminal_ids"]),
        None,
    )
    if court is None:
        area = admin.post("/api/network/areas", {"name": "径山镇（终端测试）", "population": 30000})
        court = admin.post(
            "/api/network/shared-courts",
            {"name": "径山镇共享法庭（终端测试）", "kind": "village", "area_id": area["id"]},
        )
        court = admin.post(
            f"/api/network/shared-courts/{court['id']}/terminals", {"terminal_id": terminal_id}
        )
    return court


def terminal_token(server: Server, device_key: str) -> str:
    req = urllib.request.Request(
        server.base_url + "/api/terminal/login",
        data=json.dumps({"device_key": device_key}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=20) as r:
        return str(json.loads(r.read())["token"])


def terminal_post(server: Server, token: str, path: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(
        server.base_url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {token}",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_kiosk_intake_booking_and_lookup(server: Server, browser: Any, screenshots: Path) -> None:
    demo = server.fresh_session()  # a fresh device key (each seed issues a new one)
    key = demo["terminal"]["device_key"]
    attach_terminal(server)
    clerk = StaffApi(server.base_url, *CLERK)
    judge_id = StaffApi(server.base_url, *JUDGE).user["id"]

    page = kiosk_page(browser, LANDSCAPE)
    kiosk_login(page, server, key)
    for tile in ("intake", "intakes", "book", "lookup", "edu"):
        box = page.get_by_test_id(f"kiosk-tile-{tile}").bounding_box()
        assert box and box["height"] >= 80 and box["width"] >= 150, (tile, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= LANDSCAPE["height"], (tile, box)
    no_horizontal_scroll(page, LANDSCAPE["width"])
    page.screenshot(path=str(screenshots / "kiosk-home-1280.png"))

    # --- 代办申请 -------------------------------------------------------------------------------
    page.get_by_test_id("kiosk-tile-intake").click()
    page.wait_for_url("**/terminal/intake")
    page.get_by_test_id("kiosk-next").click()  # nothing filled in yet: refused, in Chinese
    assert page.get_by_test_id("kiosk-intake-error").inner_text() == "请填写申请人姓名"
    page.get_by_test_id("kiosk-applicant-name").fill("周大伯")
    page.get_by_test_id("kiosk-applicant-phone").fill("13812345678")
    page.get_by_test_id("kiosk-respondent-name").fill("隔壁王某")
    page.get_by_test_id("kiosk-next").click()
    page.get_by_test_id("kiosk-step-type").wait_for()
    assert page.get_by_test_id("kiosk-case-type-neighbour").inner_text().strip() == "邻里纠纷"
    page.get_by_test_id("kiosk-case-type-neighbour").click()
    page.get_by_test_id("kiosk-next").click()
    page.get_by_test_id("kiosk-claim").fill("请求邻居拆除占用通道的柴垛")
    page.get_by_test_id("kiosk-facts").fill("柴垛堆在两家之间的通道上，三轮车无法通行。")
    page.get_by_test_id("kiosk-next").click()

    page.get_by_test_id("kiosk-photo-open").click()
    page.wait_for_function(
        "() => { const v = document.querySelector('[data-testid=kiosk-camera-video]');"
        " return v && v.videoWidth > 0; }",
        timeout=20000,
    )
    page.get_by_test_id("kiosk-photo-capture").click()
    page.get_by_test_id("kiosk-photo-preview").wait_for()
    page.get_by_test_id("kiosk-photo-retake").click()  # retake: the camera again
    page.wait_for_function(
        "() => { const v = document.querySelector('[data-testid=kiosk-camera-video]');"
        " return v && v.videoWidth > 0; }",
        timeout=20000,
    )
    page.get_by_test_id("kiosk-photo-capture").click()
    page.get_by_test_id("kiosk-photo-use").click()
    wait_until(lambda: page.get_by_test_id("kiosk-photo-item").count() == 1, 10, what="photo kept")
    assert page.get_by_test_id("kiosk-photo-count").inner_text() == "共 1 份材料"
    page.get_by_test_id("kiosk-next").click()

    page.get_by_test_id("kiosk-consent-text").wait_for()
    assert "代为填写并提交" in page.get_by_test_id("kiosk-consent-text").inner_text()
    assert page.get_by_test_id("kiosk-submit").is_disabled()  # no tick, no submission
    page.get_by_test_id("kiosk-consent").click()
    assert page.get_by_test_id("kiosk-consent").get_attribute("aria-checked") == "true"
    page.screenshot(path=str(screenshots / "kiosk-intake-consent-1280.png"))
    page.get_by_test_id("kiosk-submit").click()
    number = page.get_by_test_id("kiosk-intake-number").inner_text().strip()
    assert number, "no intake number"
    box = page.get_by_test_id("kiosk-intake-number").bounding_box()
    assert box and box["height"] >= 60
    page.locator('[data-testid=kiosk-upload-status][data-state="done"]').wait_for()
    page.screenshot(path=str(screenshots / "kiosk-intake-number-1280.png"))

    intake = next(i for i in clerk.get("/api/network/intakes") if i["number"] == number)
    assert intake["channel"] == "terminal" and intake["case_type"] == "neighbour"
    assert intake["applicant_name"] == "周大伯" and intake["claim"] == "请求邻居拆除占用通道的柴垛"
    detail = clerk.get(f"/api/network/intakes/{intake['id']}")
    assert len(detail["attachments"]) == 1, detail["attachments"]
    att = detail["attachments"][0]
    assert att["content_type"] == "image/jpeg" and att["filename"].endswith(".jpg"), att
    with clerk.opener.open(server.base_url + f"/api/network/attachments/{att['id']}") as r:
        data = r.read()
    assert data[:3] == b"\xff\xd8\xff" and len(data) == att["size_bytes"] > 1000

    # --- 本庭申请: the new intake, waiting for a mediator ------------------------------------------
    page.get_by_test_id("kiosk-intake-finish").click()
    page.get_by_test_id("kiosk-home").wait_for()
    page.get_by_test_id("kiosk-tile-intakes").click()
    row = page.locator(f'[data-testid=kiosk-intake-row][data-number="{number}"]')
    assert row.get_by_test_id("kiosk-intake-status").inner_text() == "已受理"

    # The clerk assigns it to the judge (API); the kiosk's detail says so.
    clerk.post(f"/api/network/intakes/{intake['id']}/assign", {"mediator_id": judge_id})
    page.get_by_test_id("kiosk-intakes-refresh").click()
    row.locator("[data-testid=kiosk-intake-status]", has_text="已分配调解员").wait_for()
    row.click()
    page.locator(f'[data-testid=kiosk-intake-detail][data-intake-id="{intake["id"]}"]').wait_for()
    assert page.get_by_test_id("kiosk-detail-status").inner_text() == "已分配调解员"
    assert page.get_by_test_id("kiosk-detail-next").inner_text() == "暂未安排"
    assert page.get_by_test_id("kiosk-detail-attachments").inner_text() == "共 1 份材料"

    # --- 预约调解 ----------------------------------------------------------------------------------
    page.get_by_test_id("kiosk-detail-book").click()
    page.wait_for_url(f"**/terminal/book/{intake['id']}")
    assigned = page.locator('[data-testid=kiosk-mediator][data-assigned="true"]')
    assigned.wait_for()
    assert assigned.get_attribute("data-user-id") == judge_id
    assert "已分配" in assigned.inner_text() and "王法官" in assigned.inner_text()
    tomorrow = page.get_by_test_id("kiosk-date").nth(1)
    day = tomorrow.get_attribute("data-date")
    tomorrow.click()
    page.locator(f'[data-testid=kiosk-slots][data-date="{day}"]').wait_for()
    free = page.locator('[data-testid=kiosk-slot][data-free="true"]')
    wait_until(lambda: free.count() >= 2, 10, what="free slots")
    first, second = free.nth(0).get_attribute("data-start"), free.nth(1).get_attribute("data-start")
    page.screenshot(path=str(screenshots / "kiosk-slots-1280.png"))

    # Meanwhile the first slot is booked elsewhere (the same terminal and judge, through the API).
    token = terminal_token(server, key)
    status, body = terminal_post(
        server,
        token,
        "/api/network/terminal/bookings",
        {"intake_id": intake["id"], "scheduled_at": first},
    )
    assert status == 201, body
    slot = page.locator(f'[data-testid=kiosk-slot][data-start="{first}"]')
    assert slot.get_attribute("data-free") == "true"  # the kiosk's list is older
    slot.click()
    page.get_by_test_id("kiosk-book").click()
    err = page.get_by_test_id("kiosk-book-error")
    err.wait_for()
    assert err.inner_text().startswith("该时段") and "已有安排，请另选时段" in err.inner_text(), (
        err.inner_text()
    )
    page.locator(f'[data-testid=kiosk-slot][data-start="{first}"][data-free="false"]').wait_for()
    reason = slot.get_by_test_id("kiosk-slot-reason").inner_text()
    assert "已有安排" in reason, reason
    assert slot.is_disabled()

    page.locator(f'[data-testid=kiosk-slot][data-start="{second}"]').click()
    page.get_by_test_id("kiosk-book").click()
    page.get_by_test_id("kiosk-booked").wait_for()
    assert "王法官" in page.get_by_test_id("kiosk-booked").inner_text()
    page.screenshot(path=str(screenshots / "kiosk-booked-1280.png"))
    got = clerk.get(f"/api/network/intakes/{intake['id']}")
    assert got["status"] == "scheduled"

    # --- 案件查询 ----------------------------------------------------------------------------------
    page.get_by_test_id("kiosk-go-home").click()
    page.get_by_test_id("kiosk-home").wait_for()
    page.get_by_test_id("kiosk-tile-lookup").click()
    page.get_by_test_id("kiosk-lookup-number").fill(number)
    page.get_by_test_id("kiosk-lookup-phone").fill("13812345678")
    page.get_by_test_id("kiosk-lookup-submit").click()
    result = page.get_by_test_id("kiosk-lookup-result")
    result.wait_for()
    assert page.get_by_test_id("kiosk-lookup-status").inner_text() == "已排期"
    assert page.get_by_test_id("kiosk-lookup-next").inner_text() != "暂未安排"
    page.screenshot(path=str(screenshots / "kiosk-lookup-1280.png"))

    # Wrong phones for a number back off: the kiosk says when to try again.
    page.get_by_test_id("kiosk-lookup-again").click()
    page.get_by_test_id("kiosk-lookup-number").fill(number)
    page.get_by_test_id("kiosk-lookup-phone").fill("13900000000")
    for _ in range(8):
        page.get_by_test_id("kiosk-lookup-submit").click()
        wait_until(
            lambda: (
                page.get_by_test_id("kiosk-lookup-error").count()
                or page.get_by_test_id("kiosk-lookup-wait").count()
            ),
            10,
            what="a lookup answer",
        )
        if page.get_by_test_id("kiosk-lookup-wait").count():
            break
        assert "未找到匹配的案件" in page.get_by_test_id("kiosk-lookup-error").inner_text()
        page.wait_for_timeout(200)
    wait_msg = page.get_by_test_id("kiosk-lookup-wait")
    text = wait_msg.inner_text()
    assert text.startswith("查询次数过多，请 ") and text.endswith(" 秒后再试"), text
    assert int(wait_msg.get_attribute("data-seconds") or 0) >= 1
    assert page.get_by_test_id("kiosk-lookup-submit").is_disabled()
    page.context.close()

    # --- 1080×1920 portrait; home again after 3 minutes untouched -------------------------------
    tall = kiosk_page(browser, PORTRAIT)
    tall.clock.install()
    kiosk_login(tall, server, key)
    no_horizontal_scroll(tall, PORTRAIT["width"])
    tall.screenshot(path=str(screenshots / "kiosk-home-portrait.png"))
    tall.get_by_test_id("kiosk-tile-intake").click()
    tall.get_by_test_id("kiosk-applicant-name").fill("测试")
    no_horizontal_scroll(tall, PORTRAIT["width"])
    tall.screenshot(path=str(screenshots / "kiosk-intake-portrait.png"))
    tall.clock.fast_forward("02:00")
    tall.wait_for_timeout(300)
    assert tall.get_by_test_id("kiosk-intake").count() == 1  # 2 minutes: still there
    tall.clock.fast_forward("01:10")
    tall.get_by_test_id("kiosk-home").wait_for(timeout=10000)
    assert tall.url.rstrip("/").endswith("/terminal")
    tall.context.close()


def test_kiosk_one_tap_into_session_and_back_after_reload(
    server: Server, browser: Any, screenshots: Path
) -> None:
    fresh = server.fresh_session()
    sid = fresh["session_id"]
    med = kiosk_page(browser, {"width": 1280, "height": 720})
    start_console(med, server, sid)  # the judge is in and has started: the session is live

    kiosk = kiosk_page(browser, LANDSCAPE)
    kiosk_login(kiosk, server, fresh["terminal"]["device_key"])
    item = kiosk.locator(f'[data-testid=terminal-item][data-session-id="{sid}"]')
    item.wait_for()
    assert item.get_attribute("data-status") == "live"
    assert item.get_by_test_id("terminal-live-badge").inner_text().strip() == "● 进行中"
    assert (
        kiosk.get_by_test_id("terminal-schedule-consent").inner_text()
        == "✔ 本终端已确认录音录像告知"
    )
    kiosk.screenshot(path=str(screenshots / "kiosk-schedule-live.png"))

    # One tap: straight into the lobby, no preview and no consent step.
    item.get_by_test_id("terminal-one-tap").click()
    kiosk.get_by_test_id("lobby").wait_for()
    assert (
        kiosk.get_by_test_id("consent").count() == 0 and kiosk.get_by_test_id("enter").count() == 0
    )
    assert "本终端已确认录音录像告知" in kiosk.get_by_test_id("terminal-consent-note").inner_text()
    pid_t = token_payload(fresh["terminal_link"])["pid"]
    pid_m = token_payload(fresh["mediator_link"])["pid"]
    admit(med, pid_t)  # the server admits only who consented: the one tap sent it
    kiosk.get_by_test_id("room").wait_for()
    kiosk.get_by_test_id("terminal-live-badge").wait_for()
    wait_until(lambda: remote_video_ok(kiosk, {pid_m}), 45, what="judge's video at the kiosk")

    # A reload (or a power cut): back in the live session on its own, no tap, no second admission.
    kiosk.reload()
    kiosk.get_by_test_id("room").wait_for(timeout=30000)
    assert kiosk.get_by_test_id("kiosk-home").count() == 0
    kiosk.get_by_test_id("terminal-live-badge").wait_for()
    wait_until(lambda: remote_video_ok(kiosk, {pid_m}), 45, what="judge's video after reload")
    assert decoded_frames(kiosk) > 0
    wait_until(lambda: remote_video_ok(med, {pid_t}), 45, what="kiosk's video at the judge")
    kiosk.screenshot(path=str(screenshots / "kiosk-room-after-reload.png"))

    # Leaving on purpose: home, and a reload stays home.
    assert kiosk.evaluate("() => localStorage.getItem('shared-court-terminal-live')") is not None
    kiosk.get_by_test_id("leave").click()
    kiosk.locator(".el-message-box:visible .el-button--primary").click()
    kiosk.get_by_test_id("kiosk-home").wait_for()
    assert kiosk.evaluate("() => localStorage.getItem('shared-court-terminal-live')") is None
    kiosk.reload()
    kiosk.get_by_test_id("kiosk-home").wait_for()
    kiosk.wait_for_timeout(1500)
    assert kiosk.get_by_test_id("room").count() == 0
    for p in (kiosk, med):
        p.context.close()
