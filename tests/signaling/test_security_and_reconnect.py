from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from server.invites import invite_token
from server.models import Invite
from server.state import STATE_KEY
from signaling.client import RoomClient, SignalingFailure
from tests.signaling.conftest import LiveSession, make_session

# Default configuration (identity check required): unverified parties are admitted with the
# mediator's written reason, as the court rules demand.
ADMIT_REASON = "测试：身份未核验，调解员书面准许 / test: admitted unverified with a reason"


async def _refused(live: LiveSession, token: str) -> str:
    c = RoomClient(live.base_url, token=token)
    live.clients.append(c)
    with pytest.raises(SignalingFailure) as exc:
        await c.connect()
    return exc.value.code


async def test_expired_revoked_and_forged_tokens_are_refused(live: LiveSession) -> None:
    state = live.harness.app[STATE_KEY]
    async with state.db.session() as s:
        invite = await s.get(Invite, (state.signer.verify("join", live.tokens["applicant"]))["inv"])
        assert invite is not None
        expired = state.signer.sign(
            "join",
            {
                "inv": invite.id,
                "sid": invite.session_id,
                "pid": invite.participant_id,
                "role": "party",
            },
            time.time() - 5,
        )
        invite.revoked_at = datetime.now(UTC)
        revoked = invite_token(state.signer, invite)
    assert await _refused(live, expired) == "link_expired"
    assert await _refused(live, revoked) == "link_revoked"
    assert await _refused(live, "join.e30.AAAA") == "link_invalid"
    terminal_kind = state.signer.sign("term", {"tid": "x", "kp": "y"}, time.time() + 60)
    assert await _refused(live, terminal_kind) == "link_invalid"
    # No room was created by any refused attempt.
    from server.app import SIGNALING_KEY

    assert live.session_id not in live.harness.app[SIGNALING_KEY].rooms


async def test_token_of_another_session_joins_only_that_session(live: LiveSession) -> None:
    other_id, other_tokens, _ = await make_session(live.harness)
    c = RoomClient(live.base_url, token=other_tokens["applicant"])
    live.clients.append(c)
    await c.connect()
    state = await c.join()
    assert state["session_id"] == other_id != live.session_id


async def test_malformed_events_get_error_acks_and_room_stays_healthy(live: LiveSession) -> None:
    mediator = await live.joined("mediator")
    await mediator.start_media()
    applicant = await live.joined("applicant")
    await mediator.wait_until(lambda: len(mediator.lobby()) == 1)
    await mediator.call(
        "admit", {"participant_id": live.pids["applicant"], "override_reason": ADMIT_REASON}
    )
    await applicant.wait_until(lambda: applicant.presence == "admitted")
    bad = [
        ("offer", {"sdp": "this is not sdp at all", "type": "offer"}, "media_error"),
        ("offer", {"sdp": "x" * 70000, "type": "offer"}, "validation_error"),
        ("chat", {"text": "y" * 200_000}, "payload_too_large"),
        ("chat", {"text": ""}, "validation_error"),
        ("admit", {"participant_id": "not-an-id"}, "validation_error"),
        ("mute", {"kind": "smell", "muted": True}, "validation_error"),
        ("caucus_open", {"groups": []}, "validation_error"),
        ("no_such_event", {}, "unknown_event"),
    ]
    for event, data, code in bad:
        ack = await applicant.sio.call(event, data, timeout=10)
        assert ack["ok"] is False and ack["error"]["code"] == code, (event, ack)
    ack = await applicant.sio.call("chat", "a string payload", timeout=10)
    assert ack["error"]["code"] == "invalid_payload"
    # The applicant can still set up media and receives the mediator.
    await applicant.start_media()
    assert applicant.media is not None
    await applicant.media.wait_for_frames(live.pids["mediator"], "video", 10, timeout_s=30)


async def test_reconnect_rejoins_without_lobby(live: LiveSession) -> None:
    mediator = await live.joined("mediator")
    await mediator.start_media()
    applicant = await live.joined("applicant")
    await mediator.wait_until(lambda: len(mediator.lobby()) == 1)
    await mediator.call(
        "admit", {"participant_id": live.pids["applicant"], "override_reason": ADMIT_REASON}
    )
    await applicant.wait_until(lambda: applicant.presence == "admitted")
    await applicant.start_media()
    assert mediator.media is not None
    await mediator.media.wait_for_frames(live.pids["applicant"], "video", 5, timeout_s=30)

    # The browser's connection dies: peer connection and socket gone.
    await applicant.close()
    await mediator.wait_until(
        lambda: (
            (mediator.participant(live.pids["applicant"]) or {}).get("presence") == "reconnecting"
        ),
        what="reconnecting state",
    )
    await asyncio.sleep(0.5)
    again = live.client("applicant")
    await again.connect()
    state = await again.join()
    assert state["you"]["presence"] == "admitted"  # no second lobby
    await again.start_media()
    await mediator.media.wait_for_frames(live.pids["applicant"], "video", 10, timeout_s=30)
    assert again.media is not None
    await again.media.wait_for_frames(live.pids["mediator"], "video", 10, timeout_s=30)

    from sqlalchemy import select

    from server.models import AuditEvent

    async with live.harness.app[STATE_KEY].db.session() as s:
        rows = list(
            await s.scalars(select(AuditEvent).where(AuditEvent.session_id == live.session_id))
        )
    actions = [r.action for r in rows]
    assert "participant.disconnect" in actions
    rejoin = [
        r for r in rows if r.action == "participant.join" and "reconnected_after_s" in r.details
    ]
    assert rejoin and rejoin[0].details["reconnected_after_s"] > 0


async def test_reconnect_after_grace_goes_back_to_lobby(live: LiveSession) -> None:
    live.harness.app[STATE_KEY].settings.reconnect_grace_seconds = 0.3
    mediator = await live.joined("mediator")
    applicant = await live.joined("applicant")
    await mediator.wait_until(lambda: len(mediator.lobby()) == 1)
    await mediator.call(
        "admit", {"participant_id": live.pids["applicant"], "override_reason": ADMIT_REASON}
    )
    await applicant.wait_until(lambda: applicant.presence == "admitted")
    await applicant.close()
    await asyncio.sleep(1.0)
    again = await live.joined("applicant")
    assert again.presence == "lobby"


async def test_four_participants_all_receive_each_other(live: LiveSession) -> None:
    _, tokens, pids = await make_session(live.harness, n_parties=3)
    clients = {}
    for who in ("mediator", "applicant", "respondent", "agent"):
        c = RoomClient(live.base_url, token=tokens[who])
        live.clients.append(c)
        await c.connect()
        await c.join()
        clients[who] = c
    med = clients["mediator"]
    await med.wait_until(lambda: len(med.lobby()) == 3)
    for who in ("applicant", "respondent", "agent"):
        await med.call("admit", {"participant_id": pids[who], "override_reason": ADMIT_REASON})
    for c in clients.values():
        await c.wait_until(lambda c=c: c.presence == "admitted")
        await c.start_media()
    for who, c in clients.items():
        assert c.media is not None
        for other in clients:
            if other != who:
                await c.media.wait_for_frames(pids[other], "video", 5, timeout_s=40)
                assert any(t.width == 640 for t in c.media.tracks_from(pids[other], "video"))


async def test_end_session_records_outcome(live: LiveSession) -> None:
    mediator = await live.joined("mediator")
    applicant = await live.joined("applicant")
    await mediator.call("start_session")
    await mediator.call("end_session", {"outcome": "partial", "note": "部分达成", "no_agreement_reason": "部分事项当场履行"})
    await applicant.wait_until(lambda: applicant.saw("session_ended"))
    from server.models import MediationSession

    async with live.harness.app[STATE_KEY].db.session() as s:
        session = await s.get(MediationSession, live.session_id)
        assert session is not None
        assert session.status.value == "ended" and session.outcome is not None
        assert session.outcome.value == "partial" and session.started_at is not None
    with pytest.raises(SignalingFailure) as exc:
        await live.client("respondent").connect()
    assert exc.value.code == "session_closed"
