"""CSV import of cases (intakes) and mediators: every row is validated first; one bad row
imports nothing and is named in the error (`fields[].field` = "row <line>.<column>")."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from sqlalchemy import select

from server.court_network.models import MediatorKind, SharedCourt
from server.court_network.schemas import RequiredPhone
from server.http.errors import ApiError
from server.http.fields import Name, Phone
from server.models import CaseType, UserRole

MAX_ROWS = 5000
CASE_COLUMNS = ("case_type", "applicant_name", "applicant_phone", "respondent_name", "claim")
MEDIATOR_COLUMNS = ("username", "display_name", "role", "kind")


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CaseRow(_Row):
    number: Annotated[
        str, StringConstraints(pattern=r"^[0-9A-Za-z\-()（）〔〕\u4e00-\u9fff]{0,32}$")
    ] = ""
    case_type: CaseType
    applicant_name: Name
    applicant_phone: RequiredPhone
    respondent_name: Name
    respondent_phone: Phone = ""
    claim: Annotated[str, StringConstraints(min_length=1, max_length=5000)]
    facts: Annotated[str, StringConstraints(max_length=10000)] = ""
    shared_court: Annotated[str, StringConstraints(max_length=200)] = ""
    received_at: datetime | None = None

    @field_validator("received_at", mode="before")
    @classmethod
    def _empty_none(cls, v: Any) -> Any:
        return None if v == "" else v

    @field_validator("received_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("时间须带时区 / received_at must include a timezone offset")
        if v is not None and v > datetime.now(UTC):
            raise ValueError("不能是将来的时间 / received_at is in the future")
        return v


class MediatorRow(_Row):
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
    display_name: Name
    role: UserRole
    kind: MediatorKind
    specialties: list[CaseType] = Field(default_factory=list)
    shared_courts: list[str] = Field(default_factory=list)
    available: bool = True
    max_open: Annotated[int, Field(ge=0, le=1000)] = 20

    @field_validator("specialties", "shared_courts", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [x.strip() for x in v.replace("；", ";").split(";") if x.strip()]
        return v

    @field_validator("available", mode="before")
    @classmethod
    def _bool(cls, v: Any) -> Any:
        return True if v == "" else v

    @field_validator("max_open", mode="before")
    @classmethod
    def _int(cls, v: Any) -> Any:
        return 20 if v == "" else v

    @field_validator("role")
    @classmethod
    def _mediating_role(cls, v: UserRole) -> UserRole:
        if v not in (UserRole.mediator, UserRole.judge):
            raise ValueError("角色须为 mediator 或 judge / role must be mediator or judge")
        return v


def parse_csv(raw: bytes, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_csv", "文件须为 UTF-8 编码 / CSV must be UTF-8") from exc
    if "\x00" in text:
        raise ApiError(400, "invalid_characters", "含有非法字符 / NUL characters are not allowed")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise ApiError(
            400,
            "invalid_csv",
            "缺少列 / missing columns: " + ", ".join(missing),
            [
                {"field": "row 1." + c, "message": "missing column", "type": "missing"}
                for c in missing
            ],
        )
    reader.fieldnames = header
    out: list[tuple[int, dict[str, str]]] = []
    for row in reader:
        if len(out) >= MAX_ROWS:
            raise ApiError(400, "invalid_csv", f"最多 {MAX_ROWS} 行 / at most {MAX_ROWS} rows")
        if None in row:
            out.append((reader.line_num, {"__extra__": "x"}))
            continue
        out.append((reader.line_num, {k: (v or "") for k, v in row.items()}))
    if not out:
        raise ApiError(400, "invalid_csv", "没有数据行 / no data rows")
    return out


def row_errors(line: int, exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": f"row {line}." + ".".join(str(p) for p in e["loc"] if not isinstance(p, int)),
            "message": e["msg"],
            "type": e["type"],
        }
        for e in exc.errors(include_url=False, include_input=False)
    ]


def fail(errors: list[dict[str, Any]]) -> ApiError:
    rows_ = sorted({e["field"].split(".", 1)[0] for e in errors})
    return ApiError(
        400,
        "import_invalid",
        "导入失败，未导入任何数据 / nothing imported; errors in " + ", ".join(rows_),
        errors,
    )


async def shared_courts_by_name(db: Any, court_id: str) -> dict[str, SharedCourt]:
    return {
        c.name: c
        for c in await db.scalars(select(SharedCourt).where(SharedCourt.court_id == court_id))
    }


def random_password() -> str:
    return secrets.token_urlsafe(24)
