"""Persistent domain model. Schema changes go through migrations in server/migrations."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(at: datetime) -> datetime:
    """A datetime read back from a column that is not `UTCDateTime`: naive means UTC (what
    SQLite hands back); `astimezone` would read it as the machine's local time."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored as UTC on every backend and read back aware (UTC).

    SQLite has no time zone type: a plain DateTime(timezone=True) silently dropped the offset
    (10:00+08:00 was stored as 10:00) and read values back naive.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
    }


class UserRole(enum.StrEnum):
    admin = "admin"
    judge = "judge"
    mediator = "mediator"
    clerk = "clerk"


class CaseType(enum.StrEnum):
    marriage_family = "marriage_family"  # 婚姻家庭
    property_management = "property_management"  # 物业
    finance_insurance = "finance_insurance"  # 金融保险
    neighbour = "neighbour"  # 邻里
    labour = "labour"  # 劳动
    other = "other"  # 其他


# The names a court writes (statistics, notices, imports); the key travels alongside.
CASE_TYPE_NAMES: dict[CaseType, str] = {
    CaseType.marriage_family: "婚姻家庭纠纷",
    CaseType.property_management: "物业服务合同纠纷",
    CaseType.finance_insurance: "金融保险纠纷",
    CaseType.neighbour: "邻里纠纷",
    CaseType.labour: "劳动争议",
    CaseType.other: "其他纠纷",
}


class PartyRole(enum.StrEnum):
    applicant = "applicant"  # 申请人
    respondent = "respondent"  # 被申请人
    agent = "agent"  # 代理人
    lawyer = "lawyer"  # 律师


class SessionStatus(enum.StrEnum):
    scheduled = "scheduled"
    live = "live"
    ended = "ended"
    cancelled = "cancelled"


class Outcome(enum.StrEnum):
    settled = "settled"  # 调解成功
    failed = "failed"  # 调解不成
    partial = "partial"  # 部分达成


class ParticipantKind(enum.StrEnum):
    mediator = "mediator"
    clerk = "clerk"
    party = "party"
    terminal = "terminal"


def _enum(e: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings so PostgreSQL and SQLite behave alike and migrations stay simple.
    return Enum(e, name=name, native_enum=False, length=32, validate_strings=True)


class Court(Base):
    __tablename__ = "courts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    region: Mapped[str] = mapped_column(String(200), default="")
    # 调解成功 / 部分达成 only with an effective agreement (otherwise: a warning and a reason).
    settlement_requires_agreement: Mapped[bool] = mapped_column(default=False)
    # Print the court's electronic seal (电子印章) on agreements, beside the mediator's.
    seal_agreements: Mapped[bool] = mapped_column(default=False)
    # IANA zone every document and page states its times in.
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # The court's switchboard: whom a party calls when no clerk's own number is known.
    phone: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    court_id: Mapped[str] = mapped_column(ForeignKey("courts.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[UserRole] = mapped_column(_enum(UserRole, "user_role"))
    password_hash: Mapped[str] = mapped_column(String(200))
    # A work number parties may call (printed on invitations, named when a link is refused).
    phone: Mapped[str] = mapped_column(String(32), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    court: Mapped[Court] = relationship(lazy="raise")


class StaffSession(Base):
    """A logged-in staff browser. Only the SHA-256 of the cookie value is stored."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("court_id", "case_number"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    court_id: Mapped[str] = mapped_column(ForeignKey("courts.id"), index=True)
    case_number: Mapped[str] = mapped_column(String(64))  # 案号
    case_type: Mapped[CaseType] = mapped_column(_enum(CaseType, "case_type"))
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # The mediator assigned to the case; mediators see only their own cases.
    mediator_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    parties: Mapped[list[Party]] = relationship(
        back_populates="case", lazy="selectin", order_by="Party.created_at"
    )


class Party(Base):
    __tablename__ = "parties"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[PartyRole] = mapped_column(_enum(PartyRole, "party_role"))
    phone: Mapped[str] = mapped_column(String(32), default="")
    # A company or other organisation (signs through a natural person: 法定代表人 / 委托代理人).
    is_organisation: Mapped[bool] = mapped_column(default=False)
    # For agents and lawyers: whom they represent.
    represents_id: Mapped[str | None] = mapped_column(ForeignKey("parties.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="parties", lazy="raise")


class Terminal(Base):
    """A village shared-court terminal (kiosk) run by a 庭务主任."""

    __tablename__ = "terminals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    court_id: Mapped[str] = mapped_column(ForeignKey("courts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(String(200), default="")
    operator_name: Mapped[str] = mapped_column(String(100), default="")  # 庭务主任
    operator_phone: Mapped[str] = mapped_column(String(32), default="")
    # Lookup prefix of the device key (not secret) + argon2 hash of the whole key.
    key_prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MediationSession(Base):
    __tablename__ = "mediation_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    court_id: Mapped[str] = mapped_column(ForeignKey("courts.id"), index=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    scheduled_at: Mapped[datetime] = mapped_column(index=True)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    mediator_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    clerk_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    terminal_id: Mapped[str | None] = mapped_column(ForeignKey("terminals.id"), nullable=True)
    status: Mapped[SessionStatus] = mapped_column(
        _enum(SessionStatus, "session_status"), default=SessionStatus.scheduled
    )
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome, "outcome"), nullable=True)
    outcome_note: Mapped[str] = mapped_column(Text, default="")
    record_caucus: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    participants: Mapped[list[SessionParticipant]] = relationship(
        back_populates="session", lazy="selectin", order_by="SessionParticipant.created_at"
    )


class SessionParticipant(Base):
    """Someone expected in a session: the mediator, the clerk, a party or a terminal."""

    __tablename__ = "session_participants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("mediation_sessions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ParticipantKind] = mapped_column(_enum(ParticipantKind, "participant_kind"))
    display_name: Mapped[str] = mapped_column(String(100))
    # The label shown in rooms and transcripts: 调解员, 申请人, 被申请人, 代理人, 庭务主任 …
    role_label: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    party_id: Mapped[str | None] = mapped_column(ForeignKey("parties.id"), nullable=True)
    terminal_id: Mapped[str | None] = mapped_column(ForeignKey("terminals.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    session: Mapped[MediationSession] = relationship(back_populates="participants", lazy="raise")


class Invite(Base):
    """A join link: one session, one participant, one role; signed, expiring, revocable."""

    __tablename__ = "invites"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("mediation_sessions.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[str] = mapped_column(
        ForeignKey("session_participants.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[ParticipantKind] = mapped_column(_enum(ParticipantKind, "invite_role"))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The short link's code (/j/<code>, resolved to the signed token server-side).
    short_code: Mapped[str | None] = mapped_column(
        String(16), nullable=True, unique=True, index=True
    )


class AuditEvent(Base):
    """Append-only: triggers in the migration refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_court_time", "court_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    court_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # "user:<id>", "party:<participant id>", "terminal:<id>", "system", "anonymous"
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(120), default="")
    session_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    ip: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RecordingStatus(enum.StrEnum):
    recording = "recording"
    sealed = "sealed"
    interrupted = "interrupted"  # server died mid-recording; recovered and sealed on restart
    deleted = "deleted"  # removed by retention; the row stays as a tombstone for the audit trail


class Recording(Base):
    """One sealed-record folder under recordings_dir (a session may have several: restarts)."""

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("mediation_sessions.id", ondelete="CASCADE"), index=True
    )
    court_id: Mapped[str] = mapped_column(String(32), index=True)
    # Relative to recordings_dir.
    folder: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[RecordingStatus] = mapped_column(
        _enum(RecordingStatus, "recording_status"), default=RecordingStatus.recording
    )
    record_caucus: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    sealed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    manifest_sha256: Mapped[str] = mapped_column(String(64), default="")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # This segment resumed after the server was down (服务器中断) from gap_start to gap_end.
    gap_start: Mapped[datetime | None] = mapped_column(nullable=True)
    gap_end: Mapped[datetime | None] = mapped_column(nullable=True)


class LiveRoomState(Base):
    """What a live room must not forget when the server restarts: admissions, consent,
    caucus groups, started/recording/transcription (signaling.room_state). `alive_at` is the
    server's last heartbeat for the room: after a crash it is where the outage began."""

    __tablename__ = "live_room_states"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("mediation_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)
    alive_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by a clean shutdown (SIGTERM): the outage began exactly then.
    stopped_at: Mapped[datetime | None] = mapped_column(nullable=True)


class SegmentKind(enum.StrEnum):
    speech = "speech"  # recognised from a participant's audio
    note = "note"  # inserted by the clerk (e.g. 双方出示证据)


class TranscriptSegment(Base):
    """One line of the transcript. `asr_text` keeps what the recogniser heard, forever."""

    __tablename__ = "transcript_segments"
    __table_args__ = (Index("ix_segments_session_start", "session_id", "start_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("mediation_sessions.id", ondelete="CASCADE"))
    court_id: Mapped[str] = mapped_column(String(32), index=True)
    # "main" is the mediation record; "caucus:<group>" documents exist only when caucus
    # recording is enabled and are access-controlled separately.
    document: Mapped[str] = mapped_column(String(60), default="main")
    kind: Mapped[SegmentKind] = mapped_column(_enum(SegmentKind, "segment_kind"))
    speaker_participant_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    speaker_name: Mapped[str] = mapped_column(String(100), default="")
    speaker_role: Mapped[str] = mapped_column(String(32), default="")
    start_at: Mapped[datetime] = mapped_column()
    end_at: Mapped[datetime] = mapped_column()
    text: Mapped[str] = mapped_column(Text, default="")
    asr_text: Mapped[str] = mapped_column(Text, default="")
    # final / skipped (backlog overflow: fill in from the recording) / failed
    status: Mapped[str] = mapped_column(String(16), default="final")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_by: Mapped[str | None] = mapped_column(String(80), nullable=True)


class TranscriptEdit(Base):
    """History of clerk corrections: who, when, before and after."""

    __tablename__ = "transcript_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    segment_id: Mapped[str] = mapped_column(
        ForeignKey("transcript_segments.id", ondelete="CASCADE"), index=True
    )
    editor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    before: Mapped[dict[str, Any]] = mapped_column(default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RecordConfirmation(Base):
    """A party's review of the mediation record (调解笔录): 确认无误 or an objection."""

    __tablename__ = "record_confirmations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("mediation_sessions.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[str] = mapped_column(String(32), index=True)
    confirmed: Mapped[bool] = mapped_column()
    objection: Mapped[str] = mapped_column(Text, default="")
    # SHA-256 of the record text the party saw, so a later edit is visible.
    record_sha256: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str] = mapped_column(String(64), default="")


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class MediaJob(Base):
    """Background work with visible progress (composite MP4, archives, exports)."""

    __tablename__ = "media_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("mediation_sessions.id", ondelete="CASCADE"), index=True
    )
    court_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[JobStatus] = mapped_column(
        _enum(JobStatus, "job_status"), default=JobStatus.queued
    )
    progress: Mapped[float] = mapped_column(default=0.0)
    result_path: Mapped[str] = mapped_column(String(300), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
