"""The live room in English, on a PC whose clock zone is not the court's (issue #15).

"English: roles (申请人, 法官, 庭务主任) and some headings stay Chinese"; "all times are entered
and shown in the court's timezone, whatever the PC's clock zone". The judge (console room at
1366×768) and a party each pick English with the language switch, in browsers set to UTC; the
court's zone is Asia/Kolkata (UTC+5:30: neither the browser's zone nor the old fixed UTC+8).
Every role label in the tiles, the lists, the identity check, the chat and the caucus banner is
English, and the times the room shows (the identity still, the party's record review) are the
court's wall clock. Media is proven by getStats() (decoded frames rising).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.web.conftest import Server, token_payload
from tests.web.test_web_agreement import VALID_ID, start_console
from tests.web.test_web_client import admit, diag, enter_room, remote_video_ok, wait_until

pytestmark = pytest.mark.slow

COURT_ZONE = "Asia/Kolkata"
# CJK ideographs, CJK punctuation (、。) and full-width forms (（）：).
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
# formatCourtTime in English: "12/03, 00:15".
SHOWN_TIME = re.compile(r"(\d{2})/(\d{2}),? (\d{2}):(\d{2})")


def english_page(browser: Any, **kw: Any) -> Any:
    """A browser on a PC set to UTC; the page's language is chosen later, with the switch."""
    ctx = browser.new_context(locale="en-US", timezone_id="UTC", **kw)
    page = ctx.new_page()
    page.set_default_timeout(20000)
    return page


def switch_to_english(page: Any, english_text: str) -> None:
    # The court's language is the default whatever the browser says: one tap on the switch.
    page.get_by_test_id("locale-switch").click()
    page.get_by_text(english_text).first.wait_for()
    assert page.evaluate("() => localStorage.getItem('locale')") == "en"


def set_court_zone(browser: Any, server: Server, zone: str) -> None:
    ctx = browser.new_context()
    r = ctx.request.post(
        server.base_url + "/api/auth/login",
        data={"username": "admin", "password": "demo-admin-2026"},
    )
    assert r.ok, r.text()
    me = r.json()
    r = ctx.request.patch(
        f"{server.base_url}/api/courts/{me['court']['id']}",
        data={"timezone": zone},
        headers={"X-CSRF-Token": me["csrf_token"]},
    )
    assert r.ok, r.text()
    assert r.json()["timezone"] == zone
    ctx.close()


def court_time_shown(text: str) -> datetime:
    """The first "MM/DD, HH:MM" of a text, read as the court's wall clock."""
    m = SHOWN_TIME.search(text)
    assert m, text
    month, day, hour, minute = (int(g) for g in m.groups())
    zone = ZoneInfo(COURT_ZONE)
    now = datetime.now(zone)
    return datetime(now.year, month, day, hour, minute, tzinfo=zone)


def assert_court_now(text: str) -> None:
    """The text shows the court's time of about now (not UTC's, nor Shanghai's)."""
    shown = court_time_shown(text)
    off = abs(shown - datetime.now(ZoneInfo(COURT_ZONE)))
    assert off < timedelta(minutes=3), f"{text!r}: {off} from the court's time now"


def assert_english_roles(labels: list[str], what: str) -> None:
    assert labels, f"no role labels in {what}"
    for label in labels:
        assert label.strip(), f"an empty role label in {what}: {labels}"
        assert not CJK.search(label), f"Chinese in a role label of {what}: {labels}"


def tile_roles(page: Any) -> dict[str, str]:
    """Each tile's role label: 'me' for the own tile, the participant id for the others."""
    out: dict[str, str] = {}
    for tile in page.locator("[data-testid=video-grid] .tile").all():
        key = "me" if tile.get_attribute("data-testid") == "tile-local" else tile.get_attribute("data-pid")
        out[str(key)] = tile.locator(".tile-role").inner_text().strip()
    return out


def test_english_room_roles_and_court_times(
    server: Server, browser: Any, screenshots: Path
) -> None:
    set_court_zone(browser, server, COURT_ZONE)
    demo = server.demo
    sid = demo["session_id"]
    link = demo["party_links"][0]["url"]
    pid_a = token_payload(link)["pid"]
    pid_m = token_payload(demo["mediator_link"])["pid"]

    # The judge: English on the login page, then the console room at 1366×768.
    med = english_page(browser, viewport={"width": 1366, "height": 768})
    med.goto(server.base_url + "/login")
    switch_to_english(med, "Staff login")
    start_console(med, server, sid)  # the choice is kept across the login

    # The party (申请人 张三): English on the join page, into the lobby, enters the ID number.
    pa = english_page(browser, viewport={"width": 1280, "height": 800})
    pa.goto(link)
    pa.get_by_test_id("who-name").wait_for()
    switch_to_english(pa, "Join online mediation")
    enter_room(pa)
    pa.get_by_test_id("lobby").wait_for()
    pa.get_by_test_id("identity-number").fill(VALID_ID)
    pa.get_by_test_id("identity-submit").click()
    pa.locator('[data-testid=identity-status][data-verified="no"]').wait_for()

    # The judge's lobby list names the party's role in English.
    item = med.locator(f'[data-testid=lobby-item][data-pid="{pid_a}"]')
    item.wait_for()
    assert item.locator(".person-role").inner_text().strip() == "(Applicant)"
    assert_english_roles(item.locator(".person-role").all_inner_texts(), "the lobby list")

    # The identity check: the party is told who checks (the judge, in English), the judge's
    # dialog shows the party's tile with its English role, and the still's time is the court's.
    item.get_by_test_id("identity-check").click()
    notice = pa.get_by_test_id("identity-check-notice")
    notice.wait_for()
    assert "(Judge)" in notice.inner_text(), notice.inner_text()
    assert "（法官）" not in notice.inner_text()
    dialog = med.get_by_test_id("identity-dialog")
    wait_until(lambda: remote_video_ok(med, {pid_a}), timeout=30, what="the party's camera in the check")
    assert_english_roles(dialog.locator(".tile-role").all_inner_texts(), "the identity check")
    assert dialog.locator(".tile-role").inner_text().strip() == "Applicant"
    med.get_by_test_id("identity-still").click()
    still = med.get_by_test_id("check-still")
    still.wait_for()
    wait_until(lambda: SHOWN_TIME.search(still.inner_text()), what="the still's time")
    assert_court_now(still.inner_text())
    med.get_by_test_id("identity-verify").click()
    item.locator('[data-testid=lobby-identity][data-verified="yes"]').wait_for()
    med.get_by_test_id("identity-close").click()
    admit(med, pid_a)
    pa.get_by_test_id("room").wait_for()

    # In the room: each sees the other's video, and every tile's role label is English.
    for page, other in ((med, pid_a), (pa, pid_m)):
        wait_until(
            lambda p=page: p.locator("[data-testid=tile-remote]").count() == 1, what="one remote tile"
        )
        try:
            wait_until(lambda p=page, o=other: remote_video_ok(p, {o}), timeout=45, what="video")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{diag(page)}") from None
    assert tile_roles(med) == {"me": "Judge", pid_a: "Applicant"}, tile_roles(med)
    assert tile_roles(pa) == {"me": "Applicant", pid_m: "Judge"}, tile_roles(pa)
    for page, who in ((med, "judge"), (pa, "party")):
        assert_english_roles(page.locator(".tile-role").all_inner_texts(), f"the {who}'s tiles")
    people = med.get_by_test_id("participant-list")
    assert_english_roles(people.locator(".person-role").all_inner_texts(), "the participant list")
    assert people.locator(".person-role").inner_text().strip() == "(Applicant)"
    picks = med.get_by_test_id("caucus-pick").all_inner_texts()
    assert picks and all(p.endswith("(Applicant)") and "（" not in p for p in picks), picks

    # Chat: the sender's role in English.
    pa.get_by_test_id("open-chat").click()
    pa.get_by_test_id("chat-input").fill("Hello from the applicant")
    pa.get_by_test_id("chat-send").click()
    med.get_by_test_id("open-chat").click()
    med.get_by_test_id("chat-list").get_by_text("Hello from the applicant").wait_for()
    meta = med.locator("[data-testid=chat-list] .chat-meta").all_inner_texts()
    assert meta and all(m.endswith(" · Applicant") for m in meta), meta
    med.screenshot(path=str(screenshots / "room-english-1366x768.png"))

    # Caucus: the banner names the others with their roles in English.
    med.locator(f'[data-testid=caucus-pick][data-pid="{pid_a}"]').click()
    med.get_by_test_id("caucus-open").click()
    banner = pa.get_by_test_id("caucus-banner")
    banner.wait_for()
    assert "(Judge)" in banner.inner_text() and "（" not in banner.inner_text(), banner.inner_text()
    med.get_by_test_id("caucus-banner").wait_for()
    assert "(Applicant)" in med.get_by_test_id("caucus-banner").inner_text()
    med.get_by_test_id("caucus-close").click()
    banner.wait_for(state="detached")

    # The end; the party reviews the record: the time of the confirmation is the court's.
    med.get_by_test_id("outcome-failed").click()
    med.get_by_test_id("end-session").click()
    med.locator(".el-message-box__btns .el-button--primary").click()
    pa.get_by_test_id("ended").wait_for()
    pa.get_by_test_id("review-record").click()
    pa.get_by_test_id("record-review").wait_for()
    pa.get_by_test_id("record-confirm").click()
    state = pa.locator('[data-testid=review-state][data-state="confirmed"]')
    state.wait_for()
    assert "You confirmed the record" in state.inner_text()
    assert_court_now(state.inner_text())

    for page in (med, pa):
        page.context.close()
