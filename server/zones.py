"""The court's local time: the IANA zone of `Court.timezone`.

A court's days, months, working hours and the times told to people are the court's, not the
server's nor UTC+8: a court abroad or in Xinjiang may keep another zone. Every place that needs
"this court's day" goes through here, so an unusable name (stored before the API validated it)
falls back the same way everywhere.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from server.models import Court

log = logging.getLogger(__name__)

DEFAULT_ZONE = "Asia/Shanghai"


@lru_cache(maxsize=64)
def zone_named(name: str) -> ZoneInfo:
    """The zone of an IANA name; an empty or unknown name is China's (every court until now).
    Cached: the warning for a bad name is logged once, not on every request."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown court time zone %r: using %s", name, DEFAULT_ZONE)
        return ZoneInfo(DEFAULT_ZONE)


def default_zone() -> ZoneInfo:
    return zone_named(DEFAULT_ZONE)


def court_zone(court: Court | None) -> ZoneInfo:
    return zone_named(court.timezone if court is not None else "")


async def zone_of(db: AsyncSession, court_id: str | None) -> ZoneInfo:
    """The zone of the court with this id (China's when there is none)."""
    return court_zone(await db.get(Court, court_id) if court_id else None)


def utc_offset(zone: ZoneInfo, at: datetime) -> str:
    """``+08:00``: the zone's offset at an instant (it may change with daylight saving)."""
    offset = at.astimezone(zone).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
