"""The recordings search's dates are calendar days of the court's time zone (Court.timezone)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from server.models import Court, MediationSession
from server.state import STATE_KEY
from tests.api.world import ok_json
from tests.archive.recorded import make_recording
from tests.conftest import Harness


async def test_search_dates_are_the_court_s_days(harness: Harness) -> None:
    rec = await make_recording(harness, seconds=1.0)
    async with harness.app[STATE_KEY].db.session() as db:
        court = await db.get(Court, harness.seed.court_a)
        session = await db.get(MediationSession, rec.session_id)
        assert court is not None and session is not None
        court.timezone = "Asia/Urumqi"  # UTC+6 all year
        # 23:30 on 31 January in Urumqi: 1 February already in Beijing
        session.scheduled_at = datetime(2026, 1, 31, 23, 30, tzinfo=ZoneInfo("Asia/Urumqi"))
    clerk = await harness.login("clerk_a")

    async def found(day: str) -> list[str]:
        rows = await ok_json(
            await clerk.get("/api/recordings", params={"date_from": day, "date_to": day})
        )
        return [r["session_id"] for r in rows]

    assert await found("2026-01-31") == [rec.session_id]
    assert await found("2026-02-01") == []
