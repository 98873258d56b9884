"""Scheduling a mediation session: who is expected, under which label."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from server import audit
from server.invites import ROLE_LABELS_ZH
from server.models import (
    Case,
    MediationSession,
    ParticipantKind,
    Party,
    SessionParticipant,
    Terminal,
    User,
    UserRole,
)

DISPLAY_NAME_MAX: int = getattr(SessionParticipant.__table__.c.display_name.type, "length", None) or 100


async def schedule_session(
    db: AsyncSession,
    *,
    case: Case,
    scheduled_at: datetime,
    mediator: User,
    parties: list[Party],
    clerk: User | None = None,
    terminal: Terminal | None = None,
    duration_minutes: int = 60,
    record_caucus: bool = False,
    created_by: str | None = None,
) -> MediationSession:
    session = MediationSession(
        court_id=case.court_id,
        case_id=case.id,
        scheduled_at=scheduled_at,
        duration_minutes=duration_minutes,
        mediator_id=mediator.id,
        clerk_id=clerk.id if clerk else None,
        terminal_id=terminal.id if terminal else None,
        record_caucus=record_caucus,
        created_by=created_by,
    )
    db.add(session)
    await db.flush()
    mediator_label = "法官" if mediator.role == UserRole.judge else "调解员"
    rows = [
        SessionParticipant(
            session_id=session.id,
            kind=ParticipantKind.mediator,
            display_name=mediator.display_name,
            role_label=mediator_label,
            user_id=mediator.id,
        )
    ]
    if clerk is not None:
        rows.append(
            SessionParticipant(
                session_id=session.id,
                kind=ParticipantKind.clerk,
                display_name=clerk.display_name,
                role_label=ROLE_LABELS_ZH["clerk"],
                user_id=clerk.id,
            )
        )
    for party in parties:
        rows.append(
            SessionParticipant(
                session_id=session.id,
                kind=ParticipantKind.party,
                display_name=party.name,
                role_label=ROLE_LABELS_ZH[party.role.value],
                party_id=party.id,
            )
        )
    if terminal is not None:
        label = ROLE_LABELS_ZH["terminal"]
        rows.append(
            SessionParticipant(
                session_id=session.id,
                kind=ParticipantKind.terminal,
                # Terminal name (200) + operator (100) can exceed the column (100 characters):
                # PostgreSQL refused the insert.
                display_name=(
                    f"{terminal.name}（{label}{terminal.operator_name}）"
                    if terminal.operator_name
                    else terminal.name
                )[:DISPLAY_NAME_MAX],
                role_label=label,
                terminal_id=terminal.id,
            )
        )
    db.add_all(rows)
    await db.flush()
    await db.refresh(session, ["participants"])
    return session


def record_scheduled(
    db: AsyncSession, session: MediationSession, *, actor: str, ip: str = "",
    via: str | None = None,
) -> None:
    """The audit row of a scheduled session, the same whichever way it was booked (the
    clerk's console, or `via="terminal"` from a village terminal's booking)."""
    details: dict[str, str] = {"via": via} if via else {}
    audit.record(
        db,
        actor=actor,
        action="session.schedule",
        court_id=session.court_id,
        target=session.id,
        session_id=session.id,
        ip=ip,
        case_id=session.case_id,
        scheduled_at=session.scheduled_at.isoformat(),
        **details,
    )
