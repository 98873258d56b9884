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


class IntakeDetailOut(IntakeOut):
    transitions: list[TransitionOut]
    assignments: list[AssignmentOut]
    attachments: list[AttachmentOut]


class IntakeQuery(In):
    status: IntakeStatus | None = None
    case_type: CaseType | None = None
    shared_court_id: Id | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    offset: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0


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


# --- education -------------------------------------------------------------------------------
class EducationIn(In):
    kind: Literal["video", "article"]
    title: Title
    body: Annotated[str, StringConstraints(max_length=20000)] = ""
    duration_seconds: Annotated[int, Field(ge=0, le=7200)] = 0


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
class StatsQuery(In):
    year: Annotated[int, Field(ge=2000, le=2100)]
    shared_court_id: Id | None = None


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


class WebhookIn(In):
    url: HttpUrl
    events: list[Literal["intake.received", "session.scheduled", "session.ended"]] = Field(
        min_length=1, max_length=3
    )


class WebhookOut(Out):
    id: str
    url: str
    events: list[str]
    active: bool
    created_at: datetime


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


class ImportResultOut(BaseModel):
    imported: int
    ids: list[str]
