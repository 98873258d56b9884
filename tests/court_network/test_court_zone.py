"""A court outside UTC+8 (Court.timezone): its statistics, imported plain dates and booking slots
follow its own days, not China Standard Time. Asia/Urumqi is UTC+6 and Asia/Tokyo UTC+9 all
year (no daylight saving), so every instant below is fixed."""

from __future__ import annotations

import csv
import io
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from server.court_network.models import Intake, IntakeChannel, IntakeStatus, IntakeTransition
from server.models import Case, CaseType, Court
from server.state import STATE_KEY
from server.zones import zone_named, zone_of
from tests.api.world import create_case, create_session, ok_json, unique
from tests.conftest import Harness
from tests.court_network.test_booking import assigned_intake, book
from tests.court_network.test_import_history import names

URUMQI = ZoneInfo("Asia/Urumqi")
TOKYO = ZoneInfo("Asia/Tokyo")


async def set_zone(h: Harness, name: str) -> None:
    admin = await h.login("admin_a")
    await ok_json(await admin.patch(f"/api/courts/{h.seed.court_a}", json={"timezone": name}))


def at(local: str, zone: ZoneInfo) -> datetime:
    return datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=zone).astimezone(UTC)


# --- the helper --------------------------------------------------------------------------------
async def test_unknown_zone_falls_back_to_china_with_a_warning(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    zone_named.cache_clear()
    async with harness.app[STATE_KEY].db.session() as db:
        court = await db.get(Court, harness.seed.court_a)
        assert court is not None
        court.timezone = "Mars/Olympus"  # stored before the API validated names
    with caplog.at_level(logging.WARNING, logger="server.zones"):
        async with harness.app[STATE_KEY].db.session() as db:
            assert await zone_of(db, harness.seed.court_a) == ZoneInfo("Asia/Shanghai")
            assert await zone_of(db, harness.seed.court_a) == ZoneInfo("Asia/Shanghai")
    assert [r.getMessage() for r in caplog.records].count(
        "unknown court time zone 'Mars/Olympus': using Asia/Shanghai"
    ) == 1  # cached: once, not per call
    assert zone_named("Asia/Urumqi") == URUMQI and zone_named("") == ZoneInfo("Asia/Shanghai")


# --- statistics --------------------------------------------------------------------------------
async def _seed_intake(
    h: Harness, received: datetime, closed: datetime | None, status: IntakeStatus
) -> None:
    async with h.app[STATE_KEY].db.session() as s:
        number = unique("ZONE")
        case = Case(court_id=h.seed.court_a, case_number=number, case_type=CaseType.labour)
        s.add(case)
        await s.flush()
        intake = Intake(
            court_id=h.seed.court_a,
            number=number,
            case_id=case.id,
            channel=IntakeChannel.staff,
            case_type=CaseType.labour,
            applicant_name="甲",
            applicant_phone="13000000000",
            respondent_name="乙",
            status=status,
            received_at=received,
            closed_at=closed,
        )
        s.add(intake)
        await s.flush()
        steps = [("received", received)] + ([(status.value, closed)] if closed else [])
        prev = None
        for step, when in steps:
            s.add(
                IntakeTransition(
                    intake_id=intake.id, from_status=prev, to_status=step, at=when, actor="seed"
                )
            )
            prev = step


async def test_statistics_count_the_court_s_local_days(h2: Any) -> None:
    """23:30 in Urumqi is 01:30 the next day in Beijing: a dispute received on 31 January at
    23:30 is January's, one received on New Year's Eve at 23:30 is last year's."""
    h, n = h2
    await set_zone(h, "Asia/Urumqi")
    await _seed_intake(h, at("2026-01-31 23:30", URUMQI), None, IntakeStatus.received)
    await _seed_intake(
        h,
        at("2025-12-31 23:30", URUMQI),
        at("2026-03-31 23:30", URUMQI),
        IntakeStatus.settled,
    )
    got = await ok_json(await n.judge.get("/api/network/stats?year=2026"))
    assert (got["disputes"]["value"], got["disputes"]["previous"]) == (1, 1)
    months = {m["month"]: m for m in got["by_month"]}
    assert [months[m]["disputes"]["value"] for m in (1, 2)] == [1, 0]
    assert [months[m]["settled"]["value"] for m in (3, 4)] == [1, 0]
    assert got["settled"]["value"] == 1
    # the export counts the same days
    text = (await (await n.clerk.get("/api/network/stats.csv?year=2026")).read()).decode(
        "utf-8-sig"
    )
    rows = {
        (r["key"], r["metric"]): r["value"]
        for r in csv.DictReader(io.StringIO(text))
        if r["section"] == "by_month"
    }
    assert rows[("2026-01", "disputes")] == "1" and rows[("2026-02", "disputes")] == "0"
    assert rows[("2026-03", "settled")] == "1" and rows[("2026-04", "settled")] == "0"


# --- import ------------------------------------------------------------------------------------
async def test_imported_plain_dates_are_the_court_s_local_midnight(h2: Any) -> None:
    h, n = h2
    await set_zone(h, "Asia/Tokyo")
    courts, _ = await names(n)
    applicant = unique("东京申请人")
    raw = (
        "申请人,被申请人,案件类型,受理日期,结案日期,结果,共享法庭\r\n"
        f"{applicant},被申请人甲,劳动争议,2025-03-01,2025-03-02,调解成功,{courts['village']}\r\n"
    ).encode()
    csv_headers = {"Content-Type": "text/csv"}
    pv = await ok_json(
        await n.clerk.post("/api/network/import/cases/preview", data=raw, headers=csv_headers)
    )
    assert pv["valid"] is True, pv["errors"]
    # Tokyo midnight of 1 March is 15:00 UTC the day before (China's would be 16:00)
    assert pv["rows"][0]["received_at"].startswith("2025-02-28T15:00:00")
    out = await ok_json(
        await n.clerk.post("/api/network/import/cases", data=raw, headers=csv_headers), 201
    )
    assert out["imported"] == 1
    async with h.app[STATE_KEY].db.session() as s:
        intake = await s.scalar(select(Intake).where(Intake.applicant_name == applicant))
        assert intake is not None
        assert intake.received_at == datetime(2025, 2, 28, 15, 0, tzinfo=UTC)
        assert intake.closed_at == datetime(2025, 3, 1, 15, 0, tzinfo=UTC)
        # its number carries the local day of receipt
        assert intake.number.startswith("TJ20250301"), intake.number
    stats = await ok_json(await n.judge.get("/api/network/stats?year=2025"))
    months = {m["month"]: m["disputes"]["value"] for m in stats["by_month"]}
    assert (months[2], months[3]) == (0, 1)


# --- booking -----------------------------------------------------------------------------------
async def test_booking_slots_are_the_court_s_working_hours(h2: Any) -> None:
    h, n = h2
    await set_zone(h, "Asia/Urumqi")
    intake = await assigned_intake(h, n)
    day = (datetime.now(URUMQI) + timedelta(days=2)).date()
    out = await ok_json(
        await n.terminal.get(
            "/api/network/terminal/slots",
            headers=n.tauth,
            params={"intake_id": intake["id"], "date": day.isoformat()},
        )
    )
    assert out["utc_offset"] == "+06:00"
    first = out["slots"][0]
    nine = datetime(day.year, day.month, day.day, 9, 0, tzinfo=URUMQI)
    assert first["local_start"] == "09:00"
    assert datetime.fromisoformat(first["start"]) == nine  # 03:00 UTC, not 01:00
    # 09:00 in Beijing is 07:00 in Urumqi: before the court's working hours
    beijing_nine = datetime(day.year, day.month, day.day, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    refused = await book(n, intake["id"], beijing_nine)
    assert refused.status == 400, await refused.text()
    body = await refused.json()
    assert body["error"]["code"] == "booking_not_on_slot"
    assert "(UTC+6)" in body["error"]["message"]
    booked = await book(n, intake["id"], nine)
    assert booked.status == 201, await booked.text()


# --- the terminal's day ------------------------------------------------------------------------
async def test_terminal_schedule_is_the_court_s_today(h2: Any) -> None:
    """Today's sessions at a terminal: the court's today. One session at 23:30 tonight in
    Urumqi (belongs) and one at 00:30 tomorrow (does not): China's day would take exactly one
    of the two wrongly, whatever the hour the test runs."""
    h, n = h2
    await set_zone(h, "Asia/Urumqi")
    today = datetime.now(URUMQI).date()
    tonight = datetime(today.year, today.month, today.day, 23, 30, tzinfo=URUMQI)
    after_midnight = tonight + timedelta(hours=1)
    case = await create_case(n.clerk)
    ids = [
        (
            await create_session(
                n.clerk,
                case["id"],
                h.seed.users["mediator_a"],
                at=when,
                terminal_id=n.terminal_id,
            )
        )["id"]
        for when in (tonight, after_midnight)
    ]
    listed = await ok_json(await n.terminal.get("/api/terminal/schedule", headers=n.tauth))
    assert [item["session"]["id"] for item in listed] == ids[:1]
