"""Identity check in the lobby: private check view, still, verification, admission rule,
encrypted storage, retention/hard delete."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.agreements.models import IdentityVerification
from server.models import AuditEvent
from server.state import STATE_KEY
from signaling.client import SignalingFailure
from signaling.features.identity_check import IDENTITY_CHECK
from tests.agreements.helpers import APPLICANT_ID, RESPONDENT_ID, join, last
from tests.signaling.conftest import LiveSession


def _require_identity(live: LiveSession) -> None:
    live.harness.app[STATE_KEY].part(IDENTITY_CHECK).required = True


async def test_check_view_still_verify_and_admission(live: LiveSession) -> None:
    _require_identity(live)
    mediator = await join(live, "mediator")
    applicant = await join(live, "applicant")
    respondent = await join(live, "respondent")
    app_pid, resp_pid = live.pids["applicant"], live.pids["respondent"]
    await mediator.wait_until(lambda: len(mediator.lobby()) == 2)

    # A bad checksum is refused with a field error; a good one is stored masked.
    with pytest.raises(SignalingFailure) as err:
        await applicant.call(
            "identity_submit", {"name": "申请人甲", "id_number": "330106199001011204"}
        )
    assert err.value.code == "invalid_id_number"
    ack = await applicant.call("identity_submit", {"name": "申请人甲", "id_number": APPLICANT_ID})
    assert ack["identity"]["id_masked"] == "3301**********1205"
    assert not ack["identity"]["verified"]

    # Unverified: not admitted without a written reason.
    with pytest.raises(SignalingFailure) as err:
        await mediator.call("admit", {"participant_id": app_pid})
    assert err.value.code == "not_verified"
    # Only the party's own identity; nobody else may verify online without a check view.
    with pytest.raises(SignalingFailure) as err:
        await mediator.call(
            "identity_verify", {"participant_id": app_pid, "method": "online_visual"}
        )
    assert err.value.code == "no_check"
    with pytest.raises(SignalingFailure) as err:
        await applicant.call(
            "identity_verify", {"participant_id": app_pid, "method": "online_visual"}
        )
    assert err.value.code == "forbidden"

    # The private check view: the lobby party may now send media, to the mediator only.
    await mediator.call("identity_check_open", {"participant_id": app_pid})
    await applicant.wait_until(lambda: applicant.saw("identity_check"))
    assert last(applicant, "identity_check")["open"] is True
    await mediator.start_media()
    await applicant.start_media()
    assert mediator.media is not None
    try:
        await mediator.media.wait_for_frames(app_pid, "video", 10, timeout_s=30)
    except TimeoutError:
        svc = live.harness.app[STATE_KEY].part(IDENTITY_CHECK).service
        lv = svc.rooms[live.session_id]
        print("SUBS", lv.room.subscriptions(), lv.room.checks)
        print("PEERS", lv.media.participant_ids)
        print("TRACKS", lv.media.published_tracks())
        print("MSUBS", lv.media.subscriptions(live.pids["mediator"]))
        print("EVENTS", [e for e, _ in mediator.events], [e for e, _ in applicant.events])
        raise
    service = live.harness.app[STATE_KEY].part(IDENTITY_CHECK).service
    subs = service.rooms[live.session_id].room.subscriptions()
    assert subs[app_pid] == set()  # the party receives nobody
    assert app_pid in subs[live.pids["mediator"]]
    assert resp_pid not in subs  # the other lobby party has no peer at all

    still = await mediator.call("identity_still", {"participant_id": app_pid}, timeout=20)
    assert len(still["still_sha256"]) == 64
    ver = await mediator.call(
        "identity_verify", {"participant_id": app_pid, "method": "online_visual"}
    )
    assert ver["identity"]["verified"] and ver["identity"]["still_sha256"] == still["still_sha256"]
    # The lobby list shows the verification (masked number, who, how, still hash).
    await mediator.wait_until(
        lambda: (
            (mediator.participant(app_pid) or {}).get("identity", {}) is not None
            and (mediator.participant(app_pid) or {}).get("identity", {}).get("verified") is True
        )
    )
    lobby = (await mediator.call("lobby_status"))["lobby"]
    entry = next(p for p in lobby if p["participant_id"] == app_pid)
    assert entry["identity"]["method"] == "online_visual"
    assert entry["identity"]["id_masked"] == "3301**********1205"

    await mediator.call("admit", {"participant_id": app_pid})
    await applicant.wait_until(lambda: applicant.presence == "admitted")

    # The respondent is admitted unverified only with a written, logged reason.
    await respondent.call("identity_submit", {"name": "被申请人乙", "id_number": RESPONDENT_ID})
    await mediator.call(
        "admit", {"participant_id": resp_pid, "override_reason": "证件遗失，已电话核实"}
    )
    await respondent.wait_until(lambda: respondent.presence == "admitted")

    state = live.harness.app[STATE_KEY]
    async with state.db.session() as db:
        actions = {
            (a.action, a.target): a.details
            for a in await db.scalars(
                select(AuditEvent).where(AuditEvent.session_id == live.session_id)
            )
        }
        rows = {
            r.participant_id: r
            for r in await db.scalars(
                select(IdentityVerification).where(
                    IdentityVerification.session_id == live.session_id
                )
            )
        }
    assert actions[("identity.override", resp_pid)]["reason"] == "证件遗失，已电话核实"
    assert actions[("identity.verified", app_pid)]["method"] == "online_visual"
    assert rows[app_pid].verified and rows[app_pid].still_sha256 == still["still_sha256"]
    assert rows[resp_pid].id_masked == "1101**********002X"

    # Stills are served to the session's staff only, and hard delete erases them.
    judge = await live.harness.login("judge_a")
    clerk_b = await live.harness.login("clerk_b")
    url = f"/api/sessions/{live.session_id}/identity/{app_pid}/still"
    resp = await judge.get(url)
    assert resp.status == 200 and resp.content_type == "image/jpeg"
    assert (await clerk_b.get(url)).status == 404
    anon = await live.harness.anon()
    assert (await anon.get(url)).status == 401
    listing = await (await judge.get(f"/api/sessions/{live.session_id}/identity")).json()
    assert {i["id_masked"] for i in listing} == {"3301**********1205", "1101**********002X"}
    admin = await live.harness.login("admin_a")
    purge = await admin.request("DELETE", f"/api/sessions/{live.session_id}/identity")
    assert purge.status == 200, await purge.text()
    assert (await purge.json())["files"] == 1
    assert (await judge.get(url)).status == 404
    async with state.db.session() as db:
        row = await db.scalar(
            select(IdentityVerification).where(IdentityVerification.participant_id == app_pid)
        )
        assert row is not None and row.purged_at is not None and row.id_cipher == ""
        assert row.id_masked  # the masked form stays with the sealed record


async def test_plain_number_is_not_in_the_database_file(live: LiveSession) -> None:
    applicant = await join(live, "applicant")
    await applicant.call("identity_submit", {"name": "申请人甲", "id_number": APPLICANT_ID})
    state = live.harness.app[STATE_KEY]
    await state.db.engine.dispose()  # checkpoint the WAL into the main file
    db_file = state.settings.data_dir / "shared-court.db"
    blobs = b"".join(p.read_bytes() for p in db_file.parent.glob("shared-court.db*") if p.is_file())
    assert b"3301**********1205" in blobs  # the row is there …
    assert APPLICANT_ID.encode() not in blobs  # … but never the plain number
    assert APPLICANT_ID[:14].encode() not in blobs
    async with state.db.session() as db:
        row = await db.scalar(select(IdentityVerification))
        assert row is not None and row.id_cipher.startswith("v1:")
        from server.agreements.identity import cipher, reveal

        assert reveal(state, row) == APPLICANT_ID
        assert row.id_hmac == cipher(state).lookup_hash(APPLICANT_ID)


async def test_terminal_attests_in_person(live: LiveSession) -> None:
    _require_identity(live)
    mediator = await join(live, "mediator")
    applicant = await join(live, "applicant")
    app_pid = live.pids["applicant"]
    await mediator.wait_until(lambda: len(mediator.lobby()) >= 1)
    # Staff may not claim an in-person check: only the terminal's officer attests.
    await applicant.call("identity_submit", {"name": "申请人甲", "id_number": APPLICANT_ID})
    with pytest.raises(SignalingFailure) as err:
        await mediator.call(
            "identity_verify", {"participant_id": app_pid, "method": "in_person_terminal"}
        )
    assert err.value.code == "forbidden"


async def test_terminal_attests_only_parties_it_registered_while_admitted(
    live_terminal: LiveSession,
) -> None:
    """The 庭务主任 vouches for people in front of the terminal: not for a party at home, not
    before the terminal is admitted, and never over a number the party entered."""
    live = live_terminal
    mediator = await join(live, "mediator")
    terminal = await join(live, "terminal")
    applicant = await join(live, "applicant")
    respondent = await join(live, "respondent")
    app_pid, resp_pid = live.pids["applicant"], live.pids["respondent"]
    await mediator.wait_until(lambda: len(mediator.lobby()) == 3)

    # Still in the lobby: the terminal may neither register nor attest.
    with pytest.raises(SignalingFailure) as err:
        await terminal.call(
            "identity_submit",
            {"participant_id": resp_pid, "name": "被申请人乙", "id_number": RESPONDENT_ID},
        )
    assert err.value.code == "not_admitted"
    await mediator.call("admit", {"participant_id": live.pids["terminal"]})
    await terminal.wait_until(lambda: terminal.presence == "admitted")

    # The applicant joined from home and entered their own number: the terminal can neither
    # replace it nor attest it.
    await applicant.call("identity_submit", {"name": "申请人甲", "id_number": APPLICANT_ID})
    with pytest.raises(SignalingFailure) as err:
        await terminal.call(
            "identity_submit",
            {"participant_id": app_pid, "name": "申请人甲", "id_number": RESPONDENT_ID},
        )
    assert err.value.code == "not_allowed"
    with pytest.raises(SignalingFailure) as err:
        await terminal.call(
            "identity_verify", {"participant_id": app_pid, "method": "in_person_terminal"}
        )
    assert err.value.code == "not_at_terminal"
    # Nor may the judge then admit the applicant without a reason.
    with pytest.raises(SignalingFailure) as err:
        await mediator.call("admit", {"participant_id": app_pid})
    assert err.value.code == "not_verified"

    # A party registered at the terminal is attested there.
    await terminal.call(
        "identity_submit",
        {"participant_id": resp_pid, "name": "被申请人乙", "id_number": RESPONDENT_ID},
    )
    ver = await terminal.call(
        "identity_verify", {"participant_id": resp_pid, "method": "in_person_terminal"}
    )
    assert ver["identity"]["verified"] and ver["identity"]["method"] == "in_person_terminal"
    await mediator.call("admit", {"participant_id": resp_pid})
    await respondent.wait_until(lambda: respondent.presence == "admitted")
