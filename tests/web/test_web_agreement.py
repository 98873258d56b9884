"""Browser tests of the features beyond the call itself: identity check, the signed agreement,
the party's record review, the clerk's records player and verification, statistics, live
captions and the clerk's transcript. Headless Chromium against a real server process."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, Server, token_payload
from tests.web.test_web_client import admit, enter_room, new_page, remote_video_ok, wait_until

pytestmark = pytest.mark.slow

# Shared between the tests of this module (they run in file order): the session whose agreement
# was signed and which was then ended (and sealed) is the one the records test plays.
RECORDED: dict[str, str] = {}

VALID_ID = "11010519491231002x"  # GB 11643's own example, typed with a lower-case x
BAD_ID = "110105194912310021"  # wrong check character


def staff_login(page: Any, server: Server, username: str, password: str, lands: str) -> None:
    page.goto(server.base_url + "/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"**{lands}")


def draw_signature(page: Any, seed: int) -> None:
    """Handwriting with the mouse: a few strokes across the signature canvas."""
    canvas = page.get_by_test_id("signature-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 100
    x0, y0 = box["x"] + 20, box["y"] + box["height"] / 2
    for stroke in range(3):
        page.mouse.move(x0 + stroke * 60, y0 - 20)
        page.mouse.down()
        for i in range(1, 12):
            page.mouse.move(x0 + stroke * 60 + i * 4, y0 - 20 + ((i * (7 + seed)) % 40), steps=2)
        page.mouse.up()


def start_console(med: Any, server: Server, session_id: str) -> None:
    staff_login(med, server, "judge", "demo-judge-2026", "/console")
    med.goto(f"{server.base_url}/console/{session_id}")
    med.get_by_test_id("preview-video").wait_for(state="visible")
    enter_room(med)
    med.get_by_test_id("mediator-panel").wait_for()
    med.get_by_test_id("start-session").click()
    med.get_by_test_id("session-started").wait_for()


def test_identity_agreement_signing_and_record_review(
    server: Server, browser: Any, screenshots: Path, fresh: dict[str, Any]
) -> None:
    sid = fresh["session_id"]
    link_a, link_b = fresh["party_links"][0]["url"], fresh["party_links"][1]["url"]
    pid_a, pid_b = token_payload(link_a)["pid"], token_payload(link_b)["pid"]

    med = new_page(browser, viewport={"width": 1366, "height": 900})
    start_console(med, server, sid)

    parties = []
    for link in (link_a, link_b):
        page = new_page(browser, viewport={"width": 1280, "height": 900})
        page.goto(link)
        page.get_by_test_id("who-name").wait_for()
        enter_room(page)
        page.get_by_test_id("lobby").wait_for()
        parties.append(page)
    pa, pb = parties

    # Identity: the ID number is checked in the browser first (checksum), then submitted.
    pa.get_by_test_id("identity-number").fill(BAD_ID)
    pa.get_by_test_id("identity-submit").click()
    assert "请核对最后一位" in pa.get_by_test_id("identity-error").inner_text()
    pa.get_by_test_id("identity-number").fill(VALID_ID)
    pa.get_by_test_id("identity-submit").click()
    pa.locator('[data-testid=identity-status][data-verified="no"]').wait_for()
    assert "1101**********002X" in pa.get_by_test_id("identity-status").inner_text()

    # The mediator sees the masked number, opens the private check view (the party's camera
    # reaches the mediator only), takes a still and marks the party verified.
    item_a = med.locator(f'[data-testid=lobby-item][data-pid="{pid_a}"]')
    item_a.wait_for()
    wait_until(
        lambda: "1101**********002X" in item_a.get_by_test_id("lobby-identity").inner_text(),
        what="masked ID in the lobby list",
    )
    item_a.get_by_test_id("identity-check").click()
    pa.get_by_test_id("identity-check-notice").wait_for()
    wait_until(
        lambda: remote_video_ok(med, {pid_a}),
        timeout=30,
        what="the party's camera in the check view (decoded frames rising)",
    )
    med.get_by_test_id("identity-still").click()
    med.get_by_test_id("check-still").wait_for()
    med.get_by_test_id("identity-verify").click()
    med.locator(
        f'[data-testid=lobby-item][data-pid="{pid_a}"] [data-testid=lobby-identity][data-verified="yes"]'
    ).wait_for()
    pa.locator('[data-testid=identity-status][data-verified="yes"]').wait_for()
    med.screenshot(path=str(screenshots / "identity-check.png"))
    med.get_by_test_id("identity-close").click()
    pa.get_by_test_id("identity-check-notice").wait_for(state="detached")

    # A was verified: the button admits. B was not: admitting needs the written reason.
    admit(med, pid_a)
    admit(med, pid_b, reason="被申请人证件遗失，已电话核实身份")
    for page in (pa, pb):
        page.get_by_test_id("room").wait_for()
    # The override is in the audit log with the reason; the verified party needed none.
    r = med.context.request.get(
        f"{server.base_url}/api/audit",
        params={"session_id": sid, "action": "identity.override"},
    )
    assert r.ok, r.text()
    overrides = [(e["target"], e["details"].get("reason")) for e in r.json()]
    assert overrides == [(pid_b, "被申请人证件遗失，已电话核实身份")], overrides

    # The mediator drafts from the template, edits, and asks for signatures.
    med.get_by_test_id("agreement-open").click()
    textarea = med.get_by_test_id("agreement-textarea")
    wait_until(lambda: len(textarea.input_value()) > 50, what="the template text")
    textarea.fill(
        textarea.input_value() + "\n补充条款：被申请人于2026年6月30日前完成小区电梯维修。"
    )
    med.get_by_test_id("agreement-save").click()
    # Everyone in the main room sees the live text (draft) in the document panel.
    for page in (pa, pb):
        page.get_by_test_id("agreement-panel").wait_for()
        wait_until(
            lambda p=page: "电梯维修" in p.get_by_test_id("agreement-text").inner_text(),
            what="live draft text",
        )
        assert "草稿" in page.get_by_test_id("agreement-status").inner_text()
    med.get_by_test_id("agreement-request").click()

    # Each party reviews, ticks the confirmation and signs by hand with the mouse.
    for n, page in enumerate((pa, pb)):
        page.get_by_test_id("sign-box").wait_for()
        assert "签署中" in page.get_by_test_id("agreement-status").inner_text()
        page.get_by_test_id("sign-confirm").click()
        if n == 1:
            # The property company signs through a named person, in a stated capacity.
            page.get_by_test_id("signatory-name").fill("李经理")
            page.get_by_test_id("signatory-capacity").select_option("authorised_agent")
        draw_signature(page, n)
        submit = page.get_by_test_id("sign-submit")
        wait_until(lambda s=submit: s.is_enabled(), what="sign button enabled")
        if n == 0:
            page.screenshot(path=str(screenshots / "room-agreement-signing.png"))
        submit.click()
        if n == 0:
            page.get_by_test_id("signed-by-me").wait_for()
            wait_until(
                lambda: "签署中 1/2" in med.get_by_test_id("agreement-status").first.inner_text(),
                what="1/2 at the mediator",
            )

    # Effective: visible to all, PDF downloadable by the party (its own link) and by staff.
    for page in (med, pa, pb):
        page.locator('[data-testid=agreement-doc][data-status="effective"]').wait_for(timeout=30000)
        assert "已生效" in page.get_by_test_id("agreement-status").first.inner_text()
    pa.wait_for_timeout(300)
    pa.screenshot(path=str(screenshots / "room-agreement-effective.png"))
    docs = ROOT / "docs" / "screenshots"
    docs.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshots / "room-agreement-effective.png", docs / "web-client-agreement.png")
    href = pa.get_by_test_id("agreement-pdf").get_attribute("href")
    assert href and href.startswith("/api/join/")
    r = pa.context.request.get(server.base_url + href)
    assert r.status == 200 and r.body()[:5] == b"%PDF-", r.status
    with pb.expect_download() as dl:
        pb.get_by_test_id("agreement-pdf").click(modifiers=["Alt"])
    assert dl.value.suggested_filename.endswith(".pdf")

    # End the session; the parties review the record through their links.
    med.get_by_test_id("outcome-settled").click()
    med.get_by_test_id("end-session").click()
    med.locator(".el-message-box__btns .el-button--primary").click()
    for page in (pa, pb):
        page.get_by_test_id("ended").wait_for()
        page.get_by_test_id("ended-pdf").wait_for()
    RECORDED["session_id"] = sid

    pa.get_by_test_id("review-record").click()
    pa.get_by_test_id("record-review").wait_for()
    assert (
        fresh["party_links"][0]["name"] in pa.get_by_test_id("record-text").inner_text()
        or pa.get_by_test_id("record-text").inner_text().strip()
    )
    pa.get_by_test_id("record-confirm").click()
    pa.locator('[data-testid=review-state][data-state="confirmed"]').wait_for()
    pa.screenshot(path=str(screenshots / "record-review.png"), full_page=True)

    # Party B opens the link again later: it leads to the record (410 on the join API).
    pb.goto(link_b)
    pb.get_by_test_id("record-review").wait_for()
    pb.get_by_test_id("record-object").click()
    pb.get_by_test_id("record-objection").fill("笔录中维修期限记录有误")
    pb.get_by_test_id("record-object-submit").click()
    pb.locator('[data-testid=review-state][data-state="objected"]').wait_for()

    clerk = new_page(browser)
    r = clerk.context.request.post(
        server.base_url + "/api/auth/login",
        data={"username": "clerk", "password": "demo-clerk-2026"},
    )
    assert r.ok
    record = clerk.context.request.get(f"{server.base_url}/api/sessions/{sid}/record").json()
    states = {p["participant_id"]: p["state"] for p in record["parties"]}
    assert states == {pid_a: "confirmed", pid_b: "objected"}
    for page in (med, pa, pb, clerk):
        page.context.close()


def test_records_page_plays_synchronised_tracks_and_verifies(
    server: Server, browser: Any, screenshots: Path
) -> None:
    sid = RECORDED.get("session_id")
    if sid is None:
        pytest.skip("needs the recorded session of the agreement test")
    page = new_page(browser, viewport={"width": 1366, "height": 950})
    staff_login(page, server, "clerk", "demo-clerk-2026", "/clerk")
    page.get_by_test_id("nav-records").click()
    page.get_by_test_id("records-search").wait_for()
    page.get_by_test_id("search-case").fill("0001")
    page.get_by_test_id("search-submit").click()
    row = page.locator(f'[data-testid=record-row][data-session-id="{sid}"]')
    # The recording is sealed shortly after the end.
    wait_until(
        lambda: (page.get_by_test_id("search-submit").click() or True) and row.count() == 1,
        timeout=30,
        interval=1.5,
        what="the recorded session in the search",
    )
    row.get_by_test_id("record-open").click()
    page.get_by_test_id("player").wait_for()
    wait_until(lambda: page.locator("[data-testid=lane-video]").count() >= 3, what="video lanes")
    page.get_by_test_id("player-play").click()
    probe = """
    async () => {
      const vids = [...document.querySelectorAll('[data-testid=lane-video]')].filter(v => v.offsetParent);
      const t0 = vids.map(v => v.currentTime);
      await new Promise(r => setTimeout(r, 1500));
      return vids.map((v, i) => ({w: v.videoWidth, adv: v.currentTime - t0[i], paused: v.paused}));
    }
    """
    wait_until(
        lambda: len([v for v in page.evaluate(probe) if v["w"] > 0 and v["adv"] > 0.5]) >= 2,
        timeout=40,
        what="at least two videos advancing together",
    )
    # One master clock: the visible videos sit at (clock - their offset).
    drift = page.evaluate(
        """() => {
          const p = window.__player; const t = p.clock().time();
          return [...document.querySelectorAll('[data-testid=lane-video]')].filter(v => v.offsetParent)
            .map(v => Math.abs(v.currentTime - (t - Number(v.dataset.offset))));
        }"""
    )
    assert drift and max(drift) < 1.5, drift
    page.screenshot(path=str(screenshots / "records-player.png"))
    page.get_by_test_id("player-play").click()

    page.get_by_test_id("verify").first.click()
    report = page.get_by_test_id("verify-report").first
    report.wait_for(timeout=60000)
    assert report.get_attribute("data-ok") == "yes", report.inner_text()
    assert "校验通过" in report.inner_text()
    # The signed agreement went into the sealed folder with the recording.
    page.get_by_test_id("documents").first.wait_for()
    page.get_by_test_id("composite-start").click()
    page.get_by_test_id("job").first.wait_for()
    page.screenshot(path=str(screenshots / "records-page.png"), full_page=True)
    docs = ROOT / "docs" / "screenshots"
    docs.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshots / "records-player.png", docs / "web-client-records.png")
    page.context.close()


def test_stats_page(server: Server, browser: Any, screenshots: Path) -> None:
    page = new_page(browser, viewport={"width": 1366, "height": 950})
    staff_login(page, server, "clerk", "demo-clerk-2026", "/clerk")
    # A few intakes (诉前调解申请) so the figures are not all zero; closed ones go through the
    # status flow by hand.
    api = page.context.request
    csrf = api.get(server.base_url + "/api/auth/me").json()["csrf_token"]
    flows = [
        ("property_management", "settled"),
        ("property_management", "failed"),
        ("neighbour", "settled"),
        ("labour", None),
        ("marriage_family", "settled"),
    ]
    judge = next(
        u for u in api.get(server.base_url + "/api/users").json() if u["username"] == "judge"
    )
    for n, (case_type, end) in enumerate(flows):
        r = api.post(
            server.base_url + "/api/network/intakes",
            headers={"X-CSRF-Token": csrf},
            data={
                "case_type": case_type,
                "applicant_name": f"申请人{n}",
                "applicant_phone": f"1390000000{n}",
                "respondent_name": f"被申请人{n}",
                "claim": "请求调解",
            },
        )
        assert r.ok, r.text()
        iid = r.json()["id"]
        r = api.post(
            f"{server.base_url}/api/network/intakes/{iid}/assign",
            headers={"X-CSRF-Token": csrf},
            data={"mediator_id": judge["id"]},
        )
        assert r.ok, r.text()
        if end:
            r = api.post(
                f"{server.base_url}/api/network/intakes/{iid}/transition",
                headers={"X-CSRF-Token": csrf},
                data={"status": end},
            )
            assert r.ok, r.text()
    page.get_by_test_id("nav-stats").click()
    page.get_by_test_id("kpis").wait_for()
    assert "受理纠纷" in page.get_by_test_id("kpis").inner_text()
    assert page.locator("[data-testid=kpis] [data-key=disputes] .kpi-value").inner_text() != "0"
    page.locator("[data-testid=chart-month] canvas").wait_for()
    href = page.get_by_test_id("stats-csv").get_attribute("href")
    r = page.context.request.get(server.base_url + href)
    assert r.ok and "section" in r.text()
    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshots / "stats-page.png"), full_page=True)
    page.context.close()


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Mandarin utterance (espeak-ng) for Chromium's fake microphone, with silence after it."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed")
    out = tmp_path_factory.mktemp("speech") / "speech.wav"
    raw = out.with_name("raw.wav")
    subprocess.run(
        [
            espeak,
            "-v",
            "cmn-latn-pinyin",
            "-s",
            "150",
            "-w",
            str(raw),
            "各位当事人好，现在开始调解。请申请人陈述请求和理由。",
        ],
        check=True,
    )
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        subprocess.run(
            [
                ffmpeg,
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(raw),
                "-af",
                "apad=pad_dur=2",
                "-ar",
                "48000",
                "-ac",
                "1",
                str(out),
            ],
            check=True,
        )
    else:
        shutil.copy(raw, out)
    return out


def test_captions_and_clerk_transcript(
    server: Server, browser: Any, screenshots: Path, fresh: dict[str, Any], speech_wav: Path
) -> None:
    sid = fresh["session_id"]
    if True:
        # A second browser whose microphone speaks Mandarin (a real server path to captions).
        b = browser.browser_type.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={speech_wav}"],
        )
        try:
            med = new_page(b, viewport={"width": 1366, "height": 900})
            start_console(med, server, sid)
            med.get_by_test_id("toggle-transcription").click()
            wait_until(
                lambda: "已开启" in med.get_by_test_id("transcription-state").inner_text(),
                timeout=120,
                what="transcription on",
            )
            med.get_by_test_id("open-captions").click()
            state = med.get_by_test_id("captions-state")
            assert state.get_attribute("data-transcription") == "on"
            line = med.get_by_test_id("caption-line").first
            line.wait_for(timeout=120000)
            assert line.inner_text().startswith("王法官（法官）：")
            med.screenshot(path=str(screenshots / "room-captions.png"))

            # The clerk's live transcript: the recognised line, a correction with its history,
            # a note and the 调解笔录 export.
            clerk = new_page(b, viewport={"width": 1280, "height": 900})
            staff_login(clerk, server, "clerk", "demo-clerk-2026", "/clerk")
            clerk.goto(f"{server.base_url}/clerk/transcript/{sid}")
            clerk.locator('[data-testid=transcript-live][data-live="on"]').wait_for()
            seg = clerk.get_by_test_id("segment").first
            seg.wait_for(timeout=60000)
            seg.get_by_test_id("segment-edit").click()
            seg.get_by_test_id("segment-text").fill("各位当事人好，现在开始调解。")
            seg.get_by_test_id("segment-save").click()
            wait_until(lambda: "已更正" in seg.inner_text(), what="corrected tag")
            seg.get_by_test_id("segment-history").click()
            clerk.get_by_test_id("edit-history").wait_for()
            assert (
                "各位当事人好，现在开始调解。" in clerk.get_by_test_id("edit-history").inner_text()
            )
            clerk.keyboard.press("Escape")
            clerk.get_by_test_id("note-input").fill("双方出示证据")
            clerk.get_by_test_id("note-add").click()
            clerk.locator(".segment.note").get_by_text("双方出示证据").wait_for()
            with clerk.expect_download() as dl:
                clerk.get_by_test_id("export-pdf").click()
            assert dl.value.suggested_filename.endswith(".pdf")
            clerk.screenshot(path=str(screenshots / "clerk-transcript.png"), full_page=True)

            # Captions off for this viewer only.
            med.get_by_test_id("captions-toggle").click()
            wait_until(lambda: state.get_attribute("data-captions") == "off", what="captions off")
        finally:
            b.close()


def test_terminal_officer_attests_identity_in_person(
    server: Server, browser: Any, fresh: dict[str, Any]
) -> None:
    """The 庭务主任 registers a party's ID at the village terminal and attests in person, once
    the judge has admitted the terminal (a terminal in the lobby may not vouch for anyone)."""
    pid_a = token_payload(fresh["party_links"][0]["url"])["pid"]
    kiosk = new_page(browser, viewport={"width": 1280, "height": 900})
    kiosk.goto(fresh["terminal_link"])
    kiosk.get_by_test_id("who-name").wait_for()
    enter_room(kiosk)
    kiosk.get_by_test_id("lobby").wait_for()
    med = new_page(browser, viewport={"width": 1280, "height": 900})
    staff_login(med, server, "judge", "demo-judge-2026", "/console")
    med.goto(f"{server.base_url}/console/{fresh['session_id']}")
    med.get_by_test_id("preview-video").wait_for(state="visible")
    enter_room(med)
    med.get_by_test_id("mediator-panel").wait_for()
    admit(med, token_payload(fresh["terminal_link"])["pid"])

    party = new_page(browser, viewport={"width": 390, "height": 800})
    party.goto(fresh["party_links"][0]["url"])
    party.get_by_test_id("who-name").wait_for()
    enter_room(party)
    party.get_by_test_id("lobby").wait_for()

    row = kiosk.locator(f'[data-testid=terminal-attest] .attest-row[data-pid="{pid_a}"]')
    row.wait_for()
    row.locator("input").nth(1).fill(BAD_ID)
    row.get_by_test_id("terminal-attest-register").click()
    kiosk.get_by_text("身份证号码有误，请核对最后一位").first.wait_for()
    row.locator("input").nth(1).fill(VALID_ID)
    row.get_by_test_id("terminal-attest-register").click()
    row.get_by_test_id("terminal-attest-verify").click()
    row.get_by_text("已核验").wait_for()
    # The party's own lobby shows the verification the officer made.
    wait_until(
        lambda: "已核验" in party.get_by_test_id("lobby").inner_text(),
        what="verified in the party's lobby",
    )
