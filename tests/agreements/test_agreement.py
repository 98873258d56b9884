"""The agreement: live drafting, visibility, versioned signing, PDF, verification, sealing."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from recording import verify_folder
from server.agreements.models import AgreementSignature
from server.models import Recording
from server.state import STATE_KEY
from signaling.client import SignalingFailure
from tests.agreements.helpers import (
    APPLICANT_ID,
    RESPONDENT_ID,
    admitted_room,
    last,
    signature_png,
)
from tests.signaling.conftest import LiveSession

CLAUSE = "一、被申请人乙于2026年12月31日前向申请人甲支付修缮费人民币伍仟元整（5000元）。"


async def _sign(c, view: dict, seed: int = 0) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return await c.call(
        "agreement_sign",
        {
            "version": view["version"],
            "text_sha256": view["text_sha256"],
            "confirm": True,
            "signature_png": signature_png(seed),
        },
    )


async def test_drafting_signing_voiding_and_effective(live: LiveSession) -> None:
    mediator, applicant, respondent = await admitted_room(live)
    await applicant.call("identity_submit", {"name": "申请人甲", "id_number": APPLICANT_ID})
    await respondent.call("identity_submit", {"name": "被申请人乙", "id_number": RESPONDENT_ID})
    await mediator.call("start_session")

    # Only the mediator drafts.
    with pytest.raises(SignalingFailure) as err:
        await applicant.call("agreement_open")
    assert err.value.code == "forbidden"
    opened = (await mediator.call("agreement_open"))["agreement"]
    assert opened["status"] == "draft" and opened["version"] == 1
    assert "3301**********1205" in opened["text"] and "被申请人乙" in opened["text"]
    assert "调解协议书" == opened["title"]

    text = opened["text"].replace("经本院主持调解", "经本院主持调解") + "\n" + CLAUSE
    edited = await mediator.call("agreement_edit", {"text": text, "base_version": 1})
    assert edited["version"] == 2
    # Every participant in the main room sees the text live.
    for c in (applicant, respondent):
        await c.wait_until(
            lambda c=c: (last(c, "agreement_state") or {}).get("agreement", {}).get("version") == 2
        )
        assert CLAUSE in last(c, "agreement_state")["agreement"]["text"]
    # A stale edit is refused.
    with pytest.raises(SignalingFailure) as err:
        await mediator.call("agreement_edit", {"text": "x", "base_version": 1})
    assert err.value.code == "version_conflict"

    # Signing before the mediator asks for it is refused.
    view = (await applicant.call("agreement_get"))["agreement"]
    with pytest.raises(SignalingFailure) as err:
        await _sign(applicant, view)
    assert err.value.code == "not_signing"
    view = (await mediator.call("agreement_request_signatures"))["agreement"]
    assert view["status"] == "signing" and view["required"] == 2

    # A party cannot sign for another: there is no such field, and the mediator is no signer.
    with pytest.raises(SignalingFailure) as err:
        await applicant.call(
            "agreement_sign",
            {
                "version": view["version"],
                "text_sha256": view["text_sha256"],
                "confirm": True,
                "signature_png": signature_png(),
                "participant_id": live.pids["respondent"],
            },
        )
    assert err.value.code == "validation_error"
    with pytest.raises(SignalingFailure) as err:
        await _sign(mediator, view)
    assert err.value.code == "not_a_signer"
    # The confirmation tick is required.
    with pytest.raises(SignalingFailure) as err:
        await applicant.call(
            "agreement_sign",
            {
                "version": view["version"],
                "text_sha256": view["text_sha256"],
                "confirm": False,
                "signature_png": signature_png(),
            },
        )
    assert err.value.code == "validation_error"

    signed = await _sign(applicant, view)
    assert signed["signed"] and not signed["effective"]
    with pytest.raises(SignalingFailure) as err:
        await _sign(applicant, view)
    assert err.value.code == "already_signed"
    state = (await respondent.call("agreement_get"))["agreement"]
    assert (state["status"], state["signed"], state["required"]) == ("signing", 1, 2)

    # An edit after a signature voids it: back to signing 0/2, the old hash no longer signs.
    text2 = text + "\n二、双方再无其他争议。"
    edit = await mediator.call("agreement_edit", {"text": text2, "base_version": view["version"]})
    assert edit["voided"] == [live.pids["applicant"]]
    state = (await respondent.call("agreement_get"))["agreement"]
    assert (state["status"], state["signed"]) == ("signing", 0)
    with pytest.raises(SignalingFailure) as err:
        await _sign(respondent, view)  # the version the respondent did not see change
    assert err.value.code == "version_conflict"

    fresh = (await applicant.call("agreement_get"))["agreement"]
    await _sign(applicant, fresh, 1)
    done = await _sign(respondent, fresh, 2)
    assert done["effective"]
    final = (await mediator.call("agreement_get"))["agreement"]
    assert final["status"] == "effective" and final["pdf_sha256"]
    for c in (applicant, respondent):
        await c.wait_until(
            lambda c=c: (
                (last(c, "agreement_state") or {}).get("agreement", {}).get("status") == "effective"
            )
        )
    with pytest.raises(SignalingFailure) as err:
        await mediator.call("agreement_edit", {"text": "y", "base_version": final["version"]})
    assert err.value.code == "agreement_effective"

    state_ = live.harness.app[STATE_KEY]
    async with state_.db.session() as db:
        sigs = list(await db.scalars(select(AgreementSignature)))
    valid = [s for s in sigs if s.voided_at is None]
    assert len(sigs) == 3 and len(valid) == 2
    assert all(s.text_sha256 == final["text_sha256"] for s in valid)
    assert all(s.image_png.startswith(b"\x89PNG") and s.identity.get("id_masked") for s in valid)

    # The PDF: parties, the agreement text and the hash come back out as text.
    judge = await live.harness.login("judge_a")
    resp = await judge.get(f"/api/sessions/{live.session_id}/agreements/agreement/pdf")
    assert resp.status == 200, await resp.text()
    pdf = await resp.read()
    text_out = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    flat = "".join(text_out.split())
    for needle in (
        "调解协议书",
        "申请人甲",
        "被申请人乙",
        "3301**********1205",
        "被申请人乙于2026年12月31日前向申请人甲支付修缮费",
        final["text_sha256"],
        live.session_id,
    ):
        assert needle in flat, needle
    # Parties download it with their own link.
    anon = await live.harness.anon()
    r = await anon.get(f"/api/join/{live.tokens['applicant']}/agreements/agreement/pdf")
    assert r.status == 200 and await r.read() == pdf

    # The verification page: genuine for the signed text's hash and the PDF's hash; a changed
    # hash is rejected; anonymous visitors never see the content.
    import hashlib

    assert hashlib.sha256(pdf).hexdigest() == final["pdf_sha256"]
    for digest in (final["text_sha256"], final["pdf_sha256"]):
        j = await (await anon.get(f"/api/verify/agreement/{digest}")).json()
        assert j["genuine"] and j["effective"] and j["court"]
        page = await (await anon.get(f"/verify/agreement/{digest}")).text()
        assert "真实有效" in page and CLAUSE not in page and "申请人甲" not in page
    changed = final["text_sha256"][:-1] + ("0" if final["text_sha256"][-1] != "0" else "1")
    j = await (await anon.get(f"/api/verify/agreement/{changed}")).json()
    assert not j["genuine"] and j["court"] is None
    page = await (await anon.get(f"/verify/agreement/{changed}")).text()
    assert "未找到有效文书" in page
    # An older (voided) version's hash is not an agreement either.
    j = await (await anon.get(f"/api/verify/agreement/{view['text_sha256']}")).json()
    assert not j["genuine"]

    # Closing the session seals the PDF into the sealed record; verify covers it.
    await mediator.call("end_session", {"outcome": "settled", "note": "达成协议"})
    async with state_.db.session() as db:
        for _ in range(100):
            row = await db.scalar(select(Recording).where(Recording.session_id == live.session_id))
            await db.refresh(row) if row is not None else None
            folder = Path(state_.settings.effective_recordings_dir) / row.folder if row else None
            if (
                folder
                and (folder / "manifest.json").exists()
                and "agreement" in (folder / "manifest.json").read_text()
            ):
                break
            import asyncio

            await asyncio.sleep(0.1)
    assert folder is not None
    manifest = json.loads((folder / "manifest.json").read_text())
    shas = {f.get("sha256") for f in manifest["files"]}
    assert final["pdf_sha256"] in shas
    report = verify_folder(folder)
    assert report.ok, report.problems

    # The judicial-confirmation package.
    resp = await judge.get(f"/api/sessions/{live.session_id}/judicial-package")
    assert resp.status == 200, await resp.text()
    zf = zipfile.ZipFile(io.BytesIO(await resp.read()))
    names = set(zf.namelist())
    assert {
        "调解协议书.pdf",
        "identity-verifications.json",
        "sealed-record/manifest.json",
        "sealed-record/manifest.json.sig",
    } <= names
    assert zf.read("调解协议书.pdf") == pdf
    idents = json.loads(zf.read("identity-verifications.json"))
    assert {v["id_masked"] for v in idents["verifications"]} == {
        "3301**********1205",
        "1101**********002X",
    }
    assert APPLICANT_ID.encode() not in zf.read("identity-verifications.json")


async def test_caucus_only_draft_is_not_visible_to_the_other_side(live: LiveSession) -> None:
    mediator, applicant, respondent = await admitted_room(live)
    ack = await mediator.call(
        "caucus_open",
        {
            "groups": [
                {"name": "申请人方", "members": [live.pids["mediator"], live.pids["applicant"]]}
            ]
        },
    )
    group = next(iter(ack["groups"]))
    # Begun while the mediator is in the caucus: the draft stays in that caucus.
    opened = (await mediator.call("agreement_open"))["agreement"]
    assert opened["audience"] == [group]
    secret = "（仅申请人方）让步方案：可接受分期"
    await mediator.call(
        "agreement_edit", {"text": opened["text"] + secret, "base_version": opened["version"]}
    )
    await applicant.wait_until(
        lambda: (
            secret
            in ((last(applicant, "agreement_state") or {}).get("agreement", {}).get("text") or "")
        )
    )
    # The respondent (main room) sees only the state, never the text, nor even how many
    # versions the caucus wrote.
    await respondent.wait_until(lambda: last(respondent, "agreement_state") is not None)
    await asyncio.sleep(0.3)
    for _, data in respondent.events:
        if isinstance(data, dict) and "agreement" in data:
            assert "text" not in data["agreement"]
            assert data["agreement"]["readable"] is False
            assert data["agreement"]["version"] is None
    got = (await respondent.call("agreement_get"))["agreement"]
    assert "text" not in got and got["status"] == "draft"
    # Once shared with the main room (caucus closed), everyone reads it.
    await mediator.call("caucus_close")
    await mediator.call("agreement_share", {"groups": ["main"]})
    got = (await respondent.call("agreement_get"))["agreement"]
    assert secret in got["text"]


async def test_failure_record_and_templates(live: LiveSession) -> None:
    admin = await live.harness.login("admin_a")
    body = {
        "title": "邻里纠纷调解协议书",
        "body": "{{court}} {{case_number}}\n{{parties}}\n本院定制模板",
    }
    resp = await admin.request("PUT", "/api/agreement-templates/neighbour/agreement", json=body)
    assert resp.status == 200, await resp.text()
    mediator_user = await live.harness.login("mediator_a")
    resp = await mediator_user.request(
        "PUT", "/api/agreement-templates/neighbour/agreement", json=body
    )
    assert resp.status == 403
    listing = await (await admin.get("/api/agreement-templates")).json()
    custom = [t for t in listing if t["customised"]]
    assert len(custom) == 1 and custom[0]["case_type"] == "neighbour"
    assert len(listing) == 12  # 6 case types × (agreement, failure record)

    mediator, applicant, respondent = await admitted_room(live)
    opened = (await mediator.call("agreement_open"))["agreement"]
    assert opened["title"] == "邻里纠纷调解协议书" and "本院定制模板" in opened["text"]
    assert "甲法院" in opened["text"]
    failed = (await mediator.call("agreement_open", {"kind": "failure_record"}))["agreement"]
    assert "无争议事实" in failed["text"] and "让步" in failed["text"]  # the exclusion notice
    await mediator.call("agreement_request_signatures", {"kind": "failure_record"})
    v = (await applicant.call("agreement_get", {"kind": "failure_record"}))["agreement"]
    for i, c in enumerate((applicant, respondent)):
        await c.call(
            "agreement_sign",
            {
                "kind": "failure_record",
                "version": v["version"],
                "text_sha256": v["text_sha256"],
                "confirm": True,
                "signature_png": signature_png(i),
            },
        )
    v = (await applicant.call("agreement_get", {"kind": "failure_record"}))["agreement"]
    assert v["status"] == "effective" and v["pdf_sha256"]


async def test_settlement_waits_for_the_signed_agreement(live: LiveSession) -> None:
    """调解成功 / 部分达成 with a drafted agreement only once every party has signed it."""
    mediator, applicant, _ = await admitted_room(live)
    await mediator.call("agreement_open")
    for outcome in ("settled", "partial"):
        with pytest.raises(SignalingFailure) as err:
            await mediator.call("end_session", {"outcome": outcome})
        assert err.value.code == "agreement_not_effective"
    # The room goes on; a failed mediation can always be closed.
    assert not applicant.saw("session_ended")
    await mediator.call("end_session", {"outcome": "failed", "note": "双方分歧较大"})
    await applicant.wait_until(lambda: applicant.saw("session_ended"))
