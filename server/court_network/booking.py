"""Booking a session from a village terminal: the slots of a day and the rules a booking meets.

Slots come from the court's working periods (`booking_hours`, in the court's local time,
`Court.timezone`) cut into `booking_slot_minutes`. A slot is bookable when it starts at least
`booking_lead_minutes` from now, lies within `booking_horizon_days` (counted in local days), and
overlaps no scheduled or live session of the mediator or of the terminal. The rules are pure
functions of a `now`; the database helpers at the end find the sessions that occupy a time and
make booking race-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from server.config import Settings, parse_periods
from server.http.errors import ApiError
from server.scheduling import Busy, occupied, overlaps
from server.zones import default_zone, utc_offset

# Why a slot cannot be booked (None: it is free).
Reason = Literal["past", "too_soon", "beyond_horizon", "mediator_busy", "terminal_busy"]

REASON_LABELS: dict[Reason, str] = {
    "past": "时段已过 / the slot is in the past",
    "too_soon": "距开始时间太近 / the slot starts too soon to book",
    "beyond_horizon": "超出可预约范围 / beyond the booking horizon",
    "mediator_busy": "调解员该时段已有安排 / the mediator has a session then",
    "terminal_busy": "本终端该时段已有安排 / this terminal has a session then",
}


@dataclass(frozen=True)
class Rules:
    periods: tuple[tuple[int, int], ...]  # (start, end) minutes after local midnight
    slot_minutes: int
    horizon_days: int
    lead_minutes: int
    # The court's zone: its working hours and its days.
    zone: ZoneInfo = field(default_factory=default_zone)

    @classmethod
    def of(cls, settings: Settings, zone: ZoneInfo | None = None) -> Rules:
        return cls(
            periods=tuple(parse_periods(settings.booking_hours)),
            slot_minutes=settings.booking_slot_minutes,
            horizon_days=settings.booking_horizon_days,
            lead_minutes=settings.booking_lead_minutes,
            zone=zone or default_zone(),
        )

    def hours_text(self) -> str:
        return ", ".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in self.periods)


@dataclass(frozen=True)
class Slot:
    start: datetime  # aware, UTC
    end: datetime


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def local_date(at: datetime, zone: ZoneInfo | None = None) -> date:
    return at.astimezone(zone or default_zone()).date()


def local_hhmm(at: datetime, zone: ZoneInfo | None = None) -> str:
    return at.astimezone(zone or default_zone()).strftime("%H:%M")


def _local_time(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The UTC instant `minutes` of wall-clock time after the court's local midnight of `day`
    (aware arithmetic in one zone is wall-clock: a daylight-saving day keeps its slots)."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    return (midnight + timedelta(minutes=minutes)).astimezone(UTC)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the court's local `day` begins."""
    return _local_time(day, 0, zone)


def _offset_label(zone: ZoneInfo, at: datetime) -> str:
    """``UTC+8`` (``UTC+5:30`` where the offset has minutes), as people write it."""
    text = utc_offset(zone, at)
    hours, minutes = text[1:3].lstrip("0") or "0", text[4:]
    return f"UTC{text[0]}{hours}" + (f":{minutes}" if minutes != "00" else "")


def day_offset(day: date, rules: Rules) -> str:
    """The UTC offset of the local times of `day` (``+08:00``)."""
    return utc_offset(rules.zone, _local_midnight(day, rules.zone))


def day_in_range(day: date, *, now: datetime, rules: Rules) -> bool:
    """Whether slots of `day` are worth listing: from a year before today to a year past the
    horizon (and far from the ends of the calendar)."""
    today = local_date(now, rules.zone)
    return -366 <= (day - today).days <= rules.horizon_days + 366


def day_slots(day: date, rules: Rules) -> list[Slot]:
    """Every slot of the working periods of a local day, in order; a period's remainder shorter
    than a slot is no slot."""
    step = rules.slot_minutes
    out = []
    for start, end in rules.periods:
        m = start
        while m + step <= end:
            out.append(
                Slot(_local_time(day, m, rules.zone), _local_time(day, m + step, rules.zone))
            )
            m += step
    return out


def time_reason(start: datetime, *, now: datetime, rules: Rules) -> Reason | None:
    """Whether a start time can be booked at `now`, leaving aside the working hours."""
    if start < now:
        return "past"
    if start < now + timedelta(minutes=rules.lead_minutes):
        return "too_soon"
    # From the local midnight after the horizon's last day (computed from `now`: a start near the
    # end of the calendar must not overflow).
    last = local_date(now, rules.zone) + timedelta(days=rules.horizon_days + 1)
    if start >= _local_midnight(last, rules.zone):
        return "beyond_horizon"
    return None


def busy_reason(start: datetime, end: datetime, busy: list[Busy]) -> Reason | None:
    """The mediator's sessions first, then the terminal's, that overlap [start, end)."""
    hits = {b.who for b in busy if overlaps(start, end, b.start, b.end)}
    if "mediator" in hits:
        return "mediator_busy"
    if "terminal" in hits:
        return "terminal_busy"
    return None


def slot_reason(slot: Slot, *, now: datetime, rules: Rules, busy: list[Busy]) -> Reason | None:
    return time_reason(slot.start, now=now, rules=rules) or busy_reason(slot.start, slot.end, busy)


def on_slot(start: datetime, duration_minutes: int, rules: Rules) -> bool:
    """The start is a slot's start (to the second) and the session ends within that period."""
    local = start.astimezone(rules.zone)
    if local.second or local.microsecond:
        return False
    m = local.hour * 60 + local.minute
    return any(
        a <= m and (m - a) % rules.slot_minutes == 0 and m + duration_minutes <= b
        for a, b in rules.periods
    )


def refusal(reason: Reason, rules: Rules) -> ApiError:
    """The API error for a booking refused for `reason`, each with its own code."""
    if reason == "past":
        return ApiError(
            400, "booking_in_past", "预约时间已过，请选择以后的时段 / the time is in the past"
        )
    if reason == "too_soon":
        n = rules.lead_minutes
        return ApiError(
            400,
            "booking_too_soon",
            f"须至少提前 {n} 分钟预约 / a session must be booked at least {n} minutes ahead",
        )
    if reason == "beyond_horizon":
        n = rules.horizon_days
        return ApiError(
            400,
            "booking_beyond_horizon",
            f"只能预约 {n} 天以内的时段 / sessions can be booked at most {n} days ahead",
        )
    if reason == "mediator_busy":
        return ApiError(
            409,
            "slot_taken",
            "该时段调解员已有安排，请另选时段 / the mediator already has a session in this slot",
        )
    return ApiError(
        409,
        "slot_taken",
        "该时段本终端已有安排，请另选时段 / this terminal already has a session in this slot",
    )


def check_time(start: datetime, duration_minutes: int, *, now: datetime, rules: Rules) -> None:
    """Raise the API error of a booking whose time is refused whoever is free: in the past, too
    soon, beyond the horizon, or not on a slot of the working hours."""
    reason = time_reason(start, now=now, rules=rules)
    if reason is not None:
        raise refusal(reason, rules)
    if not on_slot(start, duration_minutes, rules):
        hours = rules.hours_text()
        n = rules.slot_minutes
        raise ApiError(
            400,
            "booking_not_on_slot",
            f"请选择工作时间（{hours}，每 {n} 分钟一个时段）内的时段 / not a bookable slot: "
            f"sessions start on the {n}-minute slots of the working hours {hours} "
            f"({_offset_label(rules.zone, start)}) and end within them",
        )


# --- the database ------------------------------------------------------------------------------
async def ensure_free(
    db: AsyncSession,
    *,
    mediator_id: str,
    terminal_id: str | None,
    start: datetime,
    end: datetime,
    rules: Rules,
    exclude_session_id: str | None = None,
) -> None:
    """409 `slot_taken` when the mediator or the terminal has a session overlapping the time."""
    busy = await occupied(
        db,
        mediator_id=mediator_id,
        terminal_id=terminal_id,
        start=start,
        end=end,
        exclude_session_id=exclude_session_id,
    )
    reason = busy_reason(start, end, busy)
    if reason is not None:
        raise refusal(reason, rules)
