"""Request and response bodies of the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from server.http.fields import (
    MAX_DB_INT,
    MAX_OFFSET,
    AwareDatetime,
    Id,
    In,
    Name,
    Out,
    Phone,
    Text,
    TimeZoneName,
    calendar_date,
)
from server.models import (
    CaseType,
    Outcome,
    ParticipantKind,
    PartyRole,
    SessionStatus,
    UserRole,
)


# --- auth ---------------------------------------------------------------------------------
class LoginIn(In):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class UserOut(Out):
    id: str
    court_id: str
    username: str
    display_name: str
    role: UserRole
    active: bool
    phone: str = ""  # work number, printed on invitations


class MeCourtOut(Out):
    """The caller's court as every page needs it: its name, the zone its times are in, and
    the number parties call."""

    id: str
    name: str
    timezone: str
    phone: str


class MeOut(BaseModel):
    user: UserOut
    csrf_token: str
    # The court's zone: the web client enters and shows every time in it, whatever the PC's.
    court: MeCourtOut | None = None
    # Where parties reach this server (join links and short links /j/<code> start with it).
    public_url: str | None = None


# --- courts and users ---------------------------------------------------------------------
class CourtIn(In):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    region: Annotated[str, StringConstraints(max_length=200)] = ""
    phone: Phone = ""


class CourtPatch(In):
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    region: Annotated[str, StringConstraints(max_length=200)] | None = None
    timezone: TimeZoneName | None = None
    phone: Phone | None = None
    seal_agreements: bool | None = None
    settlement_requires_agreement: bool | None = None


class CourtOut(Out):
    id: str
    name: str
    region: str
    timezone: str
    phone: str = ""  # the court's switchboard: the fallback when a clerk has no number
    seal_agreements: bool
    settlement_requires_agreement: bool


class UserIn(In):
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{3,64}$")]
    display_name: Name
    role: UserRole
    password: Annotated[str, StringConstraints(min_length=8, max_length=256)]
    phone: Phone = ""


class UserPatch(In):
    display_name: Name | None = None
    role: UserRole | None = None
    phone: Phone | None = None
    active: bool | None = None
    password: Annotated[str, StringConstraints(min_length=8, max_length=256)] | None = None


# --- cases and parties --------------------------------------------------------------------
class PartyIn(In):
    name: Name
    role: PartyRole
    phone: Phone = ""
    represents_id: Id | None = None
    is_organisation: bool = False


class PartyPatch(In):
    name: Name | None = None
    role: PartyRole | None = None
    phone: Phone | None = None
    is_organisation: bool | None = None


class PartyOut(Out):
    id: str
    case_id: str
    name: str
    role: PartyRole
    # Masked unless the caller is staff of the court (phone numbers are personal data).
    phone: str
    represents_id: str | None
    is_organisation: bool


class CaseIn(In):
    case_number: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
    ]
    case_type: CaseType
    title: Annotated[str, StringConstraints(max_length=200)] = ""
    description: Text = ""
    mediator_id: Id | None = None
    parties: list[PartyIn] = Field(default_factory=list, max_length=50)


class CasePatch(In):
    case_type: CaseType | None = None
    title: Annotated[str, StringConstraints(max_length=200)] | None = None
    description: Text | None = None
    mediator_id: Id | None = None


class CaseOut(Out):
    id: str
    court_id: str
    case_number: str
    case_type: CaseType
    title: str
    description: str
    mediator_id: str | None
    created_at: datetime
    parties: list[PartyOut]


class CaseQuery(In):
    q: Annotated[str, StringConstraints(max_length=100)] = ""
    case_type: CaseType | None = None
    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


# --- terminals ----------------------------------------------------------------------------
class TerminalIn(In):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    location: Annotated[str, StringConstraints(max_length=200)] = ""
    operator_name: Annotated[str, StringConstraints(max_length=100)] = ""
    operator_phone: Phone = ""


class TerminalPatch(In):
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    location: Annotated[str, StringConstraints(max_length=200)] | None = None
    operator_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    operator_phone: Phone | None = None
    active: bool | None = None


class TerminalOut(Out):
    id: str
    court_id: str
    name: str
    location: str
    operator_name: str
    operator_phone: str
    active: bool


class TerminalWithKeyOut(BaseModel):
    terminal: TerminalOut
    # Shown once; only its hash is stored.
    device_key: str


class TerminalLoginIn(In):
    device_key: Annotated[str, StringConstraints(min_length=8, max_length=200)]


class TerminalLoginOut(BaseModel):
    token: str
    expires_at: datetime
    terminal: TerminalOut


# --- sessions, participants, invites ------------------------------------------------------
class SessionIn(In):
    case_id: Id
    scheduled_at: AwareDatetime
    duration_minutes: int = Field(default=60, ge=5, le=600)
    mediator_id: Id
    clerk_id: Id | None = None
    terminal_id: Id | None = None
    # Parties of the case to invite; all of the case's parties when omitted.
    party_ids: list[Id] | None = Field(default=None, max_length=50)
    record_caucus: bool = False


class SessionPatch(In):
    scheduled_at: AwareDatetime | None = None
    duration_minutes: int | None = Field(default=None, ge=5, le=600)
    mediator_id: Id | None = None
    clerk_id: Id | None = None
    terminal_id: Id | None = None
    record_caucus: bool | None = None


class SessionEndIn(In):
    outcome: Outcome
    note: Text = ""


class ParticipantOut(Out):
    id: str
    kind: ParticipantKind
    display_name: str
    role_label: str
    user_id: str | None
    party_id: str | None
    terminal_id: str | None


class SessionOut(Out):
    id: str
    court_id: str
    case_id: str
    scheduled_at: datetime
    duration_minutes: int
    mediator_id: str
    clerk_id: str | None
    terminal_id: str | None
    status: SessionStatus
    outcome: Outcome | None
    outcome_note: str
    record_caucus: bool
    started_at: datetime | None
    ended_at: datetime | None
    participants: list[ParticipantOut]
    waiting: int = Field(
        default=0,
        description="People waiting in the live room's lobby now (N 人等候); given by the list",
    )


class SessionQuery(In):
    date: (
        Annotated[
            str,
            StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$"),
            AfterValidator(calendar_date),
        ]
        | None
    ) = None
    status: SessionStatus | None = None
    case_id: Id | None = None
    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


class InviteIn(In):
    participant_id: Id
    ttl_hours: float | None = Field(default=None, gt=0, le=24 * 30)


class InviteOut(Out):
    id: str
    session_id: str
    participant_id: str
    role: ParticipantKind
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    short_code: str | None = None  # the short link /j/<code>; none on links issued before it


class InviteLinkOut(BaseModel):
    invite: InviteOut
    url: str
    token: str
    short_url: str | None = None  # the same link, short (for SMS and the QR code)


# --- join (parties) -----------------------------------------------------------------------
class IceServerOut(BaseModel):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class JoinSessionOut(BaseModel):
    id: str
    court_name: str
    case_number: str
    case_type: CaseType
    scheduled_at: datetime
    status: SessionStatus
    terminal_name: str | None
    # The court's IANA zone: scheduled_at is shown in it, whatever the device's clock zone.
    timezone: str = "Asia/Shanghai"

    @classmethod
    def of(cls, session: Any, case: Any, court: Any, terminal: Any | None) -> JoinSessionOut:
        """What a participant may know of the session they join (from the ORM rows)."""
        return cls(
            id=session.id,
            court_name=court.name,
            case_number=case.case_number,
            case_type=case.case_type,
            scheduled_at=session.scheduled_at,
            status=session.status,
            terminal_name=terminal.name if terminal is not None else None,
            timezone=court.timezone or "Asia/Shanghai",
        )


class ContactOut(BaseModel):
    """Whom a party calls about their link: the session's clerk, else the court."""

    name: str
    phone: str


class InvitationOut(BaseModel):
    """What a printed invitation (邀请函) states: who is invited, to what, when (in the court's
    zone), the short link its QR code carries, and whom to call."""

    invite_id: str
    revoked: bool
    expires_at: datetime
    participant_name: str
    role: str  # party role (applicant, respondent …) or participant kind (terminal, clerk …)
    role_label: str
    case_number: str
    case_title: str
    court_name: str
    timezone: str
    scheduled_at: datetime
    duration_minutes: int
    terminal_name: str | None
    short_url: str | None
    qr_url: str
    contact: ContactOut | None


class JoinOut(BaseModel):
    session: JoinSessionOut
    participant: ParticipantOut
    expires_at: datetime
    ice_servers: list[IceServerOut]
    signaling_path: str
    recording_notice: str


class ScheduleItemOut(BaseModel):
    session: JoinSessionOut
    participant_id: str
    join_url: str
    join_token: str


# --- audit --------------------------------------------------------------------------------
class AuditOut(Out):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    session_id: str | None
    ip: str
    details: dict[str, Any]


class AuditQuery(In):
    session_id: Id | None = None
    action: Annotated[str, StringConstraints(max_length=64)] | None = None
    limit: int = Field(default=200, ge=1, le=1000)
    before_id: int | None = Field(default=None, ge=1, le=MAX_DB_INT)
