"""Who may hold a seat: a staff login is never taken over by the seat's join link, and a party's
second device replaces the first with a notice to the mediator and an audit row."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.models import AuditEvent
from server.state import STATE_KEY
from signaling.client import RoomClient, SignalingFailure
from tests.conftest import PASSWORD
from tests.signaling.conftest import LiveSession


async def staff_room_client(live: LiveSession, username: str = "judge_a") -> RoomClient:
    """A console's connection: the staff session cookie, no join link."""
    staff = await live.harness.login(username, PASSWORD)
    jar = staff.client.session.cookie_jar.filter_cookies(staff.client.make_url("/"))
    c = RoomClient(
        live.base_url, session_id=live.session_id, cookies={"sc_session": jar["sc_session"].value}
    )
    live.clients.append(c)
    await c.connect()
    await c.join(consent=True)
    return c


async def test_mediator_link_cannot_take_over_a_signed_in_console(live: LiveSession) -> None:
    console = await staff_room_client(live)
    assert console.state["you"]["presence"] == "admitted"
    intruder = live.client("mediator")
    await intruder.connect()
    with pytest.raises(SignalingFailure) as exc:
        await intruder.join(consent=True)
    assert exc.value.code == "seat_taken"
    # The console keeps its seat and its controls.
    assert not console.saw("replaced")
    await console.call("lobby_status")
    assert console.sio.connected


async def test_console_reloading_keeps_its_seat_against_the_link(live: LiveSession) -> None:
    console = await staff_room_client(live)
    await console.sio.disconnect()
    await console.wait_until(lambda: console.saw("disconnect"), what="disconnect")
    # Within the grace period the seat is kept for the signed-in console.
    intruder = live.client("mediator")
    await intruder.connect()
    with pytest.raises(SignalingFailure):
        await intruder.join(consent=True)
    again = await staff_room_client(live)
    assert again.state["you"]["presence"] == "admitted"


async def test_mediator_link_still_works_where_no_console_holds_the_seat(
    live: LiveSession,
) -> None:
    """Line checks (`shared-court probe` with the mediator's link) keep working."""
    probe = await live.joined("mediator")
    assert probe.state["you"]["presence"] == "admitted"
    # A signed-in console takes the seat from a link (newest connection, stronger credential).
    console = await staff_room_client(live)
    await probe.wait_until(lambda: probe.saw("replaced"), what="link replaced by console")
    assert console.state["you"]["presence"] == "admitted"


async def test_party_second_device_replaces_the_first_with_notice_and_audit(
    live: LiveSession,
) -> None:
    mediator = await live.joined("mediator")
    notices: list[dict[str, object]] = []
    mediator.sio.on("room_notice", lambda data: notices.append(data))
    phone = await live.joined("applicant")
    await mediator.call(
        "admit", {"participant_id": live.pids["applicant"], "override_reason": "测试"}
    )
    tablet = await live.joined("applicant")
    await phone.wait_until(lambda: phone.saw("replaced"), what="first device told")
    await mediator.wait_until(lambda: bool(notices), what="mediator notice")
    assert notices[0]["reason"] == "participant_replaced"
    assert "已从另一设备加入" in str(notices[0]["message"])
    assert tablet.state["you"]["presence"] == "admitted"
    state = live.harness.app[STATE_KEY]
    async with state.db.session() as s:
        rows = (
            await s.scalars(
                select(AuditEvent).where(
                    AuditEvent.session_id == live.session_id,
                    AuditEvent.action == "participant.replaced",
                )
            )
        ).all()
    assert [r.target for r in rows] == [live.pids["applicant"]]
