"""Tables of the shared-court network (migration 0005)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models import Base, CaseType, _enum, new_id, utcnow


class SharedCourtKind(enum.StrEnum):
    village = "village"  # 村居共享法庭
    community = "community"  # 社区
    marriage_family = "marriage_family"  # 婚调委
    finance_insurance = "finance_insurance"  # 金融保险调解中心
    property_management = "property_management"  # 物业
    labour = "labour"  # 劳动
    other = "other"


class MediatorKind(enum.StrEnum):
    industry = "industry"  # 行业调解员
    lawyer = "lawyer"  # 律师
    teacher = "teacher"  # 教师
    judge = "judge"  # 法官
    other = "other"


class IntakeStatus(enum.StrEnum):
    received = "received"
    assigned = "assigned"
    scheduled = "scheduled"
    mediating = "mediating"
    settled = "settled"  # 调解成功
    partially_settled = "partially_settled"
    failed = "failed"  # 调解不成 → transfer to litigation
    withdrawn = "withdrawn"


CLOSED_STATUSES = frozenset(
    {
        IntakeStatus.settled,
        IntakeStatus.partially_settled,
        IntakeStatus.failed,
        IntakeStatus.withdrawn,
    }
)
OPEN_STATUSES = frozenset(set(IntakeStatus) - CLOSED_STATUSES)


class IntakeChannel(enum.StrEnum):
    terminal = "terminal"  # at the terminal, by the 庭务主任
    online = "online"  # public form
    staff = "staff"  # entered by court staff
    api = "api"  # external system with an API key
    imported = "imported"  # CSV import


class Area(Base):
    """An administrative area (乡镇/街道/村): its resident population gives per-10,000 rates."""

    __tablename__ = "network_areas"
    __table_args__ = (UniqueConstraint("court_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    court_id: Mapped[str] = mapped_column(ForeignKey("courts.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    population: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SharedCourt(Base):
    __tablename__ = "network_shared_courts"
    __table_args__ = (UniqueConstraint("court_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    court_id: Mapped[str] = mapped_column(ForeignKey("courts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[SharedCourtKind] = mapped_column(_enum(SharedCourtKind, "shared_court_kind"))
    area_id: Mapped[str | None] = mapped_column(ForeignKey("network_areas.id"), nullable=True)
    address: Mapped[str] = mapped_column(String(200), default="")
    director_name: Mapped[str] = mapped_column(String(100), default="")  # 庭务主任
    director_phone: Mapped[str] = mapped_column(String(32), default="")
    # Assign a mediator automatically (documented rule) as soon as an intake is received.
    auto_assign: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SharedCourtTerminal(Base):
    """A terminal belongs to at most one shared court; its operator acts for that court."""

    __tablename__ = "network_shared_court_terminals"

    terminal_id: Mapped[str] = mapped_column(
        ForeignKey("terminals.id", ondelete="CASCADE"), primary_key=True
    )
    shared_court_id: Mapped[str] = mapped_column(
        ForeignKey("network_shared_courts.id", ondelete="CASCADE"), index=True
    )


class MediatorProfile(Base):
    __tablename__ = "network_mediator_profiles"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    court_id: Mapped[str] = mapped_column(ForeignKey("courts.id"), index=True)
    kind: Mapped[MediatorKind] = mapped_column(_enum(MediatorKind, "mediator_kind"))
    # Case types (CaseType values) the mediator takes.
    specialties: Mapped[list[str]] = mapped_column(JSON, default=list)
    available: Mapped[bool] = mapped_column(default=True)
    max_open: Mapped[int] = mapped_column(Integer, default=20)
    note: Mapped[str] = mapped_column(String(200), default="")
    # Where the mediator is told of a new assignment (through the court's Notifier).
    phone: Mapped[str] = mapped_column(String(32), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MediatorSharedCourt(Base):
    __tablename__ = "network_mediator_shared_courts"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    shared_court_id: Mapped[str] = mapped_column(
        ForeignKey("network_shared_courts.id", ondelete="CASCADE"), primary_key=True
    )


class Intake(Base):
    """A pre-litigation mediation application (诉前调解申请). Its Case row carries the parties
    and the assigned mediator, so sessions and case permissions work unchanged."""

    __tablename__ = "network_intakes"
    __table_args__ = (Index("ix_network_intakes_court_status", "court_id", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    court_id: Mapped[str] = mapped_column(ForeignKey("courts.id"), index=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), unique=True)
    shared_court_id: Mapped[str | None] = mapped_column(
        ForeignKey("network_shared_courts.id"), nullable=True, index=True
    )
    area_id: Mapped[str | None] = mapped_column(ForeignKey("network_areas.id"), nullable=True)
    channel: Mapped[IntakeChannel] = mapped_column(_enum(IntakeChannel, "intake_channel"))
    case_type: Mapped[CaseType] = mapped_column(_enum(CaseType, "intake_case_type"))
    applicant_name: Mapped[str] = mapped_column(String(100))
    applicant_phone: Mapped[str] = mapped_column(String(32))
    respondent_name: Mapped[str] = mapped_column(String(100))
    respondent_phone: Mapped[str] = mapped_column(String(32), default="")
    claim: Mapped[str] = mapped_column(Text, default="")
    facts: Mapped[str] = mapped_column(Text, default="")
    # Cached from the newest transition; statistics read the transitions.
    status: Mapped[IntakeStatus] = mapped_column(_enum(IntakeStatus, "intake_status"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_by: Mapped[str] = mapped_column(String(80), default="")


class IntakeTransition(Base):
    """Every status change, timestamped; the source of all statistics."""

    __tablename__ = "network_intake_transitions"
    __table_args__ = (Index("ix_network_transitions_intake_at", "intake_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intake_id: Mapped[str] = mapped_column(
        ForeignKey("network_intakes.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_status: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(Text, default="")


class IntakeAssignment(Base):
    """Who was assigned, by whom, by which rule: reassignments stay visible."""

    __tablename__ = "network_intake_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intake_id: Mapped[str] = mapped_column(
        ForeignKey("network_intakes.id", ondelete="CASCADE"), index=True
    )
    mediator_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    previous_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    method: Mapped[str] = mapped_column(String(16))  # "manual" | "auto"
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    __tablename__ = "network_attachments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    intake_id: Mapped[str] = mapped_column(
        ForeignKey("network_intakes.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EducationItem(Base):
    """普法 material: a short video, an image (shown for `duration_seconds`) or an article.

    The court's playlist plays its active items in `position` order, on every terminal of the
    court when `all_terminals`, otherwise where an EducationSchedule puts it; `starts_on` and
    `ends_on` (local days, inclusive; None: open) bound when it plays at all (migration 0012)."""

    __tablename__ = "network_education_items"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    court_id: Mapped[str] = mapped_column(ForeignKey("courts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "video" | "image" | "article"
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    duration_seconds: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    starts_on: Mapped[str | None] = mapped_column(String(10), default=None)  # YYYY-MM-DD
    ends_on: Mapped[str | None] = mapped_column(String(10), default=None)
    all_terminals: Mapped[bool] = mapped_column(default=False)
    media_sha256: Mapped[str] = mapped_column(String(64), default="")
    media_type: Mapped[str] = mapped_column(String(64), default="")
    media_size: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EducationSchedule(Base):
    """Plays an item on one terminal between two dates (local days, inclusive)."""

    __tablename__ = "network_education_schedules"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    item_id: Mapped[str] = mapped_column(
        ForeignKey("network_education_items.id", ondelete="CASCADE"), index=True
    )
    terminal_id: Mapped[str] = mapped_column(
        ForeignKey("terminals.id", ondelete="CASCADE"), index=True
    )
    starts_on: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD
    ends_on: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """A key for an external system: `sk_<prefix>_<secret>`; only its SHA-256 is stored."""

    __tablename__ = "network_api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    court_id: Mapped[str] = mapped_column(ForeignKey("courts.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Webhook(Base):
    __tablename__ = "network_webhooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    court_id: Mapped[str] = mapped_column(ForeignKey("courts.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    # The HMAC key must be usable to sign, so it is stored (shown once at creation).
    secret: Mapped[str] = mapped_column(String(100))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Health, kept by the dispatcher (webhooks.py): failed attempts since the last success, the
    # last error, and since when the webhook counts as failing (None: healthy). Migration 0011.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    last_failure_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(nullable=True)
    failing_since: Mapped[datetime | None] = mapped_column(nullable=True)

    @property
    def failing(self) -> bool:
        return self.failing_since is not None


class WebhookDelivery(Base):
    """One event for one webhook; persisted so retries survive a restart."""

    __tablename__ = "network_webhook_deliveries"
    __table_args__ = (Index("ix_network_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    webhook_id: Mapped[str] = mapped_column(
        ForeignKey("network_webhooks.id", ondelete="CASCADE"), index=True
    )
    court_id: Mapped[str] = mapped_column(String(32), index=True)
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    replay_of: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)


class WebhookAttempt(Base):
    __tablename__ = "network_webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("network_webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
