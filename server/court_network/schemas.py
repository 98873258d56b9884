"""Request and response bodies of the network API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, HttpUrl, StringConstraints

from server.court_network.models import IntakeChannel, IntakeStatus, MediatorKind, SharedCourtKind
from server.http.fields import AwareDatetime, CalendarDate, Id, In, Name, Out, Phone, Text
from server.models import CaseType, UserRole

# A party must be reachable: a phone is required for applicants (lookup uses it).
RequiredPhone = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9+\- ]{5,32}$")
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Short = Annotated[str, StringConstraints(max_length=200)]


# --- areas and shared courts -------------------------------------------------------------------
class AreaIn(In):
    name: Name
    population: Annotated[int, Field(ge=0, le=10**9)] | None = None


class AreaPatch(In):
    name: Name | None = None
    population: Annotated[int, Field(ge=0, le=10**9)] | None = None


class AreaOut(Out):
    id: str
    name: str
    population: int | None


class SharedCourtIn(In):
    name: Title
    kind: SharedCourtKind
    area_id: Id | None = None
    address: Short = ""
    director_name: Annotated[str, StringConstraints(max_length=100)] = ""
    director_phone: Phone = ""
    auto_assign: bool = False


class SharedCourtPatch(In):
    name: Title | None = None
    kind: SharedCourtKind | None = None
    area_id: Id | None = None
    address: Short | None = None
    director_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    director_phone: Phone | None = None
    auto_assign: bool | None = None
    active: bool | None = None


class SharedCourtOut(Out):
    id: str
    name: str
    kind: SharedCourtKind
    area_id: str | None
    address: str
    director_name: str
    director_phone: str
    auto_assign: bool
    active: bool
    terminal_ids: list[str] = Field(default_factory=list)


class TerminalLinkIn(In):
    terminal_id: Id


# --- mediators -------------------------------------------------------------------------------
class MediatorProfileIn(In):
    kind: MediatorKind
    specialties: list[CaseType] = Field(default_factory=list, max_length=10)
    shared_court_ids: list[Id] = Field(default_factory=list, max_length=50)
    available: bool = True
    max_open: Annotated[int, Field(ge=0, le=1000)] = 20
    note: Short = ""
    phone: Phone = ""  # told of each new assignment


class MediatorOut(BaseModel):
    user_id: str
    username: str
    display_name: str
    role: UserRole
    kind: MediatorKind
    specialties: list[str]
    shared_court_ids: list[str]
    available: bool
    max_open: int
    open_intakes: int
    phone: str
    note: str = ""


class MediatorQuery(In):
    case_type: CaseType | None = None
    shared_court_id: Id | None = None


# --- intakes ---------------------------------------------------------------------------------
class IntakeIn(In):
    case_type: CaseType
    applicant_name: Name
    applicant_phone: RequiredPhone
    respondent_name: Name
    respondent_phone: Phone = ""
    claim: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
    facts: Text = ""
    shared_court_id: Id | None = None
    area_id: Id | None = None


class TerminalIntakeIn(In):
    case_type: CaseType
    applicant_name: Name
    applicant_phone: RequiredPhone
    respondent_name: Name
    respondent_phone: Phone = ""
    claim: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
    facts: Text = ""


class TransitionOut(Out):
    from_status: str | None
    to_status: str
    at: datetime
    actor: str
    note: str


class AssignmentOut(Out):
    mediator_id: str
    previous_id: str | None
    method: str
    reason: str
    actor: str
    at: datetime


class AttachmentOut(Out):
    id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    created_at: datetime


class UnassignedOut(BaseModel):
    """Why an intake still waits for a mediator: `no_specialist` (nobody available takes its
    case type), `all_at_capacity` (all who do are at their limit), `awaiting_assignment`."""

    code: Literal["no_specialist", "all_at_capacity", "awaiting_assignment"]
    message: str


class IntakeOut(BaseModel):
    id: str
    number: str
    case_id: str
    court_id: str
    shared_court_id: str | None
    area_id: str | None
    channel: IntakeChannel
    case_type: CaseType
    applicant_name: str
    applicant_phone: str
    respondent_name: str
    respondent_phone: str
    claim: str
    facts: str
    status: IntakeStatus
    status_label: str
    mediator_id: str | None
    received_at: datetime
    closed_at: datetime | None
    unassigned: UnassignedOut | None = None  # set while the intake is `received`


class IntakeDetailOut(IntakeOut):
    transitions: list[TransitionOut]
    assignments: list[AssignmentOut]
    attachments: list[AttachmentOut]


class IntakeQuery(In):
    status: IntakeStatus | None = None
    case_type: CaseType | None = None
    shared_court_id: Id | None = None
    unassigned: bool = False  # only intakes waiting for a mediator
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    offset: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0


class AlertsQuery(In):
    days: Annotated[int, Field(ge=1, le=365)] = 7  # "waiting longer than N days"


class UncoveredTypeOut(BaseModel):
    case_type: CaseType
    label: str
    reason: Literal["no_specialist", "all_at_capacity"]
    waiting: int  # intakes of this type waiting for a mediator


class NetworkAlertsOut(BaseModel):
    uncovered_case_types: list[UncoveredTypeOut]
    unassigned: int  # intakes waiting for a mediator
    waiting_longer: int  # of which received more than `days` days ago
    days: int


class OnlineIntakeOut(BaseModel):
    intake: IntakeOut
    # For the applicant only: opens their own intake (status, attachments). Shown once.
    access_token: str


class AssignIn(In):
    # Empty: the system picks by the documented matching rule.
    mediator_id: Id | None = None
    reason: Annotated[str, StringConstraints(max_length=500)] = ""


class CandidateOut(BaseModel):
    user_id: str
    username: str
    display_name: str
    role: UserRole
    tier: int
    open_intakes: int
    reason: str


class TransitionIn(In):
    status: IntakeStatus
    note: Annotated[str, StringConstraints(max_length=2000)] = ""


class LookupIn(In):
    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
    phone: RequiredPhone


class LookupOut(BaseModel):
    number: str
    status: IntakeStatus
    status_label: str
    case_type: CaseType
    shared_court_name: str | None
    received_at: datetime
    updated_at: datetime
    next_session_at: datetime | None


class BookingIn(In):
    intake_id: Id
    # A mediator or judge of the court; empty: the intake's assigned mediator.
    mediator_id: Id | None = None
    scheduled_at: AwareDatetime
    duration_minutes: Annotated[int, Field(ge=10, le=480)] = 60


class BookingOut(BaseModel):
    session_id: str
    intake_id: str
    mediator_id: str
    scheduled_at: datetime
    status: IntakeStatus


class BookableOut(BaseModel):
    user_id: str
    display_name: str
    role: UserRole
    kind: MediatorKind | None
    specialties: list[str]


class TerminalMediatorQuery(In):
    # With an intake: its case's assigned mediator is listed too (first, `assigned: true`).
    intake_id: Id | None = None


class TerminalBookableOut(BookableOut):
    assigned: bool = False  # the mediator assigned to the intake's case


class SlotQuery(In):
    intake_id: Id
    # Empty: the intake's assigned mediator.
    mediator_id: Id | None = None
    date: CalendarDate  # the court's local day (Court.timezone)


class SlotOut(BaseModel):
    start: datetime  # UTC
    end: datetime
    local_start: str  # "HH:MM", court local time (Court.timezone)
    local_end: str
    free: bool
    # Why a slot is taken (None when free).
    reason: Literal["past", "too_soon", "beyond_horizon", "mediator_busy", "terminal_busy"] | None
    reason_label: str | None


class SlotsOut(BaseModel):
    intake_id: str
    mediator_id: str
    date: str
    utc_offset: str  # of the local times that day: "+08:00" for Asia/Shanghai
    slot_minutes: int
    hours: str  # the working periods, e.g. "09:00-12:00, 14:00-17:30"
    slots: list[SlotOut]


# --- education -------------------------------------------------------------------------------
EducationBody = Annotated[str, StringConstraints(max_length=20000)]
# Seconds an image or an article stays on screen (0: the player's default; videos play out).
EducationSeconds = Annotated[int, Field(ge=0, le=7200)]
EducationPosition = Annotated[int, Field(ge=0, le=100000)]


class EducationIn(In):
    kind: Literal["video", "image", "article"]
    title: Title
    body: EducationBody = ""
    duration_seconds: EducationSeconds = 0
    # Place in the court's playlist (omitted: after the last item).
    position: EducationPosition | None = None
    # Local days, inclusive; None: no bound.
    starts_on: CalendarDate | None = None
    ends_on: CalendarDate | None = None
    # Played on every terminal of the court (otherwise only where a schedule puts it).
    all_terminals: bool = False
    active: bool = True


class EducationPatch(In):
    """Changes to an item; a field left out is kept, starts_on/ends_on null clears the bound."""

    title: Title | None = None
    body: EducationBody | None = None
    duration_seconds: EducationSeconds | None = None
    position: EducationPosition | None = None
    starts_on: CalendarDate | None = None
    ends_on: CalendarDate | None = None
    all_terminals: bool | None = None
    active: bool | None = None


class EducationOrderIn(In):
    """Every item of the court, in the order the playlist plays them."""

    item_ids: Annotated[list[Id], Field(max_length=1000)]


class EducationOut(Out):
    id: str
    kind: str
    title: str
    body: str
    duration_seconds: int
    media_sha256: str
    media_type: str
    media_size: int
    active: bool
    position: int
    starts_on: str | None
    ends_on: str | None
    all_terminals: bool
    created_at: datetime


class ScheduleIn(In):
    item_id: Id
    terminal_id: Id
    starts_on: CalendarDate
    ends_on: CalendarDate
    position: Annotated[int, Field(ge=0, le=10000)] = 0


class ScheduleOut(Out):
    id: str
    item_id: str
    terminal_id: str
    starts_on: str
    ends_on: str
    position: int


class PlaylistItemOut(BaseModel):
    id: str
    kind: str
    title: str
    body: str
    duration_seconds: int
    media_type: str
    # Signed, expiring URL a <video> element can load without headers.
    media_url: str | None


# --- statistics ------------------------------------------------------------------------------
StatsDefinition = Literal["all_closed", "mediated"]


class StatsQuery(In):
    year: Annotated[int, Field(ge=2000, le=2100)]
    shared_court_id: Id | None = None
    # What success rate and days to close count (docs/network.md); default: the setting
    # `stats_definition`.
    definition: StatsDefinition | None = None


class DefinitionOut(BaseModel):
    """What the figures count, in words ("中文 / English"), shown next to them."""

    key: StatsDefinition
    success_rate: str
    days_to_close: str
    disputes: str


class Metric(BaseModel):
    value: int | float | None
    previous: int | float | None
    change: int | float | None  # absolute difference (value - previous)
    change_ratio: float | None  # (value - previous) / previous; None when previous is 0/None


class GroupStats(BaseModel):
    key: str
    label: str
    disputes: Metric
    settled: Metric
    success_rate: Metric


class AreaStats(GroupStats):
    population: int | None
    disputes_per_10k: Metric
    lawsuits: Metric
    lawsuits_per_10k: Metric


class MonthStats(BaseModel):
    month: int
    disputes: Metric
    settled: Metric


class StatsOut(BaseModel):
    year: int
    court_id: str
    shared_court_id: str | None
    disputes: Metric
    closed: Metric
    settled: Metric
    partially_settled: Metric
    failed: Metric
    withdrawn: Metric
    success_rate: Metric
    median_days: Metric
    p90_days: Metric
    by_type: list[GroupStats]
    by_shared_court: list[GroupStats]
    by_area: list[AreaStats]
    by_month: list[MonthStats]
    definition: DefinitionOut


# --- integration -----------------------------------------------------------------------------
class ApiKeyIn(In):
    name: Name
    scopes: list[
        Literal["intakes:read", "intakes:write", "stats:read", "mediators:read", "import:write"]
    ] = Field(min_length=1, max_length=5)


class ApiKeyOut(Out):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreatedOut(BaseModel):
    key: ApiKeyOut
    secret: str  # shown once


WebhookEvent = Literal[
    "intake.received",
    "intake.assigned",
    "intake.unassignable",
    "intake.withdrawn",
    "session.scheduled",
    "session.cancelled",
    "session.ended",
]


class WebhookIn(In):
    url: HttpUrl
    events: list[WebhookEvent] = Field(min_length=1, max_length=7)


class WebhookOut(Out):
    id: str
    url: str
    events: list[str]
    active: bool
    created_at: datetime
    # Health (docs/network.md, "Failing webhooks"): failed attempts since the last success, the
    # last attempt's error, and since when the webhook counts as failing.
    failing: bool = False
    consecutive_failures: int = 0
    last_error: str = ""
    last_failure_at: datetime | None = None
    last_success_at: datetime | None = None
    failing_since: datetime | None = None


class WebhookAlertOut(BaseModel):
    """A failing webhook, for the court's alert list."""

    webhook_id: str
    url: str
    active: bool
    failing_since: datetime
    consecutive_failures: int
    last_error: str
    last_failure_at: datetime | None
    # Deliveries given up (status failed) that were queued after the last successful one.
    failed_deliveries: int


class WebhookCreatedOut(BaseModel):
    webhook: WebhookOut
    secret: str  # the HMAC key, shown once


class AttemptOut(Out):
    at: datetime
    status_code: int | None
    error: str
    duration_ms: int


class DeliveryOut(Out):
    id: str
    webhook_id: str
    event: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str
    replay_of: str | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryDetailOut(DeliveryOut):
    payload: dict[str, object]
    attempt_log: list[AttemptOut]


class ImportQuery(In):
    """Query of the intake import (a raw CSV/XLSX body); multipart fields of the same names
    take precedence."""

    mapping: Annotated[str, StringConstraints(max_length=20000)] = Field(
        "", description='JSON object: file column header → field key ("" or null: ignore)'
    )
    sheet: Annotated[str, StringConstraints(max_length=200)] = Field(
        "", description="XLSX: the sheet to read (default: the first one that is not empty)"
    )


class ImportResultOut(BaseModel):
    imported: int
    ids: list[str]
    # Intake import: file columns left out (no field, or mapped to nothing), and the mapping
    # used (file column header → field key).
    ignored_columns: list[str] = Field(default_factory=list)
    mapping: dict[str, str] = Field(default_factory=dict)


class ImportFieldOut(BaseModel):
    key: str
    label: str  # Chinese header
    required: bool  # the column must be present (phone and claim: per row, see docs)


class ImportColumnOut(BaseModel):
    index: int  # 1-based position in the file
    header: str
    field: str | None  # None: ignored
    source: Literal["mapping", "key", "label"] | None  # how the field was found
    samples: list[str]  # the first few non-empty values


class ImportRowErrorOut(BaseModel):
    field: str  # "row <n>.<field key>"; row 1 is the header
    row: int
    column: str  # the file's header of that column ("" when the column is absent)
    message: str
    type: str


class ImportRowOut(BaseModel):
    """A row as it will be imported."""

    row: int
    ok: bool  # no error on this row
    number: str | None  # None: minted on import from the intake date (TJ<YYYYMMDD>…)
    case_type: CaseType
    applicant_name: str
    applicant_phone: str
    respondent_name: str
    respondent_phone: str
    claim: str
    facts: str
    shared_court_id: str | None
    shared_court: str | None
    area_id: str | None
    area: str | None
    received_at: datetime | None  # None: the time of the import
    closed_at: datetime | None
    status: IntakeStatus


class ImportPreviewOut(BaseModel):
    format: Literal["csv", "xlsx"]
    encoding: str | None  # CSV: "utf-8-sig", "utf-8" or "gb18030"
    sheet: str | None  # XLSX: the sheet read
    sheets: list[str] = Field(
        default_factory=list, description="XLSX: every worksheet, in the workbook's order"
    )
    total_rows: int
    valid: bool  # the import would succeed
    columns: list[ImportColumnOut]
    mapping: dict[str, str]
    ignored_columns: list[str]
    missing_fields: list[str]
    fields: list[ImportFieldOut]
    rows: list[ImportRowOut]  # the first rows (up to 20) that parsed
    errors: list[ImportRowErrorOut]  # all, sorted by row number then column
