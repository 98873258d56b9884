"""Booking a session from a village terminal: slots from the working hours, refused times, a
slot booked once even by parallel requests, and the assigned mediator in the terminal's list."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from server import scheduling
from server.config import Settings
from server.court_network import booking
from server.http.errors import ApiError
from tests.api.test_postgres import (  # noqa: F401  (fixtures of the PostgreSQL test)
    pg_harness,
    postgres_admin_url,
    postgres_url,
)
from tests.api.world import ok_json
from tests.conftest import Harness
from tests.court_network.net import Net, build_net, intake_body, profile

CST = timezone(timedelta(hours=8))
RULES = booking.Rules.of(Settings())
BOOKINGS = "/api/network/terminal/bookings"
SLOTS = "/api/network/terminal/slots"
MEDIATORS = "/api/network/terminal/mediators"


def local_at(days: int, hhmm: str) -> datetime:
    """`hhmm` court local time, `days` local days from today."""
    day = (datetime.now(UTC).astimezone(CST) + timedelta(days=days)).date()
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=CST)


# --- the rules, as pure functions --------------------------------------------------------------
def test_default_slots_of_a_day() -> None:
    slots = booking.day_slots(date(2026, 12, 4), RULES)
    assert [booking.local_hhmm(s.start) for s in slots] == [
        "09:00",
        "10:00",
        "11:00",
        "14:00",
        "15:00",
        "16:00",
    ]  # 17:00-18:00 does not fit before 17:30
    assert slots[0].start == datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
    assert all(s.end - s.start == timedelta(hours=1) for s in slots)
    half = booking.Rules.of(Settings(booking_slot_minutes=30))
    assert len(booking.day_slots(date(2026, 12, 4), half)) == 6 + 7


def test_booking_hours_setting_is_validated() -> None:
    assert Settings(booking_hours=" 08:30-12:00 , 13:00-18:00").booking_hours == (
        "08:30-12:00,13:00-18:00"
    )
    for bad in (
        "",
        "9:00-12:00",
        "12:00-09:00",
        "09:00-12:00,11:00-13:00",
        "24:00-24:30",
        "09:00-12:00;14:00-15:00",
        "０９:00-12:00",
    ):
        with pytest.raises(ValueError):
            Settings(booking_hours=bad)


def test_time_reasons() -> None:
    now = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 10:00 local
    reason = booking.time_reason
    assert reason(now - timedelta(days=3), now=now, rules=RULES) == "past"
    assert reason(now - timedelta(minutes=1), now=now, rules=RULES) == "past"
    assert reason(now + timedelta(minutes=10), now=now, rules=RULES) == "too_soon"
    assert reason(now + timedelta(minutes=15), now=now, rules=RULES) is None
    # The horizon counts local days: the 60th day after today is in, the 61st is not.
    assert reason(datetime(2027, 1, 31, 16, 0, tzinfo=CST), now=now, rules=RULES) is None
    assert reason(datetime(2027, 2, 1, 9, 0, tzinfo=CST), now=now, rules=RULES) == (
        "beyond_horizon"
    )
    assert reason(datetime(2099, 1, 5, 10, 0, tzinfo=CST), now=now, rules=RULES) == (
        "beyond_horizon"
    )


def test_on_slot() -> None:
    def on(hhmm: str, minutes: int = 60, second: int = 0) -> bool:
        h, m = (int(x) for x in hhmm.split(":"))
        return booking.on_slot(datetime(2026, 12, 4, h, m, second, tzinfo=CST), minutes, RULES)

    assert on("09:00") and on("11:00") and on("14:00") and on("16:00")
    assert on("09:00", 180)  # three slots of one period
    assert on("16:00", 90)  # ends 17:30, the period's end
    assert not on("09:30") and not on("08:00") and not on("12:00") and not on("13:00")
    assert not on("17:00")  # 17:00-18:00 runs past 17:30
    assert not on("11:00", 120)  # runs into the lunch break
    assert not on("10:00", second=30)
    # The same instant written in UTC is the same slot.
    assert booking.on_slot(datetime(2026, 12, 4, 2, 0, tzinfo=UTC), 60, RULES)


def test_busy_reason_and_overlap() -> None:
    s = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    e = s + timedelta(hours=1)
    before = scheduling.Busy(s - timedelta(hours=1), s, "mediator", "a")  # ends as the slot starts
    term = scheduling.Busy(s + timedelta(minutes=30), e + timedelta(minutes=30), "terminal", "b")
    med = scheduling.Busy(s - timedelta(minutes=30), s + timedelta(minutes=1), "mediator", "c")
    assert booking.busy_reason(s, e, [before]) is None
    assert booking.busy_reason(s, e, [before, term]) == "terminal_busy"
    assert booking.busy_reason(s, e, [term, med]) == "mediator_busy"


def test_check_time_codes() -> None:
    now = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)

    def code(at: datetime, minutes: int = 60) -> str:
        with pytest.raises(ApiError) as err:
            booking.check_time(at, minutes, now=now, rules=RULES)
        assert "/" in err.value.message  # 中文 / English
        return err.value.code

    assert code(now - timedelta(days=3)) == "booking_in_past"
    assert code(now + timedelta(minutes=5)) == "booking_too_soon"
    assert code(datetime(2099, 1, 5, 10, 0, tzinfo=CST)) == "booking_beyond_horizon"
    assert code(datetime(2026, 12, 4, 10, 30, tzinfo=CST)) == "booking_not_on_slot"
    booking.check_time(datetime(2026, 12, 4, 10, 0, tzinfo=CST), 60, now=now, rules=RULES)


# --- through the real server -------------------------------------------------------------------
async def assigned_intake(h: Harness, n: Net) -> dict[str, Any]:
    """An intake of the terminal's shared court, assigned (by the rule) to mediator_a."""
    u = h.seed.users
    await profile(
        n.admin, u["mediator_a"], specialties=["marriage_family"], shared_court_ids=[n.village]
    )
    made = await ok_json(
        await n.terminal.post("/api/network/terminal/intakes", headers=n.tauth, json=intake_body()),
        201,
    )
    detail: dict[str, Any] = await ok_json(
        await n.clerk.post(f"/api/network/intakes/{made['id']}/assign", json={})
    )
    assert detail["status"] == "assigned"
    return detail


async def book(n: Net, intake_id: str, at: datetime, **kw: Any) -> Any:
    return await n.terminal.post(
        BOOKINGS,
        headers=n.tauth,
        json={"intake_id": intake_id, "scheduled_at": at.isoformat(), **kw},
    )


async def error_of(resp: Any, status: int) -> str:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert "/" in body["error"]["message"]
    code: str = body["error"]["code"]
    return code


async def sessions_of(n: Net, case_id: str) -> list[Any]:
    out: list[Any] = await ok_json(await n.clerk.get("/api/sessions", params={"case_id": case_id}))
    return out


async def test_refused_times(h2: Any) -> None:
    h, n = h2
    intake = await assigned_intake(h, n)
    i = intake["id"]
    assert await error_of(await book(n, i, local_at(-3, "10:00")), 400) == "booking_in_past"
    in_2099 = datetime(2099, 1, 5, 10, 0, tzinfo=CST)
    assert await error_of(await book(n, i, in_2099), 400) == "booking_beyond_horizon"
    # The ends of the calendar, in any offset, are refused too (no arithmetic overflows).
    for edge, code in (
        ("0001-01-01T00:00:00+08:00", "booking_in_past"),
        ("9999-12-31T23:00:00-08:00", "booking_beyond_horizon"),
    ):
        resp = await n.terminal.post(
            BOOKINGS, headers=n.tauth, json={"intake_id": i, "scheduled_at": edge}
        )
        assert await error_of(resp, 400) == code
    assert await error_of(await book(n, i, local_at(61, "10:00")), 400) == (
        "booking_beyond_horizon"
    )
    for at, minutes in (
        (local_at(2, "10:30"), 60),
        (local_at(2, "12:00"), 60),
        (local_at(2, "07:00"), 60),
        (local_at(2, "11:00"), 120),
    ):
        resp = await book(n, i, at, duration_minutes=minutes)
        assert await error_of(resp, 400) == "booking_not_on_slot"
    assert await sessions_of(n, intake["case_id"]) == []
    # The 60th day is still bookable.
    await ok_json(await book(n, i, local_at(60, "16:00")), 201)


async def test_same_slot_twice_is_booked_once(h2: Any) -> None:
    h, n = h2
    u = h.seed.users
    intake = await assigned_intake(h, n)
    at = local_at(2, "10:00")
    first = await ok_json(await book(n, intake["id"], at), 201)
    assert first["mediator_id"] == u["mediator_a"] and first["status"] == "scheduled"
    assert datetime.fromisoformat(first["scheduled_at"]) == at
    again = await book(n, intake["id"], at)
    assert await error_of(again, 409) == "slot_taken"
    assert "调解员" in (await again.json())["error"]["message"]
    # Half a slot later, or overlapping from the slot before with a longer session: taken too.
    resp = await book(n, intake["id"], local_at(2, "09:00"), duration_minutes=90)
    assert await error_of(resp, 409) == "slot_taken"
    # Another mediator at the same time from the same terminal: the terminal is taken.
    resp = await book(n, intake["id"], at, mediator_id=u["judge_a"])
    assert await error_of(resp, 409) == "slot_taken"
    assert "终端" in (await resp.json())["error"]["message"]
    listed = await sessions_of(n, intake["case_id"])
    assert [s["id"] for s in listed] == [first["session_id"]]
    # The next slot is free; the terminal's day shows both, each once.
    await ok_json(await book(n, intake["id"], local_at(2, "11:00")), 201)
    slots = await ok_json(
        await n.terminal.get(
            SLOTS, headers=n.tauth, params={"intake_id": intake["id"], "date": str(at.date())}
        )
    )
    by_time = {s["local_start"]: s for s in slots["slots"]}
    assert by_time["10:00"]["reason"] == "mediator_busy" and not by_time["10:00"]["free"]
    assert by_time["11:00"]["reason"] == "mediator_busy"
    assert by_time["09:00"]["free"] and by_time["09:00"]["reason"] is None
    # A cancelled session frees its slot.
    await ok_json(await n.clerk.post(f"/api/sessions/{first['session_id']}/cancel"))
    await ok_json(await book(n, intake["id"], at), 201)


async def test_a_staff_session_of_the_mediator_takes_the_slot(h2: Any) -> None:
    h, n = h2
    u = h.seed.users
    intake = await assigned_intake(h, n)
    at = local_at(3, "14:00")
    staff = await n.clerk.post(
        "/api/sessions",
        json={
            "case_id": intake["case_id"],
            "mediator_id": u["mediator_a"],
            "scheduled_at": (at + timedelta(minutes=30)).isoformat(),
            "duration_minutes": 30,
        },
    )
    await ok_json(staff, 201)
    assert await error_of(await book(n, intake["id"], at), 409) == "slot_taken"
    # The judge is free then, and so is the terminal.
    await ok_json(await book(n, intake["id"], at, mediator_id=u["judge_a"]), 201)


async def test_parallel_bookings_of_one_slot(h2: Any) -> None:
    h, n = h2
    intake = await assigned_intake(h, n)
    at = local_at(4, "15:00")
    responses = await asyncio.gather(*(book(n, intake["id"], at) for _ in range(3)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [201, 409, 409], [await r.text() for r in responses]
    for r in responses:
        if r.status == 409:
            assert (await r.json())["error"]["code"] == "slot_taken"
    assert len(await sessions_of(n, intake["case_id"])) == 1


async def test_parallel_bookings_of_one_slot_on_postgres(
    pg_harness: Harness,  # noqa: F811  (the imported fixture)
) -> None:
    n = await build_net(pg_harness)
    intake = await assigned_intake(pg_harness, n)
    at = local_at(4, "15:00")
    responses = await asyncio.gather(*(book(n, intake["id"], at) for _ in range(3)))
    assert sorted(r.status for r in responses) == [201, 409, 409], [
        await r.text() for r in responses
    ]
    assert len(await sessions_of(n, intake["case_id"])) == 1


async def test_slots_of_a_day(h2: Any) -> None:
    h, n = h2
    u = h.seed.users
    intake = await assigned_intake(h, n)

    async def slots(day: date | str, **params: str) -> Any:
        return await n.terminal.get(
            SLOTS, headers=n.tauth, params={"intake_id": intake["id"], "date": str(day), **params}
        )

    day = local_at(2, "00:00").date()
    out = await ok_json(await slots(day))
    assert out["mediator_id"] == u["mediator_a"] and out["utc_offset"] == "+08:00"
    assert out["hours"] == "09:00-12:00, 14:00-17:30" and out["slot_minutes"] == 60
    assert [s["local_start"] for s in out["slots"]] == [
        "09:00",
        "10:00",
        "11:00",
        "14:00",
        "15:00",
        "16:00",
    ]
    assert all(s["free"] for s in out["slots"])
    first = out["slots"][0]
    assert datetime.fromisoformat(first["start"]) == local_at(2, "09:00")
    assert first["local_end"] == "10:00"
    # Booking what the list offers works.
    await ok_json(await book(n, intake["id"], datetime.fromisoformat(first["start"])), 201)
    past = await ok_json(await slots(local_at(-3, "00:00").date()))
    assert {s["reason"] for s in past["slots"]} == {"past"}
    far = await ok_json(await slots(local_at(61, "00:00").date()))
    assert {s["reason"] for s in far["slots"]} == {"beyond_horizon"}
    for out_of_range in ("2099-01-05", "0001-01-01", "9999-12-31"):
        assert await error_of(await slots(out_of_range), 400) == "date_out_of_range"
    # Another bookable mediator's day: the judge is free, the terminal is not at 09:00.
    judge = await ok_json(await slots(day, mediator_id=u["judge_a"]))
    assert judge["slots"][0]["reason"] == "terminal_busy"
    assert all(s["free"] for s in judge["slots"][1:])
    bad = await slots(day, mediator_id=u["mediator_a2"])
    assert await error_of(bad, 400) == "invalid_mediator"
    assert (await slots("2026-02-30")).status == 400
    other = await n.terminal.get(
        SLOTS, headers=n.other_terminal, params={"intake_id": intake["id"], "date": str(day)}
    )
    assert other.status == 404
    # An intake without a mediator has no slots yet.
    fresh = await ok_json(
        await n.terminal.post(
            "/api/network/terminal/intakes", headers=n.tauth, json=intake_body(case_type="labour")
        ),
        201,
    )
    resp = await n.terminal.get(
        SLOTS, headers=n.tauth, params={"intake_id": fresh["id"], "date": str(day)}
    )
    assert resp.status == 409


async def test_assigned_mediator_is_listed(h2: Any) -> None:
    h, n = h2
    u = h.seed.users
    # mediator_a2 serves the other village only and takes no new cases; assigned by hand.
    await profile(
        n.admin,
        u["mediator_a2"],
        specialties=["labour"],
        shared_court_ids=[n.village2],
        available=False,
    )
    await profile(
        n.admin, u["mediator_a"], specialties=["marriage_family"], shared_court_ids=[n.village]
    )
    made = await ok_json(
        await n.terminal.post("/api/network/terminal/intakes", headers=n.tauth, json=intake_body()),
        201,
    )
    await ok_json(
        await n.clerk.post(
            f"/api/network/intakes/{made['id']}/assign", json={"mediator_id": u["mediator_a2"]}
        )
    )
    plain = await ok_json(await n.terminal.get(MEDIATORS, headers=n.tauth))
    assert u["mediator_a2"] not in {b["user_id"] for b in plain}
    assert {b["user_id"] for b in plain} >= {u["mediator_a"], u["judge_a"]}
    assert not any(b["assigned"] for b in plain)
    listed = await ok_json(
        await n.terminal.get(MEDIATORS, headers=n.tauth, params={"intake_id": made["id"]})
    )
    assert listed[0]["user_id"] == u["mediator_a2"] and listed[0]["assigned"] is True
    assert [b["user_id"] for b in listed].count(u["mediator_a2"]) == 1
    assert {b["user_id"] for b in listed if not b["assigned"]} == {b["user_id"] for b in plain}
    # Another shared court's terminal does not see this intake.
    other = await n.terminal.get(
        MEDIATORS, headers=n.other_terminal, params={"intake_id": made["id"]}
    )
    assert other.status == 404
    # The assigned mediator is the one booked by default.
    booked = await ok_json(await book(n, made["id"], local_at(5, "09:00")), 201)
    assert booked["mediator_id"] == u["mediator_a2"]
