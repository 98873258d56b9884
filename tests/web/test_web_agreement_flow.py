"""Browser tests of the agreement as a legal record: a signature is for the text its signer read,
an edit made in a caucus reaches that caucus only, a closed caucus gives its draft back to the
judge, and a voided signature is noticed (also after a reload). Headless Chromium against a real
server process in its default configuration (identity check required)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.web.conftest import Server, token_payload
from tests.web.test_web_agreement import draw_signature, start_console
from tests.web.test_web_client import admit, enter_room, new_page, wait_until

pytestmark = pytest.mark.slow

REASON = "已电话核实当事人身份"


def open_room(
    server: Server, browser: Any, fresh: dict[str, Any]
) -> tuple[Any, Any, Any, str, str]:
    """The judge's console and both parties admitted to the main room."""
    links = [p["url"] for p in fresh["party_links"][:2]]
    pids = [token_payload(link)["pid"] for link in links]
    med = new_page(browser, viewport={"width": 1366, "height": 900})
    start_console(med, server, fresh["session_id"])
    parties = []
    for link in links:
        page = new_page(browser, viewport={"width": 1280, "height": 900})
        page.goto(link)
        page.get_by_test_id("who-name").wait_for()
        enter_room(page)
        page.get_by_test_id("lobby").wait_for()
        parties.append(page)
    for pid in pids:
        admit(med, pid, reason=REASON)
    for page in parties:
        page.get_by_test_id("room").wait_for()
    return med, parties[0], parties[1], pids[0], pids[1]


def open_draft(med: Any) -> None:
    med.get_by_test_id("agreement-open").click()
    textarea = med.get_by_test_id("agreement-textarea")
    wait_until(lambda: len(textarea.input_value()) > 50, what="the template text")


def save_text(med: Any, words: str) -> None:
    textarea = med.get_by_test_id("agreement-textarea")
    textarea.fill(textarea.input_value() + "\n" + words)
    save = med.get_by_test_id("agreement-save")
    save.click()
    wait_until(lambda: save.is_disabled(), what="the edit saved")


def text_of(page: Any) -> str:
    loc = page.get_by_test_id("agreement-text")
    return str(loc.inner_text()) if loc.count() else ""


def sign(page: Any, seed: int) -> None:
    """Tick, (for an organisation) name the signatory, sign by hand and submit."""
    page.get_by_test_id("sign-box").wait_for()
    page.get_by_test_id("sign-confirm").click()
    if page.get_by_test_id("signatory-name").count():
        page.get_by_test_id("signatory-name").fill("李经理")
        page.get_by_test_id("signatory-capacity").select_option("authorised_agent")
    draw_signature(page, seed)
    submit = page.get_by_test_id("sign-submit")
    wait_until(submit.is_enabled, what="sign button enabled")
    submit.click()
    page.get_by_test_id("signed-by-me").wait_for()


def confirm_box(page: Any) -> str:
    box = page.locator(".el-message-box:visible")
    box.wait_for()
    text = str(box.inner_text())
    box.locator(".el-message-box__btns .el-button--primary").click()
    box.wait_for(state="hidden")
    return text


def mediator_doc(med: Any) -> dict[str, Any]:
    return dict(
        med.evaluate("() => JSON.parse(JSON.stringify(window.__room.state.agreements.agreement))")
    )


def close_all(*pages: Any) -> None:
    for page in pages:
        page.context.close()


def test_tick_is_cleared_when_the_text_changes(
    server: Server, browser: Any, fresh: dict[str, Any]
) -> None:
    med, pa, pb, _, pid_b = open_room(server, browser, fresh)
    open_draft(med)
    med.get_by_test_id("agreement-request").click()

    # B (the property company) names its signatory, ticks and draws at version 1; the judge
    # saves version 2 before B taps 确认签署.
    pb.get_by_test_id("sign-box").wait_for()
    pb.get_by_test_id("signatory-name").fill("李经理")
    pb.get_by_test_id("signatory-capacity").select_option("authorised_agent")
    pb.get_by_test_id("sign-confirm").click()
    draw_signature(pb, 1)
    submit = pb.get_by_test_id("sign-submit")
    wait_until(submit.is_enabled, what="sign button enabled")
    save_text(med, "补充条款：物业公司于七日内退还押金。")

    pb.get_by_test_id("agreement-changed").wait_for()
    wait_until(lambda: "退还押金" in text_of(pb), what="version 2 on B's screen")
    assert "is-checked" not in (pb.get_by_test_id("sign-confirm").get_attribute("class") or "")
    assert "请在框内手写签名" in pb.get_by_test_id("sign-box").inner_text(), "drawing not cleared"
    assert submit.is_disabled()

    # Ticking again clears the notice; the signature is for version 2.
    pb.get_by_test_id("sign-confirm").click()
    pb.get_by_test_id("agreement-changed").wait_for(state="hidden")
    draw_signature(pb, 2)
    wait_until(submit.is_enabled, what="sign button enabled again")
    submit.click()
    pb.get_by_test_id("signed-by-me").wait_for()
    doc = wait_until(
        lambda: (
            (d := mediator_doc(med))
            and any(s["participant_id"] == pid_b for s in d["signatures"])
            and d
        ),
        what="B's signature at the mediator",
    )
    sig = next(s for s in doc["signatures"] if s["participant_id"] == pid_b)
    assert sig["version"] == doc["version"] == 2, doc
    assert sig["text_sha256"] == doc["text_sha256"]
    close_all(med, pa, pb)


def test_caucus_edit_reaches_the_caucus_only(
    server: Server, browser: Any, fresh: dict[str, Any]
) -> None:
    med, pa, pb, pid_a, _ = open_room(server, browser, fresh)
    open_draft(med)
    wait_until(lambda: len(text_of(pb)) > 50, what="the draft in the main room")

    med.locator(f'[data-testid=caucus-pick][data-pid="{pid_a}"]').click()
    med.get_by_test_id("caucus-open").click()
    pa.get_by_test_id("caucus-banner").wait_for()
    reach = med.get_by_test_id("agreement-reach")
    wait_until(
        lambda: reach.inner_text() == "保存后仅调解员可见", what="staff-only reach in the caucus"
    )

    # The caucus is added to the audience on purpose: the judge is told who will read the text.
    med.locator("[data-testid=audience-group][data-group^=caucus]").click()
    med.get_by_test_id("agreement-share").click()
    asked = confirm_box(med)
    assert "张三" in asked and "某某物业服务有限公司" in asked, asked
    wait_until(lambda: len(text_of(pa)) > 50, what="the draft in the caucus")
    wait_until(lambda: "保存后仅" in reach.inner_text(), what="caucus-only reach")
    assert "张三" in reach.inner_text() and "某某物业" not in reach.inner_text(), reach.inner_text()

    save_text(med, "背靠背让步条款：申请人同意减免违约金。")
    wait_until(lambda: "减免违约金" in text_of(pa), what="the caucus edit in the caucus")
    time.sleep(3)
    assert "减免违约金" not in text_of(pb), "the caucus edit leaked to the main room"
    assert "主会场仍显示第1版" in med.get_by_test_id("agreement-stale").inner_text()
    close_all(med, pa, pb)


def test_closed_caucus_draft_falls_back_and_is_shared(
    server: Server, browser: Any, fresh: dict[str, Any]
) -> None:
    med, pa, pb, pid_a, _ = open_room(server, browser, fresh)
    med.locator(f'[data-testid=caucus-pick][data-pid="{pid_a}"]').click()
    med.get_by_test_id("caucus-open").click()
    pa.get_by_test_id("caucus-banner").wait_for()
    open_draft(med)
    wait_until(lambda: len(text_of(pa)) > 50, what="the caucus draft in the caucus")

    # B cannot read the caucus draft: asking for signatures is refused and says who.
    med.get_by_test_id("agreement-request").click()
    error = med.get_by_test_id("agreement-request-error")
    error.wait_for()
    assert "某某物业服务有限公司" in error.inner_text(), error.inner_text()

    med.get_by_test_id("caucus-close").click()
    med.get_by_test_id("caucus-open").wait_for()
    wait_until(lambda: not text_of(pa), what="the closed caucus's draft back with the judge")
    assert med.locator("[data-testid=audience-group]").count() == 1
    med.locator('[data-testid=audience-group][data-group="main"]').click()
    med.get_by_test_id("agreement-share").click()
    confirm_box(med)
    for page in (pa, pb):
        wait_until(lambda p=page: len(text_of(p)) > 50, what="the shared draft")
    med.get_by_test_id("agreement-request").click()
    for page in (pa, pb):
        page.get_by_test_id("sign-box").wait_for()
    close_all(med, pa, pb)


def test_voided_signature_is_noticed_after_reload(
    server: Server, browser: Any, fresh: dict[str, Any]
) -> None:
    med, pa, pb, _, _ = open_room(server, browser, fresh)
    open_draft(med)
    med.get_by_test_id("agreement-request").click()
    sign(pb, 1)

    save_text(med, "补充条款：双方各自承担诉讼费用。")
    voided = pb.get_by_test_id("signature-voided")
    voided.wait_for()
    # After a reload the state comes from agreement_get: the banner and the open panel are back.
    pb.reload()
    pb.get_by_test_id("who-name").wait_for()
    enter_room(pb)
    pb.get_by_test_id("panel-agreement").wait_for()
    voided.wait_for()
    wait_until(lambda: "诉讼费用" in text_of(pb), what="the new version after the reload")
    sign(pb, 2)
    voided.wait_for(state="hidden")
    close_all(med, pa, pb)
