"""The village terminal in the live room, default configuration: admitted, then its kiosk page
reloads (or the officer restarts the browser); the judge and the terminal keep receiving each
other within the media invariant's 3 s, proved by decoded frames and audio samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import Server, token_payload
from tests.web.scenario import Member, RoomModel, assert_media, settle
from tests.web.test_web_agreement import start_console
from tests.web.test_web_client import admit, enter_room, new_page

pytestmark = pytest.mark.slow


def test_terminal_reload_keeps_media_both_ways(
    server: Server, browser: Any, screenshots: Path, fresh: dict[str, Any]
) -> None:
    med = new_page(browser, viewport={"width": 1280, "height": 720})
    start_console(med, server, fresh["session_id"])
    kiosk = new_page(browser, viewport={"width": 1280, "height": 720})
    kiosk.goto(fresh["terminal_link"])
    kiosk.get_by_test_id("who-name").wait_for()
    enter_room(kiosk)
    kiosk.get_by_test_id("lobby").wait_for()
    pid_t = token_payload(fresh["terminal_link"])["pid"]
    # The terminal is not a party: no identity check applies to the device itself.
    admit(med, pid_t)
    kiosk.get_by_test_id("room").wait_for()
    model = RoomModel({
        "judge": Member("judge", token_payload(fresh["mediator_link"])["pid"], med, "admitted"),
        "terminal": Member("terminal", pid_t, kiosk, "admitted"),
    })
    settle(model, "terminal-admitted", connected=True)
    assert_media(model, "terminal-admitted")

    for n in range(2):
        kiosk.reload()
        kiosk.get_by_test_id("who-name").wait_for()
        enter_room(kiosk)
        kiosk.get_by_test_id("room").wait_for()  # straight back in: no second admission
        settle(model, f"terminal-reload-{n + 1}", connected=True)
        assert_media(model, f"terminal-reload-{n + 1}")
    kiosk.screenshot(path=str(screenshots / "terminal-after-reload.png"))
