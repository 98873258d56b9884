"""Import of intakes (cases, also past years' closed ones) and of mediators: every row is
validated first; one bad row imports nothing and is named in the error (`fields[].field` =
"row <line>.<field>", sorted by row number).

Intakes: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) or XLSX (server/court_network/
import_formats.py); columns by field key or Chinese header, or by an explicit mapping; plain
dates are the court's local day (its `Court.timezone`); a row with an outcome and a closing date
is a closed historical intake (received → outcome), so statistics count it."""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.court_network.import_formats import MAX_ROWS, Table, decode
from server.court_network.models import (
    CLOSED_STATUSES,
    Area,
    Intake,
    IntakeStatus,
    MediatorKind,
    SharedCourt,
)
from server.http.errors import ApiError
from server.http.fields import Name, Phone
from server.models import Case, CaseType, UserRole, as_utc
from server.zones import default_zone, zone_of

MEDIATOR_COLUMNS = ("username", "display_name", "role", "kind")
PREVIEW_ROWS = 20

# The stems of the case types' Chinese names (a label may add 纠纷 or 争议; the domain's full
# names are server.models.CASE_TYPE_NAMES).
CASE_TYPE_STEMS: dict[CaseType, str] = {
    CaseType.marriage_family: "婚姻家庭",
    CaseType.property_management: "物业",
    CaseType.finance_insurance: "金融保险",
    CaseType.neighbour: "邻里",
    CaseType.labour: "劳动",
    CaseType.other: "其他",
}
_CASE_TYPE_ALIASES: dict[CaseType, tuple[str, ...]] = {
    CaseType.marriage_family: ("婚姻", "家庭", "婚姻家事", "家事", "婚调"),
    CaseType.property_management: ("物业管理", "物业服务", "物业服务合同"),
    CaseType.finance_insurance: ("金融", "保险", "金融借款", "金融借款合同"),
    CaseType.neighbour: ("相邻关系", "相邻关系(邻里)", "邻里关系"),
    CaseType.labour: ("劳动人事", "劳动合同", "劳资"),
    CaseType.other: ("其它", "民事", "other_dispute"),
}
# Outcomes: the closing statuses, by key or Chinese label.
OUTCOME_NAMES: dict[IntakeStatus, str] = {
    IntakeStatus.settled: "调解成功",
    IntakeStatus.partially_settled: "部分达成",
    IntakeStatus.failed: "调解不成",
    IntakeStatus.withdrawn: "撤回",
}
_OUTCOME_ALIASES: dict[IntakeStatus, tuple[str, ...]] = {
    IntakeStatus.settled: ("成功", "达成协议", "调解达成", "已调解", "调解结案"),
    IntakeStatus.partially_settled: ("partial", "部分成功", "部分调解成功", "部分达成协议"),
    IntakeStatus.failed: ("调解失败", "失败", "不成功", "未达成", "调解不成功", "转诉讼"),
    IntakeStatus.withdrawn: ("已撤回", "撤诉", "申请撤回", "撤回申请"),
}


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str
    aliases: tuple[str, ...] = ()
    required: bool = False


# The intake import's fields, in the order errors are sorted within a row.
CASE_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("number", "编号", ("案号", "申请编号", "受理编号", "调解编号")),
    FieldSpec("case_type", "案件类型", ("纠纷类型", "类型", "案由", "type"), True),
    FieldSpec("applicant_name", "申请人", ("申请人姓名", "申请人名称", "applicant"), True),
    FieldSpec(
        "applicant_phone",
        "申请人电话",
        ("电话", "联系电话", "手机", "手机号", "申请人手机", "申请人联系电话", "phone"),
    ),
    FieldSpec("respondent_name", "被申请人", ("被申请人姓名", "被申请人名称", "respondent"), True),
    FieldSpec("respondent_phone", "被申请人电话", ("被申请人手机", "被申请人联系电话")),
    FieldSpec("claim", "诉求", ("请求事项", "申请事项", "调解请求", "诉讼请求")),
    FieldSpec("facts", "事实与理由", ("事实", "案情", "案情简介", "事实和理由")),
    FieldSpec("shared_court", "共享法庭", ("共享法庭名称",)),
    FieldSpec("area", "片区", ("区域", "乡镇", "乡镇街道", "街道", "地区")),
    FieldSpec("received_at", "受理日期", ("受理时间", "收案日期", "申请日期", "登记日期")),
    FieldSpec("closed_at", "结案日期", ("结案时间", "办结日期", "完成日期")),
    FieldSpec("outcome", "结果", ("调解结果", "结案方式", "结案结果", "状态")),
)
FIELDS_BY_KEY = {f.key: f for f in CASE_FIELDS}
FIELD_ORDER = {f.key: i for i, f in enumerate(CASE_FIELDS)}
REQUIRED_FIELDS = tuple(f.key for f in CASE_FIELDS if f.required)


def _fold(text: str) -> str:
    """Compare headers and labels loosely: full-width forms, case, spaces, `_`/`-`, a
    trailing `*` (required mark) and a trailing parenthesised hint ("受理日期（YYYY-MM-DD）")."""
    s = unicodedata.normalize("NFKC", text).strip().lower().rstrip("*").strip()
    s = re.sub(r"\s*\([^()]*\)$", "", s) or s
    return re.sub(r"[\s_\-]+", "", s)


_HEADER_LOOKUP: dict[str, str] = {}
for _f in CASE_FIELDS:
    for _name in (_f.key, _f.label, *_f.aliases):
        _HEADER_LOOKUP.setdefault(_fold(_name), _f.key)


def _labels(names: dict[Any, str], aliases: dict[Any, tuple[str, ...]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for value, label in names.items():
        for name in (value.value, label, *aliases.get(value, ())):
            out.setdefault(_fold(name), value)
    return out


_CASE_TYPES = _labels(CASE_TYPE_STEMS, _CASE_TYPE_ALIASES)
_OUTCOMES = _labels(OUTCOME_NAMES, _OUTCOME_ALIASES)
# An open status in the outcome column (an export of this system): no outcome yet.
_OPEN_LABELS = {
    _fold(x)
    for x in (
        "received", "assigned", "scheduled", "mediating",
        "已受理", "已分配调解员", "已排期", "调解中", "未结案", "在办",
    )
}


def case_type_of(value: str) -> CaseType:
    key = _fold(value)
    found = _CASE_TYPES.get(key)
    if found is None and key.endswith(("纠纷", "争议")):
        found = _CASE_TYPES.get(_fold(key[:-2]))
    if found is None:
        raise ValueError(
            f"未知的案件类型 / unknown case type {value!r}; one of: "
            + ", ".join(f"{n} ({t.value})" for t, n in CASE_TYPE_STEMS.items())
        )
    return CaseType(found)


def outcome_of(value: str) -> IntakeStatus:
    found = _OUTCOMES.get(_fold(value))
    if found is None:
        raise ValueError(
            f"未知的结果 / unknown outcome {value!r}; one of: "
            + ", ".join(f"{n} ({s.value})" for s, n in OUTCOME_NAMES.items())
        )
    return IntakeStatus(found)


_PLAIN_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]+(\d{1,2})[:：](\d{2})(?:[:：](\d{2}))?)?$"
)


def parse_when(value: Any, zone: ZoneInfo) -> datetime | None:
    """A date or time of a row, as an aware UTC datetime. Without an offset — a plain date
    (YYYY-MM-DD, YYYY/M/D, YYYY年M月D日, YYYYMMDD), an Excel date cell or a time without a
    zone — it is the court's local day or time (`zone`); a plain date is local midnight."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, date):
        at = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not 1 <= value < 2958466:  # Excel's serial day numbers (1900-01-01 … 9999-12-31)
            raise ValueError(f"无法识别的日期 / unrecognised date {value!r}")
        from openpyxl.utils.datetime import from_excel

        at = from_excel(value)
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip()
        m = _PLAIN_DATE.match(text)
        try:
            if m:
                y, mo, d, hh, mm, ss = (int(g) if g else 0 for g in m.groups())
                at = datetime(y, mo, d, hh, mm, ss)
            elif re.fullmatch(r"\d{8}", text):
                at = datetime(int(text[:4]), int(text[4:6]), int(text[6:]))
            else:
                at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(
                f"无法识别的日期 / unrecognised date {text!r} (YYYY-MM-DD, YYYY/M/D or ISO 8601)"
            ) from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone)
    return at.astimezone(UTC)


def local_day(at: datetime, zone: ZoneInfo) -> date:
    return as_utc(at).astimezone(zone).date()


def cell_text(value: Any) -> str:
    """A cell as text: XLSX numbers (a phone typed as a number) without a trailing `.0`."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CaseRow(_Row):
    number: Annotated[
        str, StringConstraints(pattern=r"^[0-9A-Za-z\-()（）〔〕\u4e00-\u9fff]{0,32}$")
    ] = ""
    case_type: CaseType
    applicant_name: Name
    # Required for an open intake (lookup uses it); optional on a closed historical row.
    applicant_phone: Phone = ""
    respondent_name: Name
    respondent_phone: Phone = ""
    claim: Annotated[str, StringConstraints(max_length=5000)] = ""
    facts: Annotated[str, StringConstraints(max_length=10000)] = ""
    shared_court: Annotated[str, StringConstraints(max_length=200)] = ""
    area: Annotated[str, StringConstraints(max_length=100)] = ""
    received_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: IntakeStatus | None = None

    @field_validator("case_type", mode="before")
    @classmethod
    def _case_type(cls, v: Any) -> Any:
        return case_type_of(v) if isinstance(v, str) and v.strip() else v

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome(cls, v: Any) -> Any:
        if v is None or (isinstance(v, str) and not v.strip()) or _fold(str(v)) in _OPEN_LABELS:
            return None
        return outcome_of(str(v))

    @field_validator("outcome")
    @classmethod
    def _closing(cls, v: IntakeStatus | None) -> IntakeStatus | None:
        if v is not None and v not in CLOSED_STATUSES:
            raise ValueError(
                "结果须为结案状态 / outcome must be one of: "
                + ", ".join(f"{n} ({s.value})" for s, n in OUTCOME_NAMES.items())
            )
        return v

    @field_validator("received_at", "closed_at", mode="before")
    @classmethod
    def _when(cls, v: Any, info: ValidationInfo) -> Any:
        # The court's zone comes as validation context (`check_cases`).
        zone = (info.context or {}).get("zone") or default_zone()
        return parse_when(v, zone)

    @field_validator("received_at", "closed_at")
    @classmethod
    def _past(cls, v: datetime | None) -> datetime | None:
        if v is not None and v > datetime.now(UTC):
            raise ValueError("不能是将来的时间 / the date is in the future")
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
    """The mediator import's CSV (UTF-8, UTF-8 with BOM or GBK) as dict rows."""
    text, _ = decode(raw)
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


def _row_number(error: dict[str, Any]) -> int:
    head = str(error["field"]).split(".", 1)[0]
    try:
        return int(head.removeprefix("row "))
    except ValueError:
        return 0


def sort_errors(errors: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """By row number (2, 10, 100 — not as strings), then by the field's place."""

    def key(e: dict[str, Any]) -> tuple[int, int, str]:
        name = str(e["field"]).split(".", 1)[-1]
        return (_row_number(e), FIELD_ORDER.get(name, len(FIELD_ORDER)), name)

    return sorted(errors, key=key)


def fail(errors: list[dict[str, Any]], message: str | None = None) -> ApiError:
    errors = sort_errors(errors)
    rows_ = list(dict.fromkeys(_row_number(e) for e in errors))
    shown = ", ".join(f"row {r}" for r in rows_[:20])
    if len(rows_) > 20:
        shown += f" … (+{len(rows_) - 20})"
    prefix = message or "导入失败，未导入任何数据 / nothing imported"
    return ApiError(400, "import_invalid", f"{prefix}; errors in {shown}", errors)


async def shared_courts_by_name(db: Any, court_id: str) -> dict[str, SharedCourt]:
    return {
        c.name: c
        for c in await db.scalars(select(SharedCourt).where(SharedCourt.court_id == court_id))
    }


async def areas_by_name(db: AsyncSession, court_id: str) -> dict[str, Area]:
    return {a.name: a for a in await db.scalars(select(Area).where(Area.court_id == court_id))}


def random_password() -> str:
    return secrets.token_urlsafe(24)


# --- the intake import: columns, rows, checks against the database ------------------------
def parse_mapping(text: str) -> dict[str, str | None]:
    """`{"申请人姓名": "applicant_name", "备注": null}`: file header → field key (null or "":
    ignore that column)."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ApiError(400, "invalid_mapping", "映射不是有效的 JSON / mapping is not JSON") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_mapping", "映射须为对象 / mapping must be a JSON object")
    out: dict[str, str | None] = {}
    bad: list[dict[str, Any]] = []
    for header, key in data.items():
        if key in (None, ""):
            out[str(header)] = None
        elif isinstance(key, str) and key in FIELDS_BY_KEY:
            out[str(header)] = key
        else:
            bad.append(
                {
                    "field": f"mapping.{header}",
                    "message": f"未知字段 / unknown field {key!r}",
                    "type": "unknown_field",
                }
            )
    if bad:
        raise ApiError(
            400,
            "invalid_mapping",
            "映射有误 / mapping names unknown fields; fields: " + ", ".join(FIELDS_BY_KEY),
            bad,
        )
    return out


@dataclass
class Column:
    index: int  # 0-based
    header: str
    field: str | None
    source: str | None  # "mapping" | "key" | "label"


@dataclass
class Plan:
    columns: list[Column]
    errors: list[dict[str, Any]]

    @property
    def by_field(self) -> dict[str, Column]:
        return {c.field: c for c in self.columns if c.field is not None}

    @property
    def mapping(self) -> dict[str, str]:
        return {c.header: c.field for c in self.columns if c.field is not None}

    @property
    def ignored(self) -> list[str]:
        return [c.header or f"(column {c.index + 1})" for c in self.columns if c.field is None]

    @property
    def missing(self) -> list[str]:
        present = self.by_field
        return [k for k in REQUIRED_FIELDS if k not in present]


def _error(row: int, key: str, kind: str, message: str, column: str) -> dict[str, Any]:
    return {
        "field": f"row {row}.{key}",
        "row": row,
        "column": column,
        "message": message,
        "type": kind,
    }


def plan_columns(header: Sequence[str], mapping: dict[str, str | None]) -> Plan:
    """Which file column feeds which field: the explicit mapping first (by exact or folded
    header), else a field key or a known Chinese header; others are ignored."""
    explicit = {_fold(h): k for h, k in mapping.items()}
    exact = dict(mapping)
    columns: list[Column] = []
    used: set[str] = set()
    for i, h in enumerate(header):
        folded = _fold(h)
        if h in exact or (folded and folded in explicit):
            used.add(h if h in exact else folded)
            key = exact[h] if h in exact else explicit[folded]
            columns.append(Column(i, h, key, "mapping"))
        elif folded in _HEADER_LOOKUP:
            src = "key" if folded == _fold(_HEADER_LOOKUP[folded]) else "label"
            columns.append(Column(i, h, _HEADER_LOOKUP[folded], src))
        else:
            columns.append(Column(i, h, None, None))
    errors: list[dict[str, Any]] = []
    for h in mapping:
        if h not in used and _fold(h) not in used:
            errors.append(
                _error(1, h, "unknown_column", f"文件中没有此列 / no column {h!r} in the file", h)
            )
    claimed: dict[str, Column] = {}
    for c in columns:
        if c.field is None:
            continue
        if c.field in claimed:
            first = claimed[c.field]
            errors.append(
                _error(
                    1,
                    c.field,
                    "duplicate_column",
                    f"列 {first.header!r} 与 {c.header!r} 都对应 {c.field} / two columns map "
                    f"to {c.field}",
                    c.header,
                )
            )
            c.field, c.source = None, None
        else:
            claimed[c.field] = c
    plan = Plan(columns, errors)
    for key in plan.missing:
        spec = FIELDS_BY_KEY[key]
        errors.append(
            _error(
                1,
                key,
                "missing",
                f"缺少列 {spec.label} / missing column {key}",
                "",
            )
        )
    return plan


@dataclass
class PlannedRow:
    line: int
    row: CaseRow
    shared_court: SharedCourt | None
    area: Area | None
    received_at: datetime | None
    closed_at: datetime | None
    ok: bool = True


@dataclass
class Checked:
    table: Table
    plan: Plan
    rows: list[PlannedRow] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors and bool(self.table.rows)


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def check_cases(
    db: AsyncSession, court_id: str, table: Table, mapping: dict[str, str | None]
) -> Checked:
    """Parse and validate every row, against the file and the database; writes nothing."""
    plan = plan_columns(table.header, mapping)
    out = Checked(table, plan, errors=list(plan.errors))
    if plan.missing or plan.errors:
        return out
    by_field = plan.by_field
    header_of = {k: c.header for k, c in by_field.items()}
    width = len(table.header)

    def err(line: int, key: str, kind: str, message: str) -> None:
        out.errors.append(_error(line, key, kind, message, header_of.get(key, "")))

    courts = await shared_courts_by_name(db, court_id)
    areas = await areas_by_name(db, court_id)
    zone = await zone_of(db, court_id)
    now = datetime.now(UTC)
    for line, cells in table.rows:
        extra = [c for c in cells[width:] if cell_text(c)]
        if extra:
            out.errors.append(
                _error(
                    line,
                    "__extra__",
                    "extra",
                    "该行的值多于表头的列 / more values than header columns",
                    "",
                )
            )
            continue
        raw: dict[str, Any] = {}
        for key, col in by_field.items():
            value = cells[col.index] if col.index < len(cells) else None
            raw[key] = value if key in ("received_at", "closed_at") else cell_text(value)
        try:
            row = CaseRow.model_validate(raw, context={"zone": zone})
        except ValidationError as exc:
            for e in exc.errors(include_url=False, include_input=False):
                key = ".".join(str(p) for p in e["loc"] if not isinstance(p, int))
                err(line, key, e["type"], e["msg"])
            continue
        before = len(out.errors)
        # a past intake (an outcome or a closing date): phone and claim may be missing
        historical = row.outcome is not None or row.closed_at is not None
        if not historical and not row.applicant_phone:
            err(
                line,
                "applicant_phone",
                "missing",
                "未结案的受理须填申请人电话 / an open intake needs the applicant's phone",
            )
        if not historical and not row.claim:
            err(line, "claim", "missing", "未结案的受理须填诉求 / an open intake needs a claim")
        if row.closed_at is not None and row.outcome is None:
            err(line, "outcome", "missing", "有结案日期须填结果 / a closing date needs an outcome")
        if row.outcome is not None and row.closed_at is None:
            err(
                line,
                "closed_at",
                "missing",
                "有结果须填结案日期 / an outcome needs the closing date",
            )
        received_at, closed_at = row.received_at, row.closed_at
        if (row.outcome is not None or closed_at is not None) and received_at is None:
            err(
                line,
                "received_at",
                "missing",
                "已结案的受理须填受理日期 / a closed intake needs its received date",
            )
        if received_at is not None and closed_at is not None and closed_at < received_at:
            if local_day(closed_at, zone) < local_day(received_at, zone):
                err(
                    line,
                    "closed_at",
                    "before_received",
                    "结案日期早于受理日期 / closed before it was received",
                )
            else:  # a plain closing date on the day of a timed receipt: closed that day
                closed_at = received_at
        shared = courts.get(row.shared_court) if row.shared_court else None
        if row.shared_court and shared is None:
            err(
                line,
                "shared_court",
                "unknown",
                f"未知的共享法庭 / unknown shared court {row.shared_court}",
            )
        area = areas.get(row.area) if row.area else None
        if row.area and area is None:
            err(line, "area", "unknown", f"未知的片区 / unknown area {row.area}")
        out.rows.append(
            PlannedRow(line, row, shared, area, received_at, closed_at, len(out.errors) == before)
        )
    await _check_numbers(db, court_id, out, err)
    await _check_duplicates(db, court_id, out, err, now, zone)
    failed_rows = {_row_number(e) for e in out.errors}
    for p in out.rows:
        p.ok = p.line not in failed_rows
    out.errors = sort_errors(out.errors)
    return out


async def _check_numbers(db: AsyncSession, court_id: str, out: Checked, err: Any) -> None:
    seen: dict[str, int] = {}
    numbers = [p.row.number for p in out.rows if p.row.number]
    taken_intake: set[str] = set()
    taken_case: set[str] = set()
    for chunk in _chunks(sorted(set(numbers))):
        taken_intake |= set(await db.scalars(select(Intake.number).where(Intake.number.in_(chunk))))
        taken_case |= set(
            await db.scalars(
                select(Case.case_number).where(
                    Case.court_id == court_id, Case.case_number.in_(chunk)
                )
            )
        )
    for p in out.rows:
        number = p.row.number
        if not number:
            continue
        if number in seen:
            err(
                p.line,
                "number",
                "duplicate",
                f"与第 {seen[number]} 行重复 / duplicate of row {seen[number]}",
            )
        elif number in taken_intake:
            err(p.line, "number", "exists", "编号已存在 / number already exists")
        elif number in taken_case:
            err(
                p.line,
                "number",
                "exists",
                f"编号与已有案件的案号 {number} 冲突 / number is already the case number of an "
                "existing case",
            )
        seen.setdefault(number, p.line)


NaturalKey = tuple[str, str, str, date]


def natural_key(
    applicant: str, respondent: str, case_type: CaseType | str, day: date
) -> NaturalKey:
    return (applicant, respondent, CaseType(case_type).value, day)


async def _check_duplicates(
    db: AsyncSession, court_id: str, out: Checked, err: Any, now: datetime, zone: ZoneInfo
) -> None:
    """A row whose applicant, respondent, case type and received (local) day match an
    existing intake of the court, or an earlier row of the file, is a duplicate."""
    names = sorted({p.row.applicant_name for p in out.rows})
    existing: dict[NaturalKey, str] = {}
    for chunk in _chunks(names):
        result = await db.execute(
            select(
                Intake.number,
                Intake.applicant_name,
                Intake.respondent_name,
                Intake.case_type,
                Intake.received_at,
            ).where(Intake.court_id == court_id, Intake.applicant_name.in_(chunk))
        )
        for number, a, r, t, at in result.all():
            existing.setdefault(natural_key(a, r, t, local_day(at, zone)), number)
    seen: dict[NaturalKey, int] = {}
    for p in out.rows:
        row = p.row
        key = natural_key(
            row.applicant_name,
            row.respondent_name,
            row.case_type,
            local_day(p.received_at or now, zone),
        )
        if key in existing:
            err(
                p.line,
                "applicant_name",
                "duplicate",
                f"与已有受理 {existing[key]} 重复（申请人、被申请人、案件类型、受理日期相同），"
                f"可能已导入过 / duplicate of existing intake {existing[key]} (same applicant, "
                "respondent, case type and received date): already imported?",
            )
        elif key in seen:
            err(
                p.line,
                "applicant_name",
                "duplicate",
                f"与第 {seen[key]} 行重复（申请人、被申请人、案件类型、受理日期相同）/ "
                f"duplicate of row {seen[key]} (same applicant, respondent, case type and "
                "received date)",
            )
        seen.setdefault(key, p.line)


def failure_message(checked: Checked) -> str:
    """The import's 400 message: plain about a file imported before."""
    kinds = {(e["type"], e["field"].split(".", 1)[-1]) for e in checked.errors}
    rows_ = {_row_number(e) for e in checked.errors}
    if kinds == {("duplicate", "applicant_name")} and len(rows_) == len(checked.table.rows):
        existing = sum("已有受理" in e["message"] for e in checked.errors)
        if existing == len(rows_):
            return (
                "所有行均与已有受理重复，该文件可能已导入过，未导入任何数据 / every row "
                "duplicates an existing intake: the file was already imported; nothing imported"
            )
    dup = sum(e["type"] == "duplicate" for e in checked.errors)
    base = "导入失败，未导入任何数据 / nothing imported"
    if dup:
        base += f" ({dup} duplicate rows)"
    return base
