"""Intake flow, matching rule, notifications and the hooks into sessions (see docs/network.md)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server import audit
from server.court_network.models import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    Intake,
    IntakeAssignment,
    IntakeChannel,
    IntakeStatus,
    IntakeTransition,
    MediatorProfile,
    MediatorSharedCourt,
    SharedCourt,
)
from server.court_network.webhooks import WebhookDispatcher, enqueue
from server.http.errors import conflict
from server.models import (
    CASE_TYPE_NAMES,
    Case,
    CaseType,
    MediationSession,
    Party,
    PartyRole,
    SessionStatus,
    User,
    UserRole,
)
from server.state import AppState, StateKey
from server.zones import default_zone, zone_of

log = logging.getLogger(__name__)
NETWORK_KEY: StateKey[NetworkRuntime] = StateKey("network")

# Which status may follow which. Closing statuses are final. Back to `assigned` from
# `scheduled` / `mediating`: a cancellation that leaves no session, or a staff correction
# (which must say why, see CORRECTIONS).
ALLOWED: dict[IntakeStatus, frozenset[IntakeStatus]] = {
    IntakeStatus.received: frozenset({IntakeStatus.assigned, IntakeStatus.withdrawn}),
    IntakeStatus.assigned: frozenset(
        {IntakeStatus.scheduled, IntakeStatus.mediating} | CLOSED_STATUSES
    ),
    IntakeStatus.scheduled: frozenset(
        {IntakeStatus.assigned, IntakeStatus.mediating} | CLOSED_STATUSES
    ),
    IntakeStatus.mediating: frozenset(
        {IntakeStatus.assigned, IntakeStatus.scheduled} | CLOSED_STATUSES
    ),
}
# Steps back that staff may record by hand only with a written reason.
CORRECTIONS = frozenset(
    {
        (IntakeStatus.scheduled, IntakeStatus.assigned),
        (IntakeStatus.mediating, IntakeStatus.assigned),
    }
)
OUTCOME_STATUS = {
    "settled": IntakeStatus.settled,
    "partial": IntakeStatus.partially_settled,
    "failed": IntakeStatus.failed,
}
STATUS_LABELS = {
    IntakeStatus.received: "已受理",
    IntakeStatus.assigned: "已分配调解员",
    IntakeStatus.scheduled: "已排期",
    IntakeStatus.mediating: "调解中",
    IntakeStatus.settled: "调解成功",
    IntakeStatus.partially_settled: "部分达成",
    IntakeStatus.failed: "调解不成",
    IntakeStatus.withdrawn: "已撤回",
}


# --- notifications ---------------------------------------------------------------------------
class Notifier(Protocol):
    """SMS / phone notifications. A real gateway implements `send`; nothing here sends SMS."""

    async def send(self, phone: str, template: str, params: dict[str, str]) -> None: ...


def mask_phone(phone: str) -> str:
    digits = "".join(c for c in phone if c.isdigit())
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 7 else "****"


@dataclass
class LogNotifier:
    """Logs what would be sent (phone masked) and keeps the last messages for inspection."""

    sent: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    async def send(self, phone: str, template: str, params: dict[str, str]) -> None:
        log.info("notify %s: %s %s", mask_phone(phone), template, params)
        self.sent.append((phone, template, params))
        del self.sent[:-200]


@dataclass
class NetworkRuntime:
    notifier: Notifier
    dispatcher: WebhookDispatcher


def runtime(state: AppState) -> NetworkRuntime:
    return state.part(NETWORK_KEY)


# --- intake ----------------------------------------------------------------------------------
def local_now(zone: ZoneInfo | None = None) -> datetime:
    """Now on the court's clock (China's when no zone is given)."""
    return datetime.now(zone or default_zone())


async def new_intake_number(
    db: AsyncSession, zone: ZoneInfo, received_at: datetime | None = None
) -> str:
    """`TJ` + the court's local date of receipt + 6 random digits: unguessable enough that
    lookups need the phone too. An imported 2025 intake gets a 2025 number."""
    day = (received_at or datetime.now(UTC)).astimezone(zone).strftime("%Y%m%d")
    while True:
        number = f"TJ{day}{secrets.randbelow(10**6):06d}"
        if await db.scalar(select(Intake.id).where(Intake.number == number)) is None:
            return number


@dataclass
class IntakeData:
    case_type: CaseType
    applicant_name: str
    applicant_phone: str
    respondent_name: str
    respondent_phone: str = ""
    claim: str = ""
    facts: str = ""


async def create_intake(
    db: AsyncSession,
    state: AppState,
    *,
    court_id: str,
    data: IntakeData,
    channel: IntakeChannel,
    actor: str,
    shared_court: SharedCourt | None,
    area_id: str | None = None,
    number: str | None = None,
    received_at: datetime | None = None,
    ip: str = "",
    notify: bool = True,
    historical: bool = False,
) -> Intake:
    """`historical` (imports of past intakes): never matched, assigned, alerted on or announced
    to webhook receivers (a year's history is not 5,000 new applications)."""
    at = received_at or datetime.now(UTC)
    number = number or await new_intake_number(db, await zone_of(db, court_id), at)
    case = Case(
        court_id=court_id,
        case_number=number,
        case_type=data.case_type,
        title=f"{data.applicant_name} 与 {data.respondent_name} 纠纷"[:200],
        description=data.claim,
        created_at=at,
    )
    db.add(case)
    await db.flush()
    db.add(
        Party(
            case_id=case.id,
            name=data.applicant_name,
            role=PartyRole.applicant,
            phone=data.applicant_phone,
            created_at=at,
        )
    )
    db.add(
        Party(
            case_id=case.id,
            name=data.respondent_name,
            role=PartyRole.respondent,
            phone=data.respondent_phone,
            created_at=at + timedelta(microseconds=1),
        )
    )
    intake = Intake(
        court_id=court_id,
        number=number,
        case_id=case.id,
        shared_court_id=shared_court.id if shared_court else None,
        area_id=area_id
        if area_id is not None
        else (shared_court.area_id if shared_court else None),
        channel=channel,
        case_type=data.case_type,
        applicant_name=data.applicant_name,
        applicant_phone=data.applicant_phone,
        respondent_name=data.respondent_name,
        respondent_phone=data.respondent_phone,
        claim=data.claim,
        facts=data.facts,
        status=IntakeStatus.received,
        received_at=at,
        created_by=actor,
    )
    db.add(intake)
    await db.flush()
    db.add(
        IntakeTransition(
            intake_id=intake.id, from_status=None, to_status="received", at=at, actor=actor
        )
    )
    audit.record(
        db,
        actor=actor,
        action="intake.receive",
        court_id=court_id,
        target=intake.id,
        ip=ip,
        number=number,
        channel=channel.value,
    )
    if not historical:
        await enqueue(db, court_id, "intake.received", intake_event(intake))
    if notify:
        await runtime(state).notifier.send(
            data.applicant_phone, "intake_received", {"number": number}
        )
    if not historical and shared_court is not None and shared_court.auto_assign:
        ranked = await rank_candidates(db, intake)
        if ranked:
            await assign(
                db,
                state,
                intake,
                ranked[0].user,
                method="auto",
                actor="system",
                reason=ranked[0].reason,
            )
    if not historical:
        await _alert_if_unassignable(db, intake, actor, ip)
    return intake


def intake_event(intake: Intake) -> dict[str, Any]:
    """What webhooks carry: no names or phone numbers of the parties."""
    return {
        "intake_id": intake.id,
        "number": intake.number,
        "case_id": intake.case_id,
        "case_type": intake.case_type.value,
        "shared_court_id": intake.shared_court_id,
        "channel": intake.channel.value,
        "status": intake.status.value,
        "received_at": intake.received_at.isoformat(),
    }


async def transition(
    db: AsyncSession,
    intake: Intake,
    to: IntakeStatus,
    *,
    actor: str,
    note: str = "",
    at: datetime | None = None,
    ip: str = "",
) -> IntakeTransition:
    current = intake.status
    if to not in ALLOWED.get(current, frozenset()):
        raise conflict(f"状态不能从 {current.value} 变为 {to.value} / transition not allowed")
    at = at or datetime.now(UTC)
    row = IntakeTransition(
        intake_id=intake.id,
        from_status=current.value,
        to_status=to.value,
        at=at,
        actor=actor,
        note=note,
    )
    db.add(row)
    intake.status = to
    if to in CLOSED_STATUSES:
        intake.closed_at = at
    audit.record(
        db,
        actor=actor,
        action="intake.transition",
        court_id=intake.court_id,
        target=intake.id,
        ip=ip,
        before=current.value,
        after=to.value,
        note=note,
    )
    if to == IntakeStatus.withdrawn:
        await enqueue(db, intake.court_id, "intake.withdrawn", intake_event(intake))
    return row


# --- matching --------------------------------------------------------------------------------
@dataclass
class Candidate:
    user: User
    profile: MediatorProfile
    tier: int  # 0: serves this shared court, 1: serves one in the same area, 2: same court
    open_cases: int
    reason: str


async def open_counts(db: AsyncSession, court_id: str) -> dict[str, int]:
    rows = await db.execute(
        select(Case.mediator_id, func.count())
        .join(Intake, Intake.case_id == Case.id)
        .where(Intake.court_id == court_id, Intake.status.in_(list(OPEN_STATUSES)))
        .group_by(Case.mediator_id)
    )
    return {str(m): int(n) for m, n in rows.all() if m is not None}


async def available_mediators(
    db: AsyncSession, court_id: str
) -> list[tuple[User, MediatorProfile]]:
    """Who of a court can take intakes at all: active mediators and judges whose profile is
    available (the matching rule's step 1 before specialty and load; coverage counts the same
    people)."""
    rows = await db.execute(
        select(User, MediatorProfile)
        .join(MediatorProfile, MediatorProfile.user_id == User.id)
        .where(
            User.court_id == court_id,
            User.active.is_(True),
            User.role.in_([UserRole.mediator, UserRole.judge]),
            MediatorProfile.available.is_(True),
        )
    )
    return [(u, p) for u, p in rows.all()]


async def rank_candidates(db: AsyncSession, intake: Intake) -> list[Candidate]:
    """The documented matching rule (docs/network.md, "Matching"):

    1. eligible: active user of the intake's court, role mediator or judge, with a profile that
       is available, lists the intake's case type among its specialties and has fewer open
       intakes than its `max_open`;
    2. tier: 0 serves the intake's shared court, 1 serves a shared court of the same area,
       2 any other eligible mediator of the court;
    3. within a tier: fewest open intakes, then username (deterministic).
    """
    pairs = [
        (u, p)
        for u, p in await available_mediators(db, intake.court_id)
        if intake.case_type.value in (p.specialties or [])
    ]
    if not pairs:
        return []
    served: dict[str, set[str]] = {}
    for uid, scid in await db.execute(
        select(MediatorSharedCourt.user_id, MediatorSharedCourt.shared_court_id).where(
            MediatorSharedCourt.user_id.in_([u.id for u, _ in pairs])
        )
    ):
        served.setdefault(uid, set()).add(scid)
    same_area: set[str] = set()
    if intake.area_id is not None:
        same_area = set(
            await db.scalars(select(SharedCourt.id).where(SharedCourt.area_id == intake.area_id))
        )
    counts = await open_counts(db, intake.court_id)
    out = []
    for user, profile in pairs:
        n = counts.get(user.id, 0)
        if n >= profile.max_open:
            continue
        mine = served.get(user.id, set())
        if intake.shared_court_id is not None and intake.shared_court_id in mine:
            tier, why_zh, why = 0, "服务本共享法庭", "serves this shared court"
        elif mine & same_area:
            tier, why_zh, why = 1, "服务同片区共享法庭", "serves a shared court of the same area"
        else:
            tier, why_zh, why = 2, "仅专长匹配", "specialty only"
        label = CASE_TYPE_NAMES[intake.case_type]
        reason = (
            f"规则 v1：擅长{label}，{why_zh}，在办 {n} 件 / "
            f"rule v1: {intake.case_type.value} specialist, {why}, {n} open"
        )
        out.append(Candidate(user, profile, tier, n, reason))
    out.sort(key=lambda c: (c.tier, c.open_cases, c.user.username))
    return out


# --- why an intake waits --------------------------------------------------------------------
@dataclass(frozen=True)
class Unassigned:
    code: str  # no_specialist | all_at_capacity | awaiting_assignment
    message: str


NO_SPECIALIST = "no_specialist"
ALL_AT_CAPACITY = "all_at_capacity"
AWAITING = "awaiting_assignment"
# The reasons the court must act on: nobody can take this intake as things stand.
UNASSIGNABLE = frozenset({NO_SPECIALIST, ALL_AT_CAPACITY})


@dataclass
class Coverage:
    """Who of a court can take which case type, and how full they are: loaded once, then asked
    for each intake of a list (one query set, not one per intake)."""

    free: dict[str, int]  # case type -> specialists below their max_open
    total: dict[str, int]  # case type -> specialists, full or not

    def why(self, intake: Intake) -> Unassigned | None:
        if intake.status != IntakeStatus.received:
            return None
        kind = intake.case_type.value
        label = CASE_TYPE_NAMES[intake.case_type]
        if not self.total.get(kind):
            return Unassigned(
                NO_SPECIALIST,
                f"没有可用的调解员擅长{label}，请为其指定调解员或补充调解员 / "
                f"no available mediator takes {kind} cases",
            )
        if not self.free.get(kind):
            return Unassigned(
                ALL_AT_CAPACITY,
                f"擅长{label}的调解员均已满额 / every {kind} mediator is at their limit",
            )
        return Unassigned(AWAITING, "等待分配调解员 / waiting to be assigned")


async def court_coverage(db: AsyncSession, court_id: str) -> Coverage:
    counts = await open_counts(db, court_id)
    free: dict[str, int] = {}
    total: dict[str, int] = {}
    for user, profile in await available_mediators(db, court_id):
        for kind in profile.specialties or []:
            total[kind] = total.get(kind, 0) + 1
            if counts.get(user.id, 0) < profile.max_open:
                free[kind] = free.get(kind, 0) + 1
    return Coverage(free=free, total=total)


async def why_unassigned(db: AsyncSession, intake: Intake) -> Unassigned | None:
    if intake.status != IntakeStatus.received:
        return None
    return (await court_coverage(db, intake.court_id)).why(intake)


async def _alert_if_unassignable(db: AsyncSession, intake: Intake, actor: str, ip: str) -> None:
    why = await why_unassigned(db, intake)
    if why is None or why.code not in UNASSIGNABLE:
        return
    audit.record(
        db,
        actor=actor,
        action="intake.unassignable",
        court_id=intake.court_id,
        target=intake.id,
        ip=ip,
        reason=why.code,
        case_type=intake.case_type.value,
    )
    await enqueue(
        db, intake.court_id, "intake.unassignable", intake_event(intake) | {"reason": why.code}
    )


async def assign(
    db: AsyncSession,
    state: AppState,
    intake: Intake,
    mediator: User,
    *,
    method: str,
    actor: str,
    reason: str = "",
    ip: str = "",
) -> None:
    if intake.status in CLOSED_STATUSES:
        raise conflict("调解已结束 / the intake is closed")
    case = await db.get(Case, intake.case_id)
    assert case is not None
    previous = case.mediator_id
    case.mediator_id = mediator.id
    db.add(
        IntakeAssignment(
            intake_id=intake.id,
            mediator_id=mediator.id,
            previous_id=previous,
            method=method,
            reason=reason,
            actor=actor,
        )
    )
    audit.record(
        db,
        actor=actor,
        action="intake.reassign" if previous else "intake.assign",
        court_id=intake.court_id,
        target=intake.id,
        ip=ip,
        before=previous,
        after=mediator.id,
        method=method,
        reason=reason,
    )
    received = intake.status == IntakeStatus.received
    if received:
        await transition(
            db,
            intake,
            IntakeStatus.assigned,
            actor=actor,
            ip=ip,
            note=f"{method}: {mediator.display_name}",
        )
    await enqueue(
        db,
        intake.court_id,
        "intake.assigned",
        intake_event(intake) | {"mediator_id": mediator.id, "previous_id": previous, "method": method},
    )
    notifier = runtime(state).notifier
    if received:
        await notifier.send(intake.applicant_phone, "intake_assigned", {"number": intake.number})
    profile = await db.get(MediatorProfile, mediator.id)
    if profile is not None and profile.phone and mediator.id != previous:
        await notifier.send(
            profile.phone,
            "mediator_assigned",
            {
                "number": intake.number,
                "case_type": CASE_TYPE_NAMES[intake.case_type],
                "mediator": mediator.display_name,
            },
        )


# --- hooks into sessions -----------------------------------------------------------------------
async def _intake_of(db: AsyncSession, session: MediationSession) -> Intake | None:
    return await db.scalar(select(Intake).where(Intake.case_id == session.case_id))


def _party_phones(intake: Intake) -> list[str]:
    return [p for p in dict.fromkeys((intake.applicant_phone, intake.respondent_phone)) if p]


async def on_session_scheduled(
    db: AsyncSession, state: AppState, session: MediationSession, actor: str
) -> None:
    """Called where a session is scheduled: webhook, the intake moves to `scheduled`, and both
    parties are told the time."""
    intake = await _intake_of(db, session)
    data: dict[str, Any] = {
        "session_id": session.id,
        "case_id": session.case_id,
        "scheduled_at": session.scheduled_at.isoformat(),
        "mediator_id": session.mediator_id,
        "terminal_id": session.terminal_id,
        "intake_id": intake.id if intake else None,
        "number": intake.number if intake else None,
    }
    await enqueue(db, session.court_id, "session.scheduled", data)
    if intake is not None and intake.status not in CLOSED_STATUSES:
        if intake.status == IntakeStatus.received:
            await _implied_assignment(db, state, intake, session, actor)
        if intake.status in (IntakeStatus.assigned, IntakeStatus.mediating):
            await transition(
                db, intake, IntakeStatus.scheduled, actor=actor, note=f"session {session.id}"
            )
        zone = await zone_of(db, session.court_id)
        local = session.scheduled_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        for phone in _party_phones(intake):
            await runtime(state).notifier.send(
                phone, "session_scheduled", {"number": intake.number, "at": local}
            )
    runtime(state).dispatcher.wake()


async def on_session_cancelled(
    db: AsyncSession, state: AppState, session: MediationSession, actor: str, ip: str = ""
) -> None:
    """Called where a scheduled session is cancelled: webhook, the parties are told, and an
    intake left with no scheduled session goes back to `assigned` (so the queue shows it
    needs a new date)."""
    intake = await _intake_of(db, session)
    await enqueue(
        db,
        session.court_id,
        "session.cancelled",
        {
            "session_id": session.id,
            "case_id": session.case_id,
            "scheduled_at": session.scheduled_at.isoformat(),
            "intake_id": intake.id if intake else None,
            "number": intake.number if intake else None,
        },
    )
    if intake is not None and intake.status == IntakeStatus.scheduled:
        others = await db.scalar(
            select(func.count())
            .select_from(MediationSession)
            .where(
                MediationSession.case_id == session.case_id,
                MediationSession.id != session.id,
                MediationSession.status == SessionStatus.scheduled,
            )
        )
        if not others:
            await transition(
                db,
                intake,
                IntakeStatus.assigned,
                actor=actor,
                ip=ip,
                note=f"session {session.id} cancelled; no session left",
            )
    if intake is not None and intake.status not in CLOSED_STATUSES:
        zone = await zone_of(db, session.court_id)
        local = session.scheduled_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        for phone in _party_phones(intake):
            await runtime(state).notifier.send(
                phone, "session_cancelled", {"number": intake.number, "at": local}
            )
    runtime(state).dispatcher.wake()


async def _implied_assignment(
    db: AsyncSession, state: AppState, intake: Intake, session: MediationSession, actor: str
) -> None:
    """A session held for a never-assigned intake: its mediator is the intake's mediator. The
    step is recorded like any assignment (method `session`) so the history stays complete."""
    mediator = await db.get(User, session.mediator_id)
    if mediator is None:  # the session's mediator was deleted; the foreign key forbids it
        return
    await assign(
        db,
        state,
        intake,
        mediator,
        method="session",
        actor=actor,
        reason=f"implied: session {session.id} held by {mediator.display_name}",
    )


async def _to_mediating(
    db: AsyncSession, state: AppState, intake: Intake, session: MediationSession, why: str
) -> None:
    """Moves an open intake to `mediating` whatever its status, recording the implied steps."""
    if intake.status == IntakeStatus.received:
        await _implied_assignment(db, state, intake, session, "system")
    if intake.status in (IntakeStatus.assigned, IntakeStatus.scheduled):
        await transition(
            db, intake, IntakeStatus.mediating, actor="system", note=f"session {session.id} {why}"
        )


async def on_session_started(state: AppState, session_id: str) -> None:
    async with state.db.session() as db:
        session = await db.get(MediationSession, session_id)
        if session is None:
            return
        intake = await _intake_of(db, session)
        if intake is not None and intake.status not in CLOSED_STATUSES:
            await _to_mediating(db, state, intake, session, "started")
    runtime(state).dispatcher.wake()


async def on_session_ended(state: AppState, session_id: str, outcome: str, note: str) -> None:
    """A session's outcome closes its case's intake whatever the intake's open status: a case
    mediated without ever being assigned or scheduled is still settled (or failed), with the
    implied assignment and transitions recorded. A closed intake stays closed (the outcome is
    kept on the session and audited)."""
    async with state.db.session() as db:
        session = await db.get(MediationSession, session_id)
        if session is None:
            return
        intake = await _intake_of(db, session)
        await enqueue(
            db,
            session.court_id,
            "session.ended",
            {
                "session_id": session_id,
                "case_id": session.case_id,
                "outcome": outcome,
                "intake_id": intake.id if intake else None,
                "number": intake.number if intake else None,
            },
        )
        target = OUTCOME_STATUS.get(outcome)
        if intake is not None and target is not None:
            if intake.status in CLOSED_STATUSES:
                audit.record(
                    db,
                    actor="system",
                    action="intake.outcome_after_close",
                    court_id=intake.court_id,
                    target=intake.id,
                    session_id=session_id,
                    status=intake.status.value,
                    outcome=outcome,
                )
            else:
                await _to_mediating(db, state, intake, session, "held (implied by its outcome)")
                await transition(
                    db,
                    intake,
                    target,
                    actor="system",
                    note=f"session {session_id} ended: {note}"[:2000],
                )
                for phone in _party_phones(intake):
                    await runtime(state).notifier.send(
                        phone,
                        "intake_closed",
                        {"number": intake.number, "status": STATUS_LABELS[target]},
                    )
    runtime(state).dispatcher.wake()
