"""Routes of the terminal services for the 庭务主任 (the operator of a shared court's terminal):
register and read the intakes of the terminal's shared court, upload evidence, list the mediators
and judges bookable from the terminal, and book a remote session with one."""

from __future__ import annotations

from datetime import UTC, date, timedelta

from sqlalchemy import select

from server import scheduling
from server.court_network import booking, service
from server.court_network.models import (
    CLOSED_STATUSES,
    Attachment,
    Intake,
    IntakeChannel,
    IntakeStatus,
    MediatorProfile,
    MediatorSharedCourt,
)
from server.court_network.routes.access import (
    TAG,
    intake_data,
    intake_detail,
    intake_out,
    terminal_intake,
    terminal_shared_court,
)
from server.court_network.routes.attachments import add_attachment
from server.court_network.schemas import (
    AttachmentOut,
    BookingIn,
    BookingOut,
    IntakeDetailOut,
    IntakeOut,
    IntakeQuery,
    SlotOut,
    SlotQuery,
    SlotsOut,
    TerminalBookableOut,
    TerminalIntakeIn,
    TerminalMediatorQuery,
)
from server.http.errors import bad_request, conflict
from server.http.framework import Api, Ctx
from server.models import Case, User, UserRole, utcnow
from server.scheduling import record_scheduled, schedule_session
from server.security.principals import TerminalPrincipal
from server.zones import zone_of

api = Api()


@api.route(
    "POST",
    "/api/network/terminal/intakes",
    summary="Intake at the terminal by the 庭务主任 (for the terminal's shared court)",
    tag=TAG,
    auth="terminal",
    body=TerminalIntakeIn,
    response=IntakeOut,
    status=201,
)
async def terminal_create_intake(ctx: Ctx, body: TerminalIntakeIn) -> IntakeOut:
    shared = await terminal_shared_court(ctx)
    intake = await service.create_intake(
        ctx.db,
        ctx.state,
        court_id=shared.court_id,
        data=intake_data(body),
        channel=IntakeChannel.terminal,
        actor=ctx.actor,
        shared_court=shared,
        ip=ctx.ip,
    )
    service.runtime(ctx.state).dispatcher.wake()
    return await intake_out(ctx.db, intake)


@api.route(
    "GET",
    "/api/network/terminal/intakes",
    summary="Intakes of the terminal's shared court",
    tag=TAG,
    auth="terminal",
    query=IntakeQuery,
    response=list[IntakeOut],
)
async def terminal_list_intakes(ctx: Ctx, query: IntakeQuery) -> list[IntakeOut]:
    shared = await terminal_shared_court(ctx)
    stmt = select(Intake).where(Intake.shared_court_id == shared.id)
    if query.status:
        stmt = stmt.where(Intake.status == query.status)
    stmt = stmt.order_by(Intake.received_at.desc()).limit(query.limit).offset(query.offset)
    return [await intake_out(ctx.db, i) for i in await ctx.db.scalars(stmt)]


@api.route(
    "GET",
    "/api/network/terminal/intakes/{intake_id}",
    summary="One intake of the terminal's shared court",
    tag=TAG,
    auth="terminal",
    response=IntakeDetailOut,
)
async def terminal_get_intake(ctx: Ctx) -> IntakeDetailOut:
    return await intake_detail(ctx, await terminal_intake(ctx, ctx.match("intake_id")))


@api.route(
    "POST",
    "/api/network/terminal/intakes/{intake_id}/attachments",
    summary="Upload evidence at the terminal (multipart 'file')",
    tag=TAG,
    auth="terminal",
    response=AttachmentOut,
    status=201,
)
async def terminal_attachment(ctx: Ctx) -> Attachment:
    return await add_attachment(ctx, await terminal_intake(ctx, ctx.match("intake_id")))


async def _bookable_mediator(
    ctx: Ctx, intake: Intake, case: Case, mediator_id: str | None
) -> User:
    """The mediator a terminal may book for an intake: a judge of the court, a mediator serving
    the shared court, or the case's assigned mediator; `None`: the assigned mediator."""
    mediator_id = mediator_id or case.mediator_id
    mediator = await ctx.db.get(User, mediator_id) if mediator_id else None
    if mediator is None:
        raise bad_request("调解员无效 / unknown mediator", code="invalid_mediator")
    serves = await ctx.db.get(MediatorSharedCourt, (mediator.id, intake.shared_court_id))
    if (
        mediator.court_id != intake.court_id
        or not mediator.active
        or not (
            mediator.role == UserRole.judge
            or (mediator.role == UserRole.mediator and (serves or mediator.id == case.mediator_id))
        )
    ):
        raise bad_request(
            "该调解员不服务本共享法庭 / mediator does not serve this shared court",
            code="invalid_mediator",
        )
    return mediator


async def _bookable_intake(ctx: Ctx, intake_id: str) -> tuple[Intake, Case]:
    intake = await terminal_intake(ctx, intake_id)
    if intake.status in CLOSED_STATUSES or intake.status == IntakeStatus.received:
        raise conflict("请先分配调解员，且案件未结束 / intake must be assigned and open")
    case = await ctx.db.get(Case, intake.case_id)
    assert case is not None
    return intake, case


@api.route(
    "GET",
    "/api/network/terminal/mediators",
    summary="Mediators and judges bookable from this terminal (with an intake: its assigned "
    "mediator too, flagged `assigned`)",
    tag=TAG,
    auth="terminal",
    query=TerminalMediatorQuery,
    response=list[TerminalBookableOut],
)
async def terminal_mediators(ctx: Ctx, query: TerminalMediatorQuery) -> list[TerminalBookableOut]:
    shared = await terminal_shared_court(ctx)
    assigned_id: str | None = None
    if query.intake_id is not None:
        intake = await terminal_intake(ctx, query.intake_id)
        case = await ctx.db.get(Case, intake.case_id)
        assigned_id = case.mediator_id if case else None
    serving = select(MediatorSharedCourt.user_id).where(
        MediatorSharedCourt.shared_court_id == shared.id
    )
    who = (User.id.in_(serving)) | (User.role == UserRole.judge)
    if assigned_id is not None:
        # The assigned mediator may serve another shared court (matching tiers 1 and 2, or
        # assigned by hand) or no longer take new cases: still the one to book for this case.
        who = who | (User.id == assigned_id)
    rows = await ctx.db.execute(
        select(User, MediatorProfile)
        .outerjoin(MediatorProfile, MediatorProfile.user_id == User.id)
        .where(
            User.court_id == shared.court_id,
            User.active.is_(True),
            User.role.in_([UserRole.mediator, UserRole.judge]),
            who,
        )
        .order_by(User.role, User.display_name)
    )
    out = [
        TerminalBookableOut(
            user_id=u.id,
            display_name=u.display_name,
            role=u.role,
            kind=p.kind if p else None,
            specialties=list(p.specialties) if p else [],
            assigned=u.id == assigned_id,
        )
        for u, p in rows.all()
        if p is None or p.available or u.id == assigned_id
    ]
    return sorted(out, key=lambda b: not b.assigned)  # stable: the assigned one first


@api.route(
    "GET",
    "/api/network/terminal/slots",
    summary="The slots of a local day (the court's zone) for booking an intake's session: free, or taken "
    "and why",
    tag=TAG,
    auth="terminal",
    query=SlotQuery,
    response=SlotsOut,
)
async def terminal_slots(ctx: Ctx, query: SlotQuery) -> SlotsOut:
    assert isinstance(ctx.principal, TerminalPrincipal)
    terminal = ctx.principal.terminal
    intake, case = await _bookable_intake(ctx, query.intake_id)
    mediator = await _bookable_mediator(ctx, intake, case, query.mediator_id)
    rules = booking.Rules.of(ctx.state.settings, await zone_of(ctx.db, terminal.court_id))
    day = date.fromisoformat(query.date)
    now = utcnow()
    if not booking.day_in_range(day, now=now, rules=rules):
        raise bad_request(
            "日期超出范围 / the date is too far from today", code="date_out_of_range"
        )
    slots = booking.day_slots(day, rules)
    busy = (
        await scheduling.occupied(
            ctx.db,
            mediator_id=mediator.id,
            terminal_id=terminal.id,
            start=slots[0].start,
            end=slots[-1].end,
        )
        if slots
        else []
    )
    out = []
    for slot in slots:
        reason = booking.slot_reason(slot, now=now, rules=rules, busy=busy)
        out.append(
            SlotOut(
                start=slot.start,
                end=slot.end,
                local_start=booking.local_hhmm(slot.start, rules.zone),
                local_end=booking.local_hhmm(slot.end, rules.zone),
                free=reason is None,
                reason=reason,
                reason_label=booking.REASON_LABELS[reason] if reason else None,
            )
        )
    return SlotsOut(
        intake_id=intake.id,
        mediator_id=mediator.id,
        date=day.isoformat(),
        utc_offset=booking.day_offset(day, rules),
        slot_minutes=rules.slot_minutes,
        hours=rules.hours_text(),
        slots=out,
    )


@api.route(
    "POST",
    "/api/network/terminal/bookings",
    summary="Book a remote session with a mediator or judge from the terminal, on a free slot "
    "(see /api/network/terminal/slots)",
    tag=TAG,
    auth="terminal",
    body=BookingIn,
    response=BookingOut,
    status=201,
)
async def terminal_booking(ctx: Ctx, body: BookingIn) -> BookingOut:
    assert isinstance(ctx.principal, TerminalPrincipal)
    terminal = ctx.principal.terminal
    intake, case = await _bookable_intake(ctx, body.intake_id)
    mediator = await _bookable_mediator(ctx, intake, case, body.mediator_id)
    rules = booking.Rules.of(ctx.state.settings, await zone_of(ctx.db, terminal.court_id))
    # Checked before any arithmetic: a time near the ends of the calendar is simply refused.
    booking.check_time(body.scheduled_at, body.duration_minutes, now=utcnow(), rules=rules)
    start = body.scheduled_at.astimezone(UTC)
    end = start + timedelta(minutes=body.duration_minutes)
    # One booking at a time per mediator and per terminal (a second one, in any process, waits
    # here on PostgreSQL), then the time must still be free.
    await scheduling.lock_calendars(ctx.db, mediator_id=mediator.id, terminal_id=terminal.id)

    async def ensure_free(exclude_session_id: str | None = None) -> None:
        await booking.ensure_free(
            ctx.db,
            mediator_id=mediator.id,
            terminal_id=terminal.id,
            start=start,
            end=end,
            rules=rules,
            exclude_session_id=exclude_session_id,
        )

    await ensure_free()
    await ctx.db.refresh(case, ["parties"])
    session = await schedule_session(
        ctx.db,
        case=case,
        scheduled_at=start,
        mediator=mediator,
        parties=list(case.parties),
        terminal=terminal,
        duration_minutes=body.duration_minutes,
        created_by=None,
    )
    # SQLite: the insert above waited for the one writer lock, so this sees every booking
    # committed before it (a parallel one that passed the first check too is refused here).
    await ensure_free(exclude_session_id=session.id)
    record_scheduled(ctx.db, session, actor=ctx.actor, ip=ctx.ip, via="terminal")
    await service.on_session_scheduled(ctx.db, ctx.state, session, ctx.actor)
    return BookingOut(
        session_id=session.id,
        intake_id=intake.id,
        mediator_id=mediator.id,
        scheduled_at=session.scheduled_at,
        status=intake.status,
    )
