"""A revoked join link ends the sockets already using it, and only the socket that joined may
act for its participant (attack regression tests, default configuration)."""

from __future__ import annotations

import asyncio

import pytest

from server.state import STATE_KEY
from signaling.client import RoomClient, SignalingFailure
from tests.agreements.helpers import admitted_room
from tests.signaling.conftest import LiveSession


def invite_id(live: LiveSession, who: str) -> str:
    payload = live.harness.app[STATE_KEY].signer.verify("join", live.tokens[who])
    return str(payload["inv"])


async def wait_disconnected(c: RoomClient, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while c.sio.connected:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("socket still connected after the link was revoked")
        await asyncio.sleep(0.05)


async def test_a_socket_that_never_joined_cannot_act_for_the_participant(
    live: LiveSession,
) -> None:
    _mediator, applicant, _respondent = await admitted_room(live)
    second = live.client("applicant")
    await second.connect()  # same link, never sends join
    for event, data in (
        ("chat", {"text": "我是冒充的"}),
        ("offer", {"type": "offer", "sdp": "v=0\r\n"}),
        ("raise_hand", {"raised": True}),
        ("identity_submit", {"name": "申请人甲", "id_number": "11010519491231002x"}),
    ):
        with pytest.raises(SignalingFailure) as err:
            await second.call(event, data)
        assert err.value.code == "not_joined", event
    # The party's own socket still works.
    await applicant.call("chat", {"text": "您好"})


async def test_revoking_a_link_ends_its_sockets_at_once(live: LiveSession) -> None:
    mediator, applicant, _respondent = await admitted_room(live)
    spare = live.client("applicant")
    await spare.connect()  # opened before the revocation, would join afterwards
    judge = await live.harness.login("judge_a")
    resp = await judge.post(f"/api/invites/{invite_id(live, 'applicant')}/revoke")
    assert resp.status == 200, await resp.text()
    await wait_disconnected(applicant)
    await wait_disconnected(spare)
    # The participant left the room (the mediator sees it), and the link cannot come back.
    app_pid = live.pids["applicant"]
    await mediator.wait_until(lambda: mediator.participant(app_pid) is None)
    again = live.client("applicant")
    with pytest.raises(SignalingFailure) as err:
        await again.connect()
    assert err.value.code == "link_revoked"
    # Other participants are untouched.
    assert mediator.sio.connected


async def test_cancelling_a_session_ends_every_link_socket(live: LiveSession) -> None:
    # Parties wait in the lobby of a session that has not started; the court cancels it.
    applicant = await live.joined("applicant")
    respondent = await live.joined("respondent")
    judge = await live.harness.login("judge_a")
    resp = await judge.post(f"/api/sessions/{live.session_id}/cancel")
    assert resp.status == 200, await resp.text()
    await wait_disconnected(applicant)
    await wait_disconnected(respondent)


async def test_a_password_reset_ends_the_users_sessions_and_live_sockets(
    live: LiveSession,
) -> None:
    from tests.signaling.test_seats import staff_room_client

    judge_socket = await staff_room_client(live, "judge_a")
    judge_http = await live.harness.login("judge_a")
    assert (await judge_http.get("/api/auth/me")).status == 200
    admin = await live.harness.login("admin_a")
    uid = live.harness.seed.users["judge_a"]
    resp = await admin.patch(f"/api/users/{uid}", json={"password": "a-brand-new-pass-2026"})
    assert resp.status == 200, await resp.text()
    # Whoever held the old password is signed out: the browser session and the live room.
    assert (await judge_http.get("/api/auth/me")).status == 401
    await wait_disconnected(judge_socket)
