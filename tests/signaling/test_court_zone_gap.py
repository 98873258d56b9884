"""The restart notice (服务器中断 HH:MM:SS–HH:MM:SS) states the gap in the court's own time zone
(Court.timezone), not in China Standard Time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from server.app import SIGNALING_KEY
from server.models import Court
from server.state import STATE_KEY
from signaling.live_room import ServerGap
from tests.signaling.conftest import LiveSession


async def test_restart_notice_states_the_gap_in_the_court_s_zone(live: LiveSession) -> None:
    async with live.harness.app[STATE_KEY].db.session() as db:
        court = await db.get(Court, live.harness.seed.court_a)
        assert court is not None
        court.timezone = "Asia/Tokyo"  # UTC+9 all year
    await live.joined("mediator")
    room = live.harness.app[SIGNALING_KEY].rooms[live.session_id]
    # As the store sets it when the room is restored after a restart.
    room.resumed_gap = ServerGap(
        start=datetime(2026, 3, 1, 1, 2, 3, tzinfo=UTC),
        end=datetime(2026, 3, 1, 1, 4, 5, tzinfo=UTC),
        clean=True,
    )
    notices: list[dict[str, Any]] = []
    again = live.client("mediator")
    await again.connect()
    again.sio.on("room_notice", lambda data: notices.append(data))
    await again.join(consent=True)
    await again.wait_until(
        lambda: any(n["reason"] == "server_restarted" for n in notices), what="restart notice"
    )
    notice = next(n for n in notices if n["reason"] == "server_restarted")
    assert "服务器中断 10:02:03–10:04:05" in notice["message"], notice["message"]
    assert "the server was down 10:02:03–10:04:05" in notice["message"]
    assert notice["gap_start"] == "2026-03-01T01:02:03+00:00"
