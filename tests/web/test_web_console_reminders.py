"""What the judge's console says before it is too late (#15): a party admitted while nothing
is recorded is flagged until the recording runs."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import Server, token_payload
from tests.web.test_web_agreement import staff_login
from tests.web.test_web_client import admit, enter_room, new_page


def test_admitted_party_without_recording_is_flagged(
    server: Server, browser: Any, fresh: dict[str, Any]
) -> None:
    link = fresh["party_links"][0]["url"]
    pid_a = token_payload(link)["pid"]
    med = new_page(browser, viewport={"width": 1366, "height": 768})
    staff_login(med, server, "judge", "demo-judge-2026", "/console")
    med.goto(f"{server.base_url}/console/{fresh['session_id']}")
    med.get_by_test_id("preview-video").wait_for(state="visible")
    enter_room(med)
    med.get_by_test_id("mediator-panel").wait_for()
    reminder = med.get_by_test_id("not-recording-reminder")
    # Only the judge in the room: nothing to warn about yet.
    assert reminder.count() == 0
    party = new_page(browser, viewport={"width": 1280, "height": 860})
    party.goto(link)
    enter_room(party)
    party.get_by_test_id("lobby").wait_for()
    # Admitted before the session was started: nothing is being recorded, and the judge is told.
    admit(med, pid_a, reason="测试：书记员电话核实身份")
    reminder.wait_for(timeout=20000)
    assert "尚未开始录制" in reminder.inner_text()
    med.get_by_test_id("start-session").click()
    med.get_by_test_id("recording-indicator").wait_for(timeout=20000)
    reminder.wait_for(state="hidden", timeout=10000)
    for page in (party, med):
        page.context.close()


def test_session_list_shows_who_waits(
    server: Server, browser: Any, fresh: dict[str, Any]
) -> None:
    """"N 人等候" on the console's list: the judge sees from the list which room has people
    waiting, and the count follows the lobby without a reload."""
    link = fresh["party_links"][0]["url"]
    med = new_page(browser, viewport={"width": 1366, "height": 768})
    staff_login(med, server, "judge", "demo-judge-2026", "/console")
    row = med.locator(f"[data-session-id='{fresh['session_id']}']")
    row.wait_for()
    assert row.get_by_test_id("session-waiting").count() == 0
    party = new_page(browser, viewport={"width": 1280, "height": 860})
    party.goto(link)
    enter_room(party)
    party.get_by_test_id("lobby").wait_for()
    badge = row.get_by_test_id("session-waiting")
    # The list asks again every 15 s; no reload.
    badge.wait_for(timeout=40000)
    assert badge.get_attribute("data-waiting") == "1"
    assert "1 人等候" in badge.inner_text()
    # The party gives up and closes the page: the badge goes.
    party.context.close()
    badge.wait_for(state="detached", timeout=40000)
    med.context.close()
