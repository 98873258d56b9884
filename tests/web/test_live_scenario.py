"""A live mediation walked end to end in headless Chromium against one real server process with
its DEFAULT configuration (identity check required), which the test restarts (SIGTERM, SIGKILL).

Contexts: the judge's console (1366x768) and two parties on phones (360x740, touch). The village
terminal is left out: a fourth Chromium with a fake camera costs more than the 2-core CI machine
has to spare, and the terminal has its own test (test_web_agreement.py).

The steps are ordered tests sharing one room (run them together, in file order). At every step
the media invariant (tests/web/scenario.py) is checked for every ordered (viewer, sender) pair,
from the room rules: admitted + same group => video frames and audio samples increase within
3 s; lobby or another caucus group => nothing increases. Screenshots of every context at every
step: test-output/screenshots/scenario-<step>-<who>.png; the server's log (all its runs):
test-output/live-scenario-server.log.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.web.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    SCREENSHOTS,
    _cli,
    _free_port,
    _seed_demo,
    require_browser,
    token_payload,
)
from tests.web.scenario import (
    MAIN,
    ErrorWatch,
    LiveServer,
    Member,
    RoomModel,
    assert_media,
    clean_env,
    describe_pages,
    page_state,
    settle,
    visible_errors,
    wait_for,
)
from tests.web.test_web_client import admit

pytestmark = pytest.mark.slow

LOG_PATH = ROOT / "test-output" / "live-scenario-server.log"
VALID_ID = "11010519491231002x"  # GB 11643's own example, typed with a lower-case x
MASKED_ID = "1101**********002X"
OVERRIDE_REASON = "当事人身份证遗失，已由书记员电话核实身份"
SETTLE_S = 20.0
# Texts of the network-failure case (this device offline) that must not show when the server
# went away while the device stayed online.
NETWORK_FAILURE_TEXTS = ("网络中断", "无法连接调解服务器")


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require_browser()
    data_dir = tmp_path_factory.mktemp("live-scenario")
    port = _free_port()
    # The server's defaults: no SHARED_COURT_* setting but loopback media (and, as flags, the
    # data dir and the port).
    env = clean_env(
        SHARED_COURT_ICE_ADDRESSES=os.environ.get("SHARED_COURT_ICE_ADDRESSES", "127.0.0.1")
    )
    shown = subprocess.run(
        [*_cli(), "config", "--show", "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    effective = json.loads(shown[shown.index("{") :])
    assert effective["identity_check_required"] is True, effective
    LOG_PATH.parent.mkdir(parents=True, exist_ok=True)
    LOG_PATH.write_text("")
    server = LiveServer(_cli(), data_dir, port, LOG_PATH, env)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def sc(live: LiveServer) -> Iterator[Scenario]:
    from playwright.sync_api import sync_playwright

    demo = _seed_demo(live.data_dir, live.base_url)
    with sync_playwright() as p:
        # Three fake cameras, so a party can switch cameras in the room (fake_device_1 is a
        # Y16 depth camera that WebRTC cannot encode; fake_device_2 is an ordinary one).
        args = [
            "--use-fake-device-for-media-stream=device-count=3"
            if a == "--use-fake-device-for-media-stream" else a
            for a in CHROMIUM_ARGS
        ]
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            watch = ErrorWatch()
            members: dict[str, Member] = {}
            specs = (
                ("judge", demo["mediator_link"], {"viewport": {"width": 1366, "height": 768}}),
                ("A", demo["party_links"][0]["url"], PHONE),
                ("B", demo["party_links"][1]["url"], PHONE),
            )
            for name, link, kw in specs:
                ctx = browser.new_context(locale="zh-CN", **kw)
                page = ctx.new_page()
                page.set_default_timeout(20000)
                watch.attach(name, page)
                members[name] = Member(name, token_payload(link)["pid"], page)
            yield Scenario(live, demo, RoomModel(members), watch)
        finally:
            browser.close()


PHONE: dict[str, Any] = {
    "viewport": {"width": 360, "height": 740},
    "is_mobile": True,
    "has_touch": True,
}


class Scenario:
    def __init__(
        self, server: LiveServer, demo: dict[str, Any], model: RoomModel, watch: ErrorWatch
    ) -> None:
        self.server = server
        self.demo = demo
        self.model = model
        self.watch = watch
        self.failed: list[str] = []
        self.timings: list[str] = []
        self.links = {
            "A": demo["party_links"][0]["url"],
            "B": demo["party_links"][1]["url"],
        }
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for old in SCREENSHOTS.glob("scenario-*.png"):  # a previous run's, failures included
            old.unlink()

    def m(self, name: str) -> Member:
        return self.model.members[name]

    def page(self, name: str) -> Any:
        return self.model.members[name].page

    @property
    def judge(self) -> Any:
        return self.page("judge")

    def shoot(self, step: str) -> None:
        for name, member in self.model.members.items():
            try:
                member.page.screenshot(path=str(SCREENSHOTS / f"scenario-{step}-{name}.png"))
            except Exception as exc:  # a crashed or navigating page must not hide the failure
                print(f"[scenario] screenshot {step}-{name} failed: {exc}")

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self.failed:
            print(f"[scenario] {name}: runs after failed steps {self.failed}")
        self.watch.step = name
        mark = len(self.watch.seen)
        t0 = time.monotonic()
        try:
            yield
            errors = self.watch.since(mark)
            assert not errors, f"[{name}] error texts shown: " + "; ".join(
                f"{e.who}: {e.text}" for e in errors
            )
        except Exception as exc:
            self.failed.append(name)
            self.shoot(f"{name}-FAIL")
            trace = self.watch.recent_traces(time.monotonic() - t0 + 5)
            exc.add_note(f"client trace of step {name}:\n{trace}")
            raise
        finally:
            took = time.monotonic() - t0
            self.timings.append(f"{name}: {took:.1f} s")
            print(f"[scenario] {name}: {took:.1f} s")

    def check(self, label: str, *, connected: bool) -> None:
        """The bounded settle, then the 3 s media invariant, then screenshots."""
        took = settle(self.model, label, connected=connected, timeout=SETTLE_S)
        result = assert_media(self.model, label)
        print(
            f"[scenario] {label}: settled in {took:.1f} s, media checked in {result.elapsed:.1f} s"
        )
        self.shoot(label)


def enter(page: Any) -> None:
    page.get_by_test_id("consent").click()
    page.get_by_test_id("enter").click()


def judge_enters(page: Any, base_url: str, session_id: str) -> None:
    page.goto(f"{base_url}/console/{session_id}")
    page.get_by_test_id("preview-video").wait_for(state="visible")
    enter(page)
    page.get_by_test_id("mediator-panel").wait_for()


def party_reenters(page: Any) -> None:
    """After a reload: the join page asks for consent again, then the room."""
    page.get_by_test_id("who-name").wait_for()
    enter(page)


def message_box(page: Any) -> Any:
    box = page.locator(".el-message-box")
    box.wait_for()
    return box


# --- the steps ------------------------------------------------------------------------------


def test_01_judge_starts_session(sc: Scenario) -> None:
    with sc.step("01-start"):
        med = sc.judge
        med.goto(sc.server.base_url + "/login")
        med.get_by_test_id("login-username").fill("judge")
        med.get_by_test_id("login-password").fill("demo-judge-2026")
        med.get_by_test_id("login-submit").click()
        med.wait_for_url("**/console")
        judge_enters(med, sc.server.base_url, sc.demo["session_id"])
        sc.m("judge").presence = "admitted"
        med.get_by_test_id("start-session").click()
        med.get_by_test_id("session-started").wait_for()
        # The parties open their links (join page: who, preview, consent) but do not enter yet.
        for name in ("A", "B"):
            sc.page(name).goto(sc.links[name])
        for name in ("A", "B"):
            sc.page(name).get_by_test_id("who-name").wait_for()
        med.get_by_test_id("recording-indicator").wait_for(timeout=10000)
        sc.check("01-start", connected=True)


def test_02_party_a_identity_checked_and_admitted(sc: Scenario) -> None:
    with sc.step("02-admit-A"):
        med, pa, pb = sc.judge, sc.page("A"), sc.page("B")
        for name, page in (("A", pa), ("B", pb)):
            enter(page)
            page.get_by_test_id("lobby").wait_for()
            sc.m(name).presence = "lobby"
        pa.get_by_test_id("identity-number").fill(VALID_ID)
        pa.get_by_test_id("identity-submit").click()
        pa.locator('[data-testid=identity-status][data-verified="no"]').wait_for()
        item = med.locator(f'[data-testid=lobby-item][data-pid="{sc.m("A").pid}"]')
        item.wait_for()
        wait_for(
            lambda: MASKED_ID in item.get_by_test_id("lobby-identity").inner_text(),
            10,
            "the masked ID in the judge's lobby list",
        )
        item.get_by_test_id("identity-check").click()
        pa.get_by_test_id("identity-check-notice").wait_for()
        med.get_by_test_id("identity-dialog").wait_for()
        # The check view: A's camera reaches the judge only; A and B receive nobody.
        sc.model.checks = {"A": "judge"}
        sc.check("02a-check-A", connected=True)
        med.get_by_test_id("identity-verify").click()
        item.locator('[data-testid=lobby-identity][data-verified="yes"]').wait_for()
        pa.locator('[data-testid=identity-status][data-verified="yes"]').wait_for()
        med.get_by_test_id("identity-close").click()
        pa.get_by_test_id("identity-check-notice").wait_for(state="detached")
        sc.model.checks = {}
        admit(med, sc.m("A").pid)
        pa.get_by_test_id("room").wait_for()
        sc.m("A").presence = "admitted"
        sc.check("02-admit-A", connected=True)


def test_03_party_b_admitted_unverified_with_reason(sc: Scenario) -> None:
    with sc.step("03-admit-B"):
        med, pb = sc.judge, sc.page("B")
        item = med.locator(f'[data-testid=lobby-item][data-pid="{sc.m("B").pid}"]')
        assert item.locator('[data-testid=lobby-identity][data-verified="no"]').count() == 1
        # Unverified under the court's rules: admitting needs a written reason.
        admit(med, sc.m("B").pid, reason=OVERRIDE_REASON)
        pb.get_by_test_id("room").wait_for()
        sc.m("B").presence = "admitted"
        sc.check("03-admit-B", connected=True)


def test_04_party_a_reloads(sc: Scenario) -> None:
    with sc.step("04-reload-A"):
        pa = sc.page("A")
        pa.reload()
        party_reenters(pa)
        sc.check("04-reload-A", connected=True)
        assert sc.judge.get_by_test_id("mediator-panel").is_visible()


def test_05_judge_reloads_console(sc: Scenario) -> None:
    with sc.step("05-reload-judge"):
        med = sc.judge
        med.reload()
        med.get_by_test_id("preview-video").wait_for(state="visible")
        enter(med)
        med.get_by_test_id("mediator-panel").wait_for()
        sc.check("05-reload-judge", connected=True)
        assert med.get_by_test_id("mediator-panel").is_visible()
        # Still started: the console offers no second start.
        assert med.get_by_test_id("session-started").is_visible()
        assert med.get_by_test_id("start-session").count() == 0


LOCAL_CAMERA = """() => { const r = window.__room; const s = r && r.opts.localStream;
  const t = s && s.getVideoTracks()[0]; return t ? t.label + '|' + t.readyState : null; }"""


def test_05b_party_b_switches_camera(sc: Scenario) -> None:
    with sc.step("05b-switch-camera-B"):
        pb = sc.page("B")
        pb.get_by_test_id("open-devices").click()
        camera = pb.get_by_test_id("device-camera")
        camera.wait_for()
        wait_for(
            lambda: camera.locator("option", has_text="fake_device_2").count() == 1,
            10,
            "the cameras listed",
        )
        camera.select_option(label="fake_device_2")
        wait_for(
            lambda: pb.evaluate(LOCAL_CAMERA) == "fake_device_2|live", 10, "B's new camera"
        )
        # The judge and A go on receiving B, now from the other camera, without a reload.
        sc.check("05b-switch-camera-B", connected=False)
        pb.get_by_test_id("open-devices").click()


def test_06_caucus_with_party_a(sc: Scenario) -> None:
    with sc.step("06-caucus"):
        med = sc.judge
        med.get_by_test_id("caucus-control").scroll_into_view_if_needed()
        med.locator(f'[data-testid=caucus-pick][data-pid="{sc.m("A").pid}"]').click()
        med.get_by_test_id("caucus-open").click()
        med.get_by_test_id("caucus-close").wait_for()
        sc.m("judge").group = sc.m("A").group = "caucus"
        # B stays in the main room alone: nothing from A or the judge, who get nothing from B.
        sc.check("06-caucus", connected=False)


def test_07_party_a_reloads_in_caucus(sc: Scenario) -> None:
    with sc.step("07-reload-A-caucus"):
        pa = sc.page("A")
        pa.reload()
        party_reenters(pa)
        sc.check("07-reload-A-caucus", connected=True)
        pa.get_by_test_id("caucus-banner").wait_for()


def test_08_caucus_closed(sc: Scenario) -> None:
    with sc.step("08-caucus-close"):
        med = sc.judge
        med.get_by_test_id("caucus-close").click()
        med.get_by_test_id("caucus-open").wait_for()
        sc.m("judge").group = sc.m("A").group = MAIN
        sc.check("08-caucus-close", connected=False)


def test_09_party_b_offline_10s(sc: Scenario) -> None:
    with sc.step("09-offline-B"):
        pb = sc.page("B")
        pb.context.set_offline(True)
        t0 = time.monotonic()
        try:
            # This device lost its network: B is told so (not that the server went away).
            pb.locator("[data-testid=reconnecting][data-cause=network]").wait_for(timeout=8000)
            # The others' tiles tell the truth: no frames from B for 2 s shows 无画面 (or
            # 重新连接中 once the server notices), never a frozen picture.
            b_pid = sc.m("B").pid
            for viewer in ("judge", "A"):
                sc.page(viewer).locator(
                    f'[data-testid=tile-remote][data-pid="{b_pid}"] '
                    ":is([data-testid=tile-stalled], [data-testid=tile-reconnecting])"
                ).wait_for(timeout=5000)
            sc.shoot("09-offline-B-during")
            time.sleep(max(0.0, 10.0 - (time.monotonic() - t0)))
        finally:
            pb.context.set_offline(False)
        sc.check("09-offline-B", connected=True)


def rejoined_phase(page: Any) -> str | None:
    """'room' or 'lobby' once the page has rejoined (None while it is reconnecting)."""
    phase = page_state(page).get("phase")
    return phase if phase in ("room", "lobby") else None


def _server_outage(sc: Scenario, sig: signal.Signals, label: str) -> None:
    """Stop the server with ``sig``, check the parties' pages during the outage, start it again
    and check everyone is back in the room with the media flowing and the recording on. Every
    problem is collected; the step fails with all of them at the end."""
    med = sc.judge
    problems: list[str] = []
    if not med.get_by_test_id("recording-indicator").is_visible():
        problems.append(
            "the judge's page shows no recording before the outage "
            f"(judge phase {page_state(med).get('phase')})"
        )
    stopped = sc.server.stop(sig)
    print(f"[scenario] {label}: {stopped}")
    if stopped.forced:
        problems.append(f"no graceful shutdown: {stopped}")
    down = time.monotonic()
    try:
        # The server is gone, the devices are online: the parties are told it is the server.
        for name in ("A", "B"):
            page = sc.page(name)
            overlay = page.locator("[data-testid=reconnecting][data-cause=server]")
            try:
                overlay.wait_for(timeout=10000)
            except PlaywrightError:
                problems.append(f"{name}: no reconnecting[data-cause=server] during the outage")
            text = page.evaluate("() => document.body.innerText")
            shown = [t for t in NETWORK_FAILURE_TEXTS if t in text]
            if shown or page.locator("[data-testid=reconnecting][data-cause=network]").count():
                problems.append(f"{name}: shows a network failure during the outage: {shown}")
        sc.shoot(f"{label}-outage")
    finally:
        took = sc.server.start()
        print(
            f"[scenario] {label}: down {time.monotonic() - down:.1f} s, "
            f"healthy {took:.1f} s after start"
        )
    # Back in the room, not in the lobby: each page rejoins and lands in the room.
    t0 = time.monotonic()
    for name in ("A", "B", "judge"):
        try:
            phase = wait_for(
                functools.partial(rejoined_phase, sc.page(name)),
                max(1.0, SETTLE_S - (time.monotonic() - t0)),
                f"{name} rejoined after the restart",
            )
        except AssertionError as exc:
            problems.append(str(exc))
            continue
        if phase != "room":
            problems.append(f"{name} is in the {phase} after the restart, not back in the room")
    if not problems:
        try:
            sc.check(label, connected=True)
        except AssertionError as exc:
            problems.append(str(exc))
    else:
        sc.shoot(label)
    try:
        med.get_by_test_id("recording-indicator").wait_for(
            timeout=max(1.0, SETTLE_S - (time.monotonic() - t0)) * 1000
        )
    except PlaywrightError:
        problems.append(
            "the judge's page shows no recording (recording-indicator) after the restart"
        )
    if not med.get_by_test_id("mediator-panel").is_visible():
        problems.append("the judge's console shows no controls (mediator-panel) after the restart")
    if problems:
        raise AssertionError(
            f"[{label}] "
            + "\n".join(problems)
            + "\npages now:\n"
            + describe_pages(sc.model)
            + "\nserver log since the restart (access log and ICE lines left out):\n"
            + sc.server.log_tail(40, since_last_start=True)
        )


def test_10_server_sigterm_restart(sc: Scenario) -> None:
    with sc.step("10-sigterm"):
        _server_outage(sc, signal.SIGTERM, "10-sigterm")


def test_11_server_sigkill_restart(sc: Scenario) -> None:
    with sc.step("11-sigkill"):
        _server_outage(sc, signal.SIGKILL, "11-sigkill")


def test_12_judge_ends_with_outcome(sc: Scenario) -> None:
    with sc.step("12-end"):
        med = sc.judge
        med.get_by_test_id("end-control").scroll_into_view_if_needed()
        med.get_by_test_id("outcome-failed").click()
        med.get_by_test_id("end-note").fill("双方未能达成一致")
        mark = len(sc.watch.seen)
        med.get_by_test_id("end-session").click()
        box = message_box(med)
        box.locator(".el-message-box__btns .el-button--primary").click()
        for name in ("judge", "A", "B"):
            page = sc.page(name)
            page.get_by_test_id("ended").wait_for()
            text = page.get_by_test_id("ended").inner_text()
            assert "调解不成" in text, f"{name}: {text}"
            sc.m(name).presence = "ended"
        # Nobody receives anybody any more.
        assert_media(sc.model, "12-end")
        sc.shoot("12-end")
        errors = [f"{e.who}: {e.text}" for e in sc.watch.since(mark)]
        errors += visible_errors({n: m.page for n, m in sc.model.members.items()})
        assert not errors, f"[12-end] error texts after ending: {errors}"
        for name in ("judge", "A", "B"):
            assert sc.page(name).get_by_test_id("error-panel").count() == 0, name
    print("[scenario] timings: " + ", ".join(sc.timings))
    if sc.watch.page_errors:
        print(
            "[scenario] page errors: "
            + "; ".join(f"{e.step} {e.who}: {e.text}" for e in sc.watch.page_errors)
        )


def test_13_records_show_both_outages(sc: Scenario) -> None:
    """The sealed record of this session: three segments, the two later ones each marked with
    the outage they follow, in the records list and in the player."""
    with sc.step("13-records"):
        page = sc.judge.context.new_page()  # the judge's staff login
        page.set_default_timeout(20000)
        page.goto(sc.server.base_url + "/clerk/records")
        page.get_by_test_id("records-search").wait_for()
        page.get_by_test_id("search-submit").click()
        row = page.locator(f'[data-testid=record-row][data-session-id="{sc.demo["session_id"]}"]')
        row.wait_for()
        gaps = row.get_by_test_id("recording-gap")
        wait_for(lambda: gaps.count() == 2, 10, "two outages in the records list")
        for text in gaps.all_inner_texts():
            assert "服务器中断" in text and "–" in text, text
        row.get_by_test_id("record-open").click()
        page.get_by_test_id("player").wait_for()
        banners = page.locator("[data-testid=recording] [data-testid=recording-gap]")
        wait_for(lambda: banners.count() == 2, 10, "two outages in the player")
        # Every segment plays in the one timeline: a video lane per participant.
        lanes = page.locator("[data-testid=lane-video]")
        wait_for(lambda: lanes.count() >= 3, 20, "a video lane for each participant")
        page.screenshot(path=str(SCREENSHOTS / "scenario-13-records-judge.png"), full_page=True)
        # The caucus of steps 06–08 is not recorded (the default): while it lasts, party A's
        # main-room lane says so (背靠背调解（未录制）), not "no picture"; B, who stayed in the
        # main room, never reads it. The scrubber is walked over the whole timeline.
        said = page.evaluate(
            """async () => {
              const bar = document.querySelector('[data-testid=player-scrubber]');
              const seen = [];
              for (let at = 0; at <= Number(bar.max); at += 0.5) {
                bar.value = String(at);
                bar.dispatchEvent(new Event('input', { bubbles: true }));
                await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
                for (const lane of document.querySelectorAll('[data-testid=lane]')) {
                  const empty = lane.querySelector('[data-testid=lane-empty]');
                  const name = lane.querySelector('.tile-name')?.textContent?.trim() || '';
                  if (empty) seen.push([name, empty.textContent.trim()]);
                }
              }
              return seen;
            }"""
        )
        names = {k: sc.demo["party_links"][i]["name"] for i, k in enumerate(("A", "B"))}
        gap = "背靠背调解（未录制）"
        assert [names["A"], gap] in said, f"no caucus gap on A's lane: {said[:20]}"
        assert [names["B"], gap] not in said, "B was never in the caucus"
        page.close()
