"""The legal record tells the truth: caucus drafts stay in their group, signatures are requested
only from people who can read the text, voided signatures are owed until given again, and the
sealed record states identity checks as they happened. Real socket clients, default settings
(identity check required)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from server.agreements.facts import session_facts
from server.models import Court, Recording
from server.state import STATE_KEY
from signaling.client import RoomClient, SignalingFailure
from tests.agreements.helpers import (
    ADMIT_REASON,
    APPLICANT_ID,
    admitted_room,
    join,
    last,
    signature_png,
)
from tests.signaling.conftest import LiveSession


def doc_of(c: RoomClient) -> dict[str, Any]:
    return (last(c, "agreement_state") or {}).get("agreement") or {}


async def sign(c: RoomClient, view: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    ack: dict[str, Any] = await c.call(
        "agreement_sign",
        {
            "version": view["version"],
            "text_sha256": view["text_sha256"],
            "confirm": True,
            "signature_png": signature_png(seed),
        },
    )
    return ack


async def caucus_with(live: LiveSession, mediator: RoomClient, who: str) -> str:
    ack = await mediator.call(
        "caucus_open",
        {"groups": [{"name": "背靠背", "members": [live.pids["mediator"], live.pids[who]]}]},
    )
    return str(next(iter(ack["groups"])))


async def test_a_caucus_edit_never_reaches_the_main_room(live: LiveSession) -> None:
    mediator, applicant, respondent = await admitted_room(live)
    opened = (await mediator.call("agreement_open"))["agreement"]
    assert opened["audience"] == ["main"]
    shared_text = opened["text"]
    group = await caucus_with(live, mediator, "applicant")

    secret = "（背靠背）申请人可接受分期付款的底线：三期"
    ack = await mediator.call(
        "agreement_edit", {"text": shared_text + secret, "base_version": opened["version"]}
    )
    # The editor is told where the edit went: nowhere but the staff (the caucus is not in the
    # audience, and the main room is not where the mediator is).
    assert ack["reach"] == []
    await mediator.wait_until(lambda: doc_of(mediator).get("version") == 2)
    staff_view = doc_of(mediator)
    assert staff_view["edit_reach"] == [] and staff_view["stale_groups"] == ["main"]
    assert staff_view["shown"] == {"main": 1}

    await asyncio.sleep(0.3)
    for c in (respondent, applicant):
        for _, data in c.events:
            if isinstance(data, dict) and isinstance(data.get("agreement"), dict):
                assert secret not in (data["agreement"].get("text") or "")
    # The main room still reads what it was shown, at its version.
    got = (await respondent.call("agreement_get"))["agreement"]
    assert got["version"] == 1 and got["text"] == shared_text
    # Sharing shows the current text to every chosen group (the editor's confirmation names
    # who will see it); shared with the caucus on purpose, it is shown there, and only there.
    await mediator.call("agreement_share", {"groups": [group]})
    await applicant.wait_until(lambda: secret in (doc_of(applicant).get("text") or ""))
    got = (await respondent.call("agreement_get"))["agreement"]
    assert got["readable"] is False and "text" not in got


async def test_a_draft_begun_in_caucus_falls_back_when_the_caucus_closes(
    live: LiveSession,
) -> None:
    mediator, applicant, respondent = await admitted_room(live)
    group = await caucus_with(live, mediator, "applicant")
    opened = (await mediator.call("agreement_open"))["agreement"]
    assert opened["audience"] == [group]
    await mediator.call("caucus_close")
    await mediator.wait_until(lambda: doc_of(mediator).get("audience") == [])
    # Nobody can read it: asking for signatures is refused, naming who cannot read.
    with pytest.raises(SignalingFailure) as err:
        await mediator.call("agreement_request_signatures")
    assert err.value.code == "signer_cannot_read"
    assert "申请人甲" in err.value.message and "被申请人乙" in err.value.message
    # The judge shares it to the main room (this failed with 分组不存在 before).
    await mediator.call("agreement_share", {"groups": ["main"]})
    for c in (applicant, respondent):
        got = (await c.call("agreement_get"))["agreement"]
        assert got["readable"] and got["text"] == opened["text"]
    view = (await mediator.call("agreement_request_signatures"))["agreement"]
    assert view["status"] == "signing"


async def test_voided_signature_is_owed_until_signed_again_or_withdrawn(
    live: LiveSession,
) -> None:
    mediator, _applicant, respondent = await admitted_room(live)
    opened = (await mediator.call("agreement_open"))["agreement"]
    await mediator.call("agreement_request_signatures")
    view = (await respondent.call("agreement_get"))["agreement"]
    assert view["signable"] and view["voided"] == []
    await sign(respondent, view)
    assert (await respondent.call("agreement_get"))["agreement"]["signable"] is False

    await mediator.call(
        "agreement_edit", {"text": opened["text"] + "\n补充条款", "base_version": 1}
    )
    resp_pid = live.pids["respondent"]
    await respondent.wait_until(lambda: resp_pid in (doc_of(respondent).get("voided") or []))
    # Persistent: a fresh read (a reload) still says so.
    again = (await respondent.call("agreement_get"))["agreement"]
    assert again["voided"] == [resp_pid] and again["signable"] and again["version"] == 2
    # The old version's hash no longer signs.
    with pytest.raises(SignalingFailure) as err:
        await sign(respondent, view)
    assert err.value.code == "version_conflict"
    await sign(respondent, again, seed=3)
    assert (await respondent.call("agreement_get"))["agreement"]["voided"] == []

    # Voided again, then the judge withdraws the request: the notice ends.
    await mediator.call(
        "agreement_edit", {"text": again["text"] + "\n再补充", "base_version": 2}
    )
    assert (await respondent.call("agreement_get"))["agreement"]["voided"] == [resp_pid]
    withdrawn = (await mediator.call("agreement_withdraw"))["agreement"]
    assert withdrawn["status"] == "draft" and withdrawn["voided"] == []
    got = (await respondent.call("agreement_get"))["agreement"]
    assert got["voided"] == [] and got["signable"] is False


async def test_settlement_without_agreement_needs_a_reason_or_court_setting(
    live: LiveSession,
) -> None:
    mediator, _applicant, _respondent = await admitted_room(live)
    await mediator.call("start_session")
    with pytest.raises(SignalingFailure) as err:
        await mediator.call("end_session", {"outcome": "settled"})
    assert err.value.code == "no_agreement_reason_required"
    state = live.harness.app[STATE_KEY]
    async with state.db.session() as db:
        court = await db.get(Court, live.harness.seed.court_a)
        assert court is not None
        court.settlement_requires_agreement = True
    try:
        with pytest.raises(SignalingFailure) as err:
            await mediator.call(
                "end_session", {"outcome": "settled", "no_agreement_reason": "当场履行完毕"}
            )
        assert err.value.code == "agreement_required"
    finally:
        async with state.db.session() as db:
            court = await db.get(Court, live.harness.seed.court_a)
            assert court is not None
            court.settlement_requires_agreement = False
    await mediator.call(
        "end_session", {"outcome": "settled", "no_agreement_reason": "被申请人当场支付完毕"}
    )
    async with state.db.session() as db:
        facts = await session_facts(db, live.session_id)
    assert facts.outcome == "settled" and facts.no_agreement_reason == "被申请人当场支付完毕"


async def sealed_manifest(live: LiveSession) -> dict[str, Any]:
    state = live.harness.app[STATE_KEY]
    for _ in range(200):
        async with state.db.session() as db:
            row = await db.scalar(select(Recording).where(Recording.session_id == live.session_id))
        if row is not None:
            path = Path(state.settings.effective_recordings_dir) / row.folder / "manifest.json"
            if path.exists():
                manifest: dict[str, Any] = json.loads(path.read_text())
                return manifest
        await asyncio.sleep(0.1)
    raise AssertionError("no sealed manifest")


async def test_sealed_manifest_states_identity_checks_as_logged(
    live_terminal: LiveSession,
) -> None:
    live = live_terminal
    mediator = await join(live, "mediator")
    terminal = await join(live, "terminal")
    applicant = await join(live, "applicant")
    respondent = await join(live, "respondent")
    await mediator.wait_until(lambda: len(mediator.lobby()) == 3)
    await mediator.call("admit", {"participant_id": live.pids["terminal"]})
    # The applicant is registered and checked in person at the terminal; the respondent is not
    # checked.
    await terminal.wait_until(lambda: terminal.presence == "admitted")
    await terminal.call(
        "identity_submit",
        {"participant_id": live.pids["applicant"], "name": "申请人甲", "id_number": APPLICANT_ID},
    )
    await terminal.call(
        "identity_verify",
        {"participant_id": live.pids["applicant"], "method": "in_person_terminal"},
    )
    await mediator.call("admit", {"participant_id": live.pids["applicant"]})
    await mediator.call(
        "admit", {"participant_id": live.pids["respondent"], "override_reason": ADMIT_REASON}
    )
    for c in (applicant, respondent):
        await c.wait_until(lambda c=c: c.presence == "admitted")
    await mediator.call("start_session")
    await mediator.call("end_session", {"outcome": "failed"})
    manifest = await sealed_manifest(live)
    by_pid = {a["payload"]["participant"]: a["payload"] for a in manifest["admissions"]}
    assert by_pid[live.pids["applicant"]]["identity_checked"] is True
    assert by_pid[live.pids["respondent"]]["identity_checked"] is False
    assert by_pid[live.pids["respondent"]]["override_reason"] == ADMIT_REASON
    assert by_pid[live.pids["terminal"]]["identity_checked"] is False
    assert "override_reason" not in by_pid[live.pids["terminal"]]
    # The same facts, derived from the event log, are what documents print.
    state = live.harness.app[STATE_KEY]
    async with state.db.session() as db:
        facts = await session_facts(db, live.session_id)
    assert facts.identity_checked(live.pids["applicant"])
    assert not facts.identity_checked(live.pids["respondent"])
    assert facts.identity_line(live.pids["respondent"]) == (
        f"身份未核验（调解员书面准入：{ADMIT_REASON}）"
    )
    assert set(facts.present) >= {live.pids[w] for w in ("applicant", "respondent", "terminal")}
