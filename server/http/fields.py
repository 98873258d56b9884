"""Field types every JSON body shares: names, phones, calendar dates, aware datetimes, ids, and
the strict request (In) / attribute-reading response (Out) bases. Every route module, the core's
and each feature's, validates with these, so one rule holds everywhere."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints


def _aware(v: datetime) -> datetime:
    if v.tzinfo is None:
        raise ValueError("时间须带时区 / datetime must include a timezone offset")
    return v


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text = Annotated[str, StringConstraints(max_length=10000)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9+\- ]{0,32}$")]


def calendar_date(v: str) -> str:
    try:
        datetime.strptime(v, "%Y-%m-%d")
    except ValueError as exc:
        raise ValueError("日期无效 / not a valid calendar date (YYYY-MM-DD)") from exc
    return v


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


def _time_zone(v: str) -> str:
    # Documents state every time in this zone: an unknown name would fail only at rendering.
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("时区无效 / not an IANA time zone (e.g. Asia/Shanghai)") from exc
    return v


TimeZoneName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(_time_zone),
]
Id = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
# Integers sent to the database must fit its 64-bit columns (larger ones crashed the query).
MAX_DB_INT = 2**63 - 1
MAX_OFFSET = 2**31 - 1


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


CalendarDate = Annotated[str, AfterValidator(calendar_date)]
