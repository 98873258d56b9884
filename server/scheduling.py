"""Scheduling a mediation session: who is expected, under which label; and whose time it holds
(terminal bookings refuse a slot a session already holds; staff may overlap on purpose)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server import audit
from server.invites import ROLE_LABELS_ZH
from server.models import (
    Case,
    MediationSession,
    ParticipantKind,
    Party,
    SessionParticipant,
    SessionStatus,
    Terminal,
    User,
    UserRole,
)

# Sessions in these states hold their time; cancelled and ended ones free it.
OCCUPYING = (SessionStatus.scheduled, SessionStatus.live)
# Longer than any session can last (staff scheduling allows 600 minutes): a session that starts
# this long before a time cannot run into it.
LONGEST_SESSION = timedelta(hours=24)
Who = Literal["mediator", "terminal"]


@dataclass(frozen=True)
class Busy:
    """A session holding [start, end) of the mediator's or the terminal's time."""

    start: datetime
    end: datetime
    who: Who
    session_id: str


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


async def occupied(
    db: AsyncSession,
    *,
    mediator_id: str,
    terminal_id: str | None,
    start: datetime,
    end: datetime,
    exclude_session_id: str | None = None,
) -> list[Busy]:
    """The scheduled or live sessions of the mediator or of the terminal that overlap
    [start, end)."""
    who = MediationSession.mediator_id == mediator_id
    if terminal_id is not None:
        who = or_(who, MediationSession.terminal_id == terminal_id)
    stmt = select(MediationSession).where(
        who,
        MediationSession.status.in_(OCCUPYING),
        MediationSession.scheduled_at < end,
        MediationSession.scheduled_at > start - LONGEST_SESSION,
    )
    if exclude_session_id is not None:
        stmt = stmt.where(MediationSession.id != exclude_session_id)
    out = []
    for s in await db.scalars(stmt):
        s_end = s.scheduled_at + timedelta(minutes=s.duration_minutes)
        if not overlaps(start, end, s.scheduled_at, s_end):
            continue
        if s.mediator_id == mediator_id:
            out.append(Busy(s.scheduled_at, s_end, "mediator", s.id))
        if terminal_id is not None and s.terminal_id == terminal_id:
            out.append(Busy(s.scheduled_at, s_end, "terminal", s.id))
    return out


async def lock_calendars(db: AsyncSession, *, mediator_id: str, terminal_id: str | None) -> None:
    """Serialise scheduling for one mediator or one terminal until this transaction ends.

    PostgreSQL: the mediator's user row, then the terminal's row, are locked (FOR NO KEY UPDATE,
    always in this order, so two bookings cannot deadlock; foreign keys to the rows are not
    blocked), so a second booking waits here and then sees the first one's committed session.
    SQLite ignores the lock; there the session's insert takes the database's single writer
    lock, and checking `occupied` again after the insert sees every earlier booking."""
    await db.execute(select(User.id).where(User.id == mediator_id).with_for_update(key_share=True))
    if terminal_id is not None:
        await db.execute(
            select(Terminal.id).where(Terminal.id == terminal_id).with_for_update(key_share=True)
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
