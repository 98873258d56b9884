"""The public verification page catches an altered copy: the PDF is hashed in the browser (the
file never reaches the server), and the anchors a reader compares with the paper are shown.

The agreement is made effective through real socket clients against the server process; the
page is driven in headless Chromium."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from server.agreements.verification import mask_name
from signaling.client import RoomClient
from tests.agreements.helpers import signature_png
from tests.web.conftest import Server, token_payload
from tests.web.test_web_agreement import staff_login
from tests.web.test_web_client import new_page, wait_until

pytestmark = pytest.mark.slow

T = TypeVar("T")
REASON = "测试：身份未核验，调解员书面准许 / test: admitted unverified with a reason"


def _token(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]


async def _staff(http: aiohttp.ClientSession, base: str) -> str:
    r = await http.post(
        f"{base}/api/auth/login", json={"username": "clerk", "password": "demo-clerk-2026"}
    )
    assert r.status == 200, await r.text()
    return str((await r.json())["csrf_token"])


async def _mark_company(base: str, session_id: str) -> tuple[str, str, str]:
    """The demo respondent (某某物业服务有限公司) is a company; returns (case number, names)."""
    # unsafe: the server is 127.0.0.1, and aiohttp keeps no cookies of IP hosts otherwise.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await _staff(http, base)
        session = await (await http.get(f"{base}/api/sessions/{session_id}")).json()
        case = await (await http.get(f"{base}/api/cases/{session['case_id']}")).json()
        applicant = next(p for p in case["parties"] if p["role"] == "applicant")
        respondent = next(p for p in case["parties"] if p["role"] == "respondent")
        if not respondent["is_organisation"]:
            r = await http.patch(
                f"{base}/api/parties/{respondent['id']}",
                json={"is_organisation": True},
                headers={"X-CSRF-Token": csrf},
            )
            assert r.status == 200, await r.text()
        return str(case["case_number"]), str(applicant["name"]), str(respondent["name"])


async def _effective_agreement(
    base: str, fresh: dict[str, Any], end: bool = False
) -> tuple[bytes, str]:
    """Mediator and both parties join, the agreement is signed (and with ``end`` the session
    ended, hence sealed); returns (PDF, text hash)."""
    links = [p["url"] for p in fresh["party_links"]]
    med = RoomClient(base, token=_token(fresh["mediator_link"]), video=None, audio=False)
    parties = [RoomClient(base, token=_token(link), video=None, audio=False) for link in links]
    clients = [med, *parties]
    try:
        for c in clients:
            await c.connect()
            await c.join(consent=True)
        await med.wait_until(lambda: len(med.lobby()) == 2, what="both parties in the lobby")
        for link in links:
            pid = token_payload(link)["pid"]
            await med.call("admit", {"participant_id": pid, "override_reason": REASON})
        for c in parties:
            await c.wait_until(lambda c=c: c.presence == "admitted", what="admitted")
        await med.call("start_session")
        await med.call("agreement_open")
        view = (await med.call("agreement_request_signatures"))["agreement"]
        for n, c in enumerate(parties):
            ack = await c.call(
                "agreement_sign",
                {
                    "version": view["version"],
                    "text_sha256": view["text_sha256"],
                    "confirm": True,
                    "signature_png": signature_png(n),
                    # Used only when the signer is an organisation (the demo respondent).
                    "signatory_name": "王五",
                    "signatory_capacity": "legal_representative",
                },
            )
        assert ack["effective"]
        async with aiohttp.ClientSession() as http:
            r = await http.get(f"{base}/api/join/{_token(links[0])}/agreements/agreement/pdf")
            assert r.status == 200, await r.text()
            pdf = await r.read()
        if end:
            await med.call("end_session", {"outcome": "settled", "note": "达成协议"})
        return pdf, str(view["text_sha256"])
    finally:
        for c in clients:
            try:
                await c.close()
            except Exception:
                pass


def _run(coro: Coroutine[Any, Any, T]) -> T:
    # Playwright's sync API keeps an event loop running in this thread.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _pages(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


def test_verify_page_checks_the_file_in_the_browser(
    server: Server, browser: Any, fresh: dict[str, Any], tmp_path: Path, screenshots: Path
) -> None:
    base = server.base_url
    case_number, applicant, company = _run(_mark_company(base, fresh["session_id"]))
    pdf, text_sha = _run(_effective_agreement(base, fresh))
    assert pdf.startswith(b"%PDF-")
    pdf_sha = hashlib.sha256(pdf).hexdigest()
    genuine = tmp_path / "调解协议书.pdf"
    genuine.write_bytes(pdf)
    altered_bytes = bytearray(pdf)
    altered_bytes[len(altered_bytes) // 2] ^= 0x01  # one byte changed
    altered = tmp_path / "调解协议书-改.pdf"
    altered.write_bytes(bytes(altered_bytes))
    altered_sha = hashlib.sha256(altered_bytes).hexdigest()

    page = new_page(browser, viewport={"width": 1100, "height": 1000})
    requests: list[tuple[str, str, bytes | None]] = []
    page.on("request", lambda r: requests.append((r.method, r.url, r.post_data_buffer)))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    # Opened from the QR code: the hash is genuine, the anchors are there to compare.
    resp = page.goto(f"{base}/verify/agreement/{text_sha}")
    assert resp is not None and resp.ok
    csp = resp.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    result = page.get_by_test_id("verify-result")
    assert result.get_attribute("data-genuine") == "true"
    anchors = page.get_by_test_id("verify-anchors")
    assert anchors.is_visible()

    def anchor(key: str) -> str:
        return str(anchors.locator(f"[data-anchor={key}]").inner_text()).strip()

    def check_anchors() -> None:
        assert anchor("case-number") == case_number
        assert anchor("document") == "调解协议书"
        assert anchor("pages").startswith(f"共 {_pages(pdf)} 页")
        assert anchor("parties") == "、".join(
            [mask_name(applicant), mask_name(company, organisation=True)]
        )
        assert "**" in anchor("parties") and company not in anchor("parties")
        # The court's local time, never raw UTC.
        effective = anchor("effective")
        assert "Asia/Shanghai" in effective and "+00:00" not in effective, effective
        assert anchor("date-of-effect").endswith("日")

    check_anchors()
    body = page.content()
    assert applicant not in body and company not in body

    # The genuine file: hashed here, looked up by its hash: genuine.
    page.get_by_test_id("verify-file").set_input_files(str(genuine))
    page.locator("[data-testid=verify-result][data-source=file]").wait_for()
    assert result.get_attribute("data-genuine") == "true", result.inner_text()
    assert pdf_sha in result.inner_text()
    assert anchors.is_visible()
    check_anchors()
    page.screenshot(path=str(screenshots / "verify-genuine.png"), full_page=True)

    # One byte changed: not genuine, and no anchors that would vouch for it.
    page.get_by_test_id("verify-file").set_input_files(str(altered))
    page.locator("[data-testid=verify-result][data-genuine=false]").wait_for()
    assert altered_sha in result.inner_text()
    assert "未通过" in result.inner_text()
    assert not anchors.is_visible()
    page.screenshot(path=str(screenshots / "verify-altered.png"), full_page=True)

    # The files never left the browser: only their hashes were looked up, by GET.
    api = [(m, u) for m, u, _ in requests if "/api/" in u]
    assert ("GET", f"{base}/api/verify/agreement/{pdf_sha}") in api
    assert ("GET", f"{base}/api/verify/agreement/{altered_sha}") in api
    assert all(m == "GET" and data is None for m, _, data in requests), requests
    # Nothing the page loads fails, no script error, no CSP violation ("Failed to load
    # resource" is Chromium's own /favicon.ico request, which the page does not make).
    assert failed == [], failed
    assert [e for e in errors if not e.startswith("Failed to load resource")] == [], errors

    # Without a QR code: the upload-only page.
    page.goto(f"{base}/verify/agreement")
    assert page.get_by_test_id("verify-result").get_attribute("data-genuine") == "false"
    assert not page.get_by_test_id("verify-anchors").is_visible()
    page.get_by_test_id("verify-file").set_input_files(str(genuine))
    page.locator("[data-testid=verify-result][data-genuine=true]").wait_for()
    check_anchors()
    assert failed == [], failed
    page.context.close()

    # A page opened over plain HTTP on a LAN has no crypto.subtle (not a secure context): the
    # page's own SHA-256 gives the same answers.
    page = new_page(browser)
    page.add_init_script("Object.defineProperty(window.crypto, 'subtle', {value: undefined})")
    page.goto(f"{base}/verify/agreement/{text_sha}")
    assert page.evaluate("window.crypto.subtle") is None
    page.get_by_test_id("verify-file").set_input_files(str(genuine))
    page.locator("[data-testid=verify-result][data-source=file][data-genuine=true]").wait_for()
    assert pdf_sha in page.get_by_test_id("verify-result").inner_text()
    page.get_by_test_id("verify-file").set_input_files(str(altered))
    page.locator("[data-testid=verify-result][data-genuine=false]").wait_for()
    assert altered_sha in page.get_by_test_id("verify-result").inner_text()
    page.context.close()


def test_judicial_package_is_offered_in_console_and_records(
    server: Server, browser: Any, fresh: dict[str, Any]
) -> None:
    """Once the agreement is effective and the session ended (recording sealed), the judge's
    console list and the records page offer the package; the link downloads the zip."""
    base = server.base_url
    sid = fresh["session_id"]
    _run(_effective_agreement(base, fresh, end=True))

    page = new_page(browser, viewport={"width": 1366, "height": 950})
    staff_login(page, server, "judge", "demo-judge-2026", "/console")
    item = page.locator(f"[data-session-id='{sid}']")
    link = item.get_by_test_id("judicial-package")
    wait_until(
        lambda: (page.get_by_role("button", name="刷新").click() or True) and link.count() == 1,
        timeout=60,
        interval=2,
        what="the package button of the ended session in the console",
    )
    href = link.get_attribute("href")
    assert href == f"/api/sessions/{sid}/judicial-package"
    r = page.context.request.get(base + href)
    assert r.status == 200, r.text()
    assert r.headers["content-type"].startswith("application/zip")
    assert r.body()[:2] == b"PK"
    page.context.close()

    page = new_page(browser, viewport={"width": 1366, "height": 950})
    staff_login(page, server, "clerk", "demo-clerk-2026", "/clerk")
    page.goto(base + "/clerk/records")
    page.get_by_test_id("records-search").wait_for()
    row = page.locator(f'[data-testid=record-row][data-session-id="{sid}"]')
    row.wait_for()
    row.get_by_test_id("judicial-package").wait_for()
    assert row.get_by_test_id("judicial-package").get_attribute("href") == href
    page.context.close()
