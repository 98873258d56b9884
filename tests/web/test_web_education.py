"""普法 playlists in the browser: the clerk adds an image and a video on /clerk/education,
reorders and removes items; at the village terminal (kiosk size, sessions listed) a one-video
playlist keeps playing past its end and the player is on screen without scrolling."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from server.demo import DEMO_USERS, demo_clip, demo_png
from tests.web.conftest import Server
from tests.web.test_web_agreement import staff_login
from tests.web.test_web_client import new_page, wait_until

pytestmark = pytest.mark.slow

KIOSK = {"width": 1280, "height": 900}
LOOP_VIDEO = "循环测试视频"
POSTER = "测试海报"

# Events of the kiosk's <video>, counted from now on (the element of a one-item playlist stays).
WATCH_VIDEO = """
() => {
  const v = document.querySelector('[data-testid=edu-video]');
  if (!v) return false;
  window.__edu = {seeked: 0, ended: 0, play: 0, times: [], v};
  for (const e of ['seeked', 'ended', 'play']) v.addEventListener(e, () => window.__edu[e]++);
  window.__eduTimer = setInterval(() => window.__edu.times.push(v.currentTime), 100);
  return true;
}
"""

VIDEO_STATE = """
() => {
  const w = window.__edu, v = document.querySelector('[data-testid=edu-video]');
  const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {totalVideoFrames: -1};
  const t = w.times;
  let wraps = 0;
  for (let i = 1; i < t.length; i++) if (t[i] + 0.3 < t[i - 1]) wraps++;
  return {same: v === w.v, loop: v.loop, paused: v.paused, ended: v.ended, error: !!v.error,
    readyState: v.readyState, width: v.videoWidth, duration: v.duration,
    seeked: w.seeked, endedCount: w.ended, play: w.play, wraps, samples: t.length,
    frames: q.totalVideoFrames, playedEnd: v.played.length ? v.played.end(v.played.length - 1) : 0};
}
"""

ON_SCREEN = """
(sel) => {
  const el = document.querySelector(sel);
  if (!el) return null;
  const r = el.getBoundingClientRect();
  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height,
    vh: window.innerHeight, vw: window.innerWidth, scrollY: window.scrollY};
}
"""


def rows(page: Any) -> list[str]:
    return [
        t.strip() for t in page.get_by_test_id("edu-item-title").all_inner_texts()
    ]


def row(page: Any, title: str) -> Any:
    return page.get_by_test_id("edu-item-row").filter(
        has=page.get_by_test_id("edu-item-title").get_by_text(title, exact=True)
    )


def remove(page: Any, title: str) -> None:
    before = len(rows(page))
    row(page, title).get_by_test_id("edu-item-remove").click()
    box = page.locator(".el-message-box:visible")
    box.wait_for()
    box.locator(".el-message-box__btns .el-button--primary").click()
    box.wait_for(state="hidden")
    wait_until(lambda: len(rows(page)) == before - 1, 15, what=f"{title} removed")
    assert title not in rows(page)


def test_clerk_builds_a_playlist_and_the_kiosk_loops_it(
    server: Server, browser: Any, screenshots: Path, tmp_path: Path
) -> None:
    poster = tmp_path / "poster.png"
    poster.write_bytes(demo_png(320, 180))
    clip = tmp_path / "clip.webm"
    clip.write_bytes(demo_clip(seconds=1.5, fps=10))

    admin = new_page(browser, viewport={"width": 1366, "height": 900})
    staff_login(admin, server, "clerk", DEMO_USERS["clerk"][2], "/clerk")
    admin.goto(server.base_url + "/clerk/education")
    admin.get_by_test_id("edu-admin").wait_for()
    # the demo seeds a short playlist: a clip, a poster and an article
    wait_until(lambda: len(rows(admin)) == 3, 15, what="seeded playlist")
    seeded = rows(admin)
    assert [r.get_attribute("data-kind") for r in admin.get_by_test_id("edu-item-row").all()] == [
        "video",
        "image",
        "article",
    ]

    # add an image, then a video (the kind follows the file chosen)
    admin.get_by_test_id("edu-file").set_input_files(str(poster))
    admin.get_by_test_id("edu-title").fill(POSTER)
    admin.get_by_test_id("edu-add-submit").click()
    wait_until(lambda: POSTER in rows(admin), 20, what="image added")
    admin.get_by_test_id("edu-file").set_input_files(str(clip))
    admin.get_by_test_id("edu-title").fill(LOOP_VIDEO)
    admin.get_by_test_id("edu-add-submit").click()
    wait_until(lambda: LOOP_VIDEO in rows(admin), 20, what="video added")
    assert rows(admin) == [*seeded, POSTER, LOOP_VIDEO]
    assert row(admin, POSTER).get_attribute("data-kind") == "image"
    assert row(admin, LOOP_VIDEO).get_attribute("data-kind") == "video"
    assert "image/png" in row(admin, POSTER).inner_text()
    assert "video/webm" in row(admin, LOOP_VIDEO).inner_text()

    # reorder: the video moves up past the poster, then to the top
    row(admin, LOOP_VIDEO).get_by_test_id("edu-item-up").click()
    wait_until(lambda: rows(admin) == [*seeded, LOOP_VIDEO, POSTER], 15, what="moved up")
    for want in (2, 1, 0):
        row(admin, LOOP_VIDEO).get_by_test_id("edu-item-up").click()
        wait_until(
            lambda want=want: rows(admin).index(LOOP_VIDEO) == want, 15, what=f"at {want}"
        )
    wait_until(lambda: rows(admin)[0] == LOOP_VIDEO, 15, what="video on top")
    assert row(admin, LOOP_VIDEO).get_by_test_id("edu-item-up").is_disabled()
    admin.reload()  # the order is the server's
    admin.get_by_test_id("edu-admin").wait_for()
    wait_until(lambda: rows(admin) == [LOOP_VIDEO, *seeded, POSTER], 15, what="order kept")

    # edit: a new title and seconds on screen for the poster
    row(admin, POSTER).get_by_test_id("edu-item-edit").click()
    admin.get_by_test_id("edu-edit").wait_for()
    admin.get_by_test_id("edu-edit-title").fill(POSTER + "（新）")
    admin.locator(
        "[data-testid=edu-edit-seconds] input, input[data-testid=edu-edit-seconds]"
    ).fill("12")
    admin.get_by_test_id("edu-edit-save").click()
    wait_until(lambda: POSTER + "（新）" in rows(admin), 15, what="edited")
    assert "12" in row(admin, POSTER + "（新）").inner_text()

    # remove: the poster, then everything but the looping video
    remove(admin, POSTER + "（新）")
    for title in seeded:
        remove(admin, title)
    assert rows(admin) == [LOOP_VIDEO]
    admin.screenshot(path=str(screenshots / "education-admin.png"))

    # the kiosk: a few sessions listed, the one-video playlist beside them
    for _ in range(2):
        demo = server.fresh_session()  # each run schedules one more session (and a new key)
    kiosk = new_page(browser, viewport=KIOSK)
    kiosk.goto(server.base_url + "/terminal")
    kiosk.get_by_test_id("terminal-key").fill(demo["terminal"]["device_key"])
    kiosk.get_by_test_id("terminal-setup").locator("button[type=submit]").click()
    wait_until(lambda: kiosk.get_by_test_id("terminal-item").count() >= 3, 20, what="sessions")
    kiosk.get_by_test_id("edu-video").wait_for()
    assert kiosk.get_by_test_id("education-title").inner_text().strip() == LOOP_VIDEO
    assert kiosk.get_by_test_id("edu-position").inner_text().strip() == "1/1"
    assert kiosk.get_by_test_id("edu-next").count() == 0

    # on screen without scrolling, the whole player and the sessions' first entry
    kiosk.wait_for_function(
        "() => { const v = document.querySelector('[data-testid=edu-video]');"
        " return v && v.readyState >= 2 && v.videoWidth > 0; }"
    )
    for sel in ("[data-testid=education]", "[data-testid=edu-video]", "[data-testid=terminal-item]"):
        box = kiosk.evaluate(ON_SCREEN, sel)
        assert box and box["scrollY"] == 0, (sel, box)
        assert 0 <= box["top"] and box["bottom"] <= box["vh"] and box["right"] <= box["vw"], (
            sel,
            box,
        )
        assert box["height"] > 50, (sel, box)
    kiosk.screenshot(path=str(screenshots / "education-kiosk.png"))

    # it plays past its end: looping, seeking back to the start, frames still decoded
    assert kiosk.evaluate(WATCH_VIDEO)
    first = kiosk.evaluate(VIDEO_STATE)
    assert first["loop"] and 1.0 < first["duration"] < 3.0, first

    def looped() -> Any:
        s = kiosk.evaluate(VIDEO_STATE)
        return s if s["seeked"] >= 2 and s["wraps"] >= 2 else None

    state = wait_until(looped, 20, 0.5, what="the video loops")
    assert state["same"] and not state["paused"] and not state["ended"], state
    assert not state["error"] and state["width"] > 0, state
    assert state["frames"] > first["frames"] > 0 or first["frames"] == -1, (first, state)
    # still playing a moment later (not stopped on its last frame)
    time.sleep(1.0)
    later = kiosk.evaluate(VIDEO_STATE)
    assert not later["paused"] and not later["ended"] and later["samples"] > state["samples"]
    assert later["frames"] > state["frames"] or later["frames"] == -1, (state, later)
    assert kiosk.get_by_test_id("education-title").inner_text().strip() == LOOP_VIDEO
