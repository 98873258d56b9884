"""End-to-end tests of the web client in headless Chromium against a real server process."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import ROOT, Server, token_payload

pytestmark = pytest.mark.slow

DEAD_LINK = "链接已失效，请联系书记员"

# What arrived from each publisher on the page's peer connection: decoded video frames and
# audio samples from getStats() (web_client/src/lib/mediaFlow.ts). <video>.currentTime is no
# proof: it advances on a frozen tile.
RECEIVED = "async () => (window.__room ? await window.__room.received() : {})"

INBOUND_VIDEO = """
async () => {
  const pc = window.__room && window.__room.pc;
  if (!pc) return null;
  const out = [];
  (await pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp' && r.kind === 'video')
      out.push({id: r.trackIdentifier || r.id, frames: r.framesDecoded || 0});
  });
  return out;
}
"""


def wait_until(fn: Any, timeout: float = 30, interval: float = 0.5, what: str = "") -> Any:
    deadline = time.time() + timeout
    last: Any = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}: last={last!r}")


DIAG = """
async () => {
  const r = window.__room;
  if (!r) return 'no room client';
  const pc = r.pc;
  const st = r.state;
  const tr = pc ? pc.getTransceivers().map(t => [t.mid, t.direction, t.currentDirection,
      t.receiver.track && t.receiver.track.id, t.receiver.track && t.receiver.track.muted]) : null;
  return JSON.stringify({phase: st.phase, media: st.mediaState, sig: pc && pc.signalingState,
    ice: pc && pc.iceConnectionState, remote: Object.keys(st.remote),
    streams: Object.fromEntries(Object.entries(st.remote).map(([k, s]) => [k, s.getTracks().map(t => t.kind + ':' + t.readyState + ':' + t.muted)])),
    tr, answered: r.negotiator && r.negotiator.answered});
}
"""


def remote_video_ok(page: Any, expected: set[str], window_s: float = 1.2) -> Any:
    """Every expected publisher's decoded video frames rise within `window_s` on this page."""
    before = page.evaluate(RECEIVED) or {}
    time.sleep(window_s)
    after = page.evaluate(RECEIVED) or {}
    rising = {
        pid for pid, r in after.items() if r["video"] > before.get(pid, {}).get("video", 0)
    }
    return expected <= rising


def diag(page: Any) -> str:
    return f"received={page.evaluate(RECEIVED)} diag={page.evaluate(DIAG)}"


def decoded_frames(page: Any) -> int:
    stats = page.evaluate(INBOUND_VIDEO) or []
    return sum(s["frames"] for s in stats)


def enter_room(page: Any) -> None:
    page.get_by_test_id("consent").click()
    page.get_by_test_id("enter").click()


def new_page(browser: Any, **kw: Any) -> Any:
    ctx = browser.new_context(locale="zh-CN", **kw)
    page = ctx.new_page()
    page.set_default_timeout(20000)
    return page


def admit(med_page: Any, pid: str, reason: str | None = None) -> None:
    """The mediator admits a participant from the lobby list.

    The server runs its default configuration (identity check required): a verified party is
    admitted by the button alone (reason=None); for an unverified party the button opens a
    prompt, and the mediator's written reason is typed there and confirmed (准许进入)."""
    item = med_page.locator(f'[data-testid=lobby-item][data-pid="{pid}"]')
    item.wait_for()
    item.get_by_test_id("admit").click()
    if reason is not None:
        box = med_page.locator(".el-message-box:visible")
        # The prompt says why a reason is needed: the party's identity is not verified.
        assert "未核验身份" in box.inner_text(), box.inner_text()
        box.locator("input").fill(reason)
        confirm = box.locator(".el-message-box__btns .el-button--primary")
        assert confirm.inner_text().strip() == "准许进入"
        confirm.click()
        box.wait_for(state="hidden")
    item.wait_for(state="detached")


def test_mediation_end_to_end(server: Server, browser: Any, screenshots: Path) -> None:
    demo = server.demo
    party_a_link = demo["party_links"][0]["url"]
    party_b_link = demo["party_links"][1]["url"]
    pid_a = token_payload(party_a_link)["pid"]
    pid_b = token_payload(party_b_link)["pid"]
    pid_m = token_payload(demo["mediator_link"])["pid"]

    # Mediator: staff login, console, open today's session.
    med = new_page(browser, viewport={"width": 1366, "height": 900})
    med.goto(server.base_url + "/login")
    med.get_by_test_id("login-username").fill("judge")
    med.get_by_test_id("login-password").fill("demo-judge-2026")
    med.get_by_test_id("login-submit").click()
    med.wait_for_url("**/console")
    med.locator(f'[data-session-id="{demo["session_id"]}"]').get_by_test_id("open-session").click()
    med.get_by_test_id("preview-video").wait_for(state="visible")
    enter_room(med)
    med.get_by_test_id("mediator-panel").wait_for()
    med.get_by_test_id("start-session").click()
    med.get_by_test_id("session-started").wait_for()

    # Two parties open their links: who they are, preview, consent, lobby.
    parties = []
    for link, name in ((party_a_link, "张三"), (party_b_link, "某某物业服务有限公司")):
        page = new_page(browser, viewport={"width": 1280, "height": 860})
        page.goto(link)
        page.get_by_test_id("who-name").wait_for()
        assert page.get_by_test_id("who-name").inner_text() == name
        page.get_by_test_id("preview-video").wait_for(state="visible")
        wait_until(
            lambda p=page: p.evaluate(
                "() => document.querySelector('[data-testid=preview-video]').videoWidth > 0"
            ),
            what="local preview",
        )
        if not parties:
            page.wait_for_timeout(500)
            page.screenshot(path=str(screenshots / "join-page.png"), full_page=True)
        enter_room(page)
        page.get_by_test_id("lobby").wait_for()
        assert "等待调解员准许进入" in page.get_by_test_id("lobby").inner_text()
        parties.append(page)
    pa, pb = parties

    # The mediator admits both from the lobby.
    # Neither party's identity was checked: each is admitted with the mediator's written reason.
    for pid in (pid_a, pid_b):
        admit(med, pid, reason="测试：双方已由书记员电话核实身份")

    # Everyone sees the two others' video: playing, real size, time advancing, frames decoded.
    everyone = {pid_m: med, pid_a: pa, pid_b: pb}
    for page in everyone.values():
        wait_until(lambda p=page: p.locator("[data-testid=tile-remote]").count() == 2, what="tiles")
    pa.wait_for_timeout(2500)
    pa.screenshot(path=str(screenshots / "room.png"))
    med.screenshot(path=str(screenshots / "mediator-console.png"), full_page=True)
    docs = ROOT / "docs" / "screenshots"
    docs.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshots / "mediator-console.png", docs / "web-client-console.png")
    for me, page in everyone.items():
        page.get_by_test_id("room").wait_for()
        others = set(everyone) - {me}
        try:
            wait_until(
                lambda p=page, o=others: remote_video_ok(p, o), timeout=45, what=f"video at {me}"
            )
        except AssertionError as exc:
            all_diag = "\n".join(f"{k}: {diag(v)}" for k, v in everyone.items())
            raise AssertionError(f"{exc}\n{all_diag}") from None
        wait_until(lambda p=page: decoded_frames(p) > 0, what="decoded frames")
        stats = page.evaluate(INBOUND_VIDEO)
        assert len([s for s in stats if s["frames"] > 0]) >= 2, stats
        labels = page.locator("[data-testid=tile-remote] .tile-name").all_inner_texts()
        assert len(labels) == 2
    assert set(pa.locator("[data-testid=tile-remote] .tile-name").all_inner_texts()) == {
        "王法官",
        "某某物业服务有限公司",
    }

    # Chat reaches the others.
    pa.get_by_test_id("open-chat").click()
    pa.get_by_test_id("chat-input").fill("您好，我是申请人")
    pa.get_by_test_id("chat-send").click()
    med.get_by_test_id("open-chat").click()
    med.get_by_test_id("chat-list").get_by_text("您好，我是申请人").wait_for()

    # Caucus: mediator + party A; party B stays in the main room and sees/hears nobody.
    med.locator(f'[data-testid=caucus-pick][data-pid="{pid_a}"]').click()
    med.get_by_test_id("caucus-open").click()
    pa.get_by_test_id("caucus-banner").wait_for()
    assert "背靠背调解中" in pa.get_by_test_id("caucus-banner").inner_text()
    assert "王法官" in pa.get_by_test_id("caucus-banner").inner_text()
    pb.get_by_test_id("caucus-banner").wait_for()
    wait_until(lambda: pb.locator("[data-testid=tile-remote]").count() == 0, what="B sees nobody")
    wait_until(
        lambda: pa.locator("[data-testid=tile-remote]").count() == 1, what="A sees mediator only"
    )
    assert pa.locator(f'[data-testid=tile-remote][data-pid="{pid_b}"]').count() == 0
    assert med.locator(f'[data-testid=tile-remote][data-pid="{pid_b}"]').count() == 0
    # No media reaches B any more: its decoded frame count stops growing.
    pb.wait_for_timeout(1500)
    frames_before = decoded_frames(pb)
    pb.wait_for_timeout(2500)
    assert decoded_frames(pb) - frames_before < 5
    # A still receives the mediator's video.
    wait_until(lambda: remote_video_ok(pa, {pid_m}), what="A sees mediator in caucus")
    pa.screenshot(path=str(screenshots / "room-caucus.png"))

    # Everyone back to the main room.
    med.get_by_test_id("caucus-close").click()
    wait_until(lambda: pb.locator("[data-testid=tile-remote]").count() == 2, what="B sees all")
    wait_until(lambda: remote_video_ok(pb, {pid_a, pid_m}), timeout=45, what="B video after caucus")

    # End with an outcome; the parties are told.
    med.get_by_test_id("outcome-partial").click()
    # No agreement was drafted: a partial settlement says how it was reached.
    med.get_by_test_id("no-agreement-warning").wait_for()
    med.get_by_test_id("no-agreement-reason").fill("部分事项当场履行完毕")
    med.get_by_test_id("end-note").fill("双方就维修费用达成部分一致")
    med.get_by_test_id("end-session").click()
    med.locator(".el-message-box__btns .el-button--primary").click()
    for page in (pa, pb, med):
        page.get_by_test_id("ended").wait_for()
        assert "部分达成" in page.get_by_test_id("ended").inner_text()

    for page in (pa, pb, med):
        page.context.close()


def test_closed_session_link_says_so(server: Server, browser: Any) -> None:
    # The end-to-end test (run before this one) ended the demo session: its links answer 410
    # session_closed. The terminal is told the session is over; a party is led to the record.
    page = new_page(browser)
    api = page.context.request
    r = api.post(
        server.base_url + "/api/auth/login",
        data={"username": "clerk", "password": "demo-clerk-2026"},
    )
    assert r.ok, r.text()
    session = api.get(f"{server.base_url}/api/sessions/{server.demo['session_id']}").json()
    if session["status"] != "ended":
        pytest.skip("needs the session ended by test_mediation_end_to_end")
    assert api.get(server.demo["terminal_link"].replace("/join/", "/api/join/")).status == 410
    page.goto(server.demo["terminal_link"])
    page.get_by_test_id("error-panel").wait_for()
    assert "本次调解已结束" in page.get_by_test_id("error-panel").inner_text()
    page.goto(server.demo["party_links"][0]["url"])
    page.get_by_test_id("record-text").wait_for()
    assert "调解笔录核对" in page.get_by_test_id("record-review").inner_text()
    page.get_by_test_id("record-confirm").wait_for()
    page.context.close()


def test_join_page_phone_viewport(
    server: Server, browser: Any, screenshots: Path, fresh: dict[str, Any]
) -> None:
    link = fresh["terminal_link"]
    ctx = browser.new_context(
        locale="zh-CN",
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = ctx.new_page()
    page.goto(link)
    page.get_by_test_id("who-name").wait_for()
    page.get_by_test_id("preview-video").wait_for(state="visible")
    page.wait_for_timeout(600)
    # Nothing wider than the phone; the main button is a comfortable touch target.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    box = page.get_by_test_id("enter").bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 200
    assert (
        page.get_by_test_id("consent").is_visible() or page.get_by_test_id("consent").count() == 1
    )
    page.screenshot(path=str(screenshots / "join-page-phone.png"), full_page=True)
    # The English switch works and the court's language is the default.
    assert "加入在线调解" in page.content()
    page.get_by_test_id("locale-switch").click()
    page.get_by_text("Join online mediation").wait_for()
    ctx.close()


def test_revoked_and_invalid_links_show_chinese_error(
    server: Server, browser: Any, fresh: dict[str, Any]
) -> None:
    link = fresh["terminal_link"]
    invite_id = token_payload(link)["inv"]
    ctx = browser.new_context(locale="zh-CN")
    api = ctx.request
    r = api.post(
        server.base_url + "/api/auth/login",
        data={"username": "clerk", "password": "demo-clerk-2026"},
    )
    assert r.ok, r.text()
    csrf = r.json()["csrf_token"]
    r = api.post(
        f"{server.base_url}/api/invites/{invite_id}/revoke", headers={"X-CSRF-Token": csrf}
    )
    assert r.ok, r.text()

    page = ctx.new_page()
    page.goto(link)
    page.get_by_test_id("error-panel").wait_for()
    assert DEAD_LINK in page.get_by_test_id("error-panel").inner_text()

    page.goto(server.base_url + "/join/join.not-a-real-token.x")
    page.get_by_test_id("error-panel").wait_for()
    assert DEAD_LINK in page.get_by_test_id("error-panel").inner_text()
    ctx.close()


def test_server_unreachable_is_actionable(server: Server, browser: Any) -> None:
    ctx = browser.new_context(locale="zh-CN")
    page = ctx.new_page()
    page.route("**/api/join/**", lambda route: route.abort("connectionrefused"))
    page.goto(server.demo["party_links"][0]["url"])
    page.get_by_test_id("error-panel").wait_for()
    text = page.get_by_test_id("error-panel").inner_text()
    assert "无法连接调解服务器" in text and "重试" in text
    ctx.close()


def test_the_next_party_takes_over_the_m_lines_of_one_who_left(
    server: Server, browser: Any, fresh: dict[str, Any]
) -> None:
    """aiortc cannot remove an m-line, so the server forwards a newcomer's tracks on the
    m-lines a leaver's tracks had. Chromium must then decode the newcomer on them (a new SSRC
    on an old m-line) and the page must name the tile after the newcomer, not the leaver."""
    link_a, link_b = (p["url"] for p in fresh["party_links"][:2])
    pid_a, pid_b = token_payload(link_a)["pid"], token_payload(link_b)["pid"]
    from tests.web.test_web_agreement import start_console

    med = new_page(browser, viewport={"width": 1366, "height": 900})
    start_console(med, server, fresh["session_id"])
    transceivers = "() => window.__room.pc.getTransceivers().length"

    def join(link: str, pid: str) -> Any:
        page = new_page(browser, viewport={"width": 1280, "height": 860})
        page.goto(link)
        page.get_by_test_id("preview-video").wait_for(state="visible")
        enter_room(page)
        page.get_by_test_id("lobby").wait_for()
        admit(med, pid, reason="测试：书记员电话核实身份")
        wait_until(lambda: remote_video_ok(med, {pid}), timeout=45,
                   what=f"judge decodes {pid}")
        return page

    pa = join(link_a, pid_a)
    lines_with_a = med.evaluate(transceivers)
    pa.context.close()
    # A's seat is kept for the reconnect grace, its tracks end now: the judge's m-lines that
    # carried A go inactive.
    receiving = (
        "() => window.__room.pc.getTransceivers()"
        ".filter(t => t.currentDirection === 'recvonly').length"
    )
    wait_until(lambda: med.evaluate(receiving) == 0, what="A's m-lines inactive")
    pb = join(link_b, pid_b)
    assert med.evaluate(transceivers) == lines_with_a, diag(med)
    assert not remote_video_ok(med, {pid_a})  # nothing of B's is counted as A's
    tile = med.locator(f'[data-testid=tile-remote][data-pid="{pid_b}"]')
    assert tile.locator(".tile-name").inner_text() == "某某物业服务有限公司"
    for page in (pb, med):
        page.context.close()
