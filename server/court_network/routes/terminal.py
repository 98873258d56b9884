"""Routes of the terminal services for the 庭务主任 (the operator of a shared court's terminal):
register and read the intakes of the terminal's shared court, upload evidence, list the mediators
and judges bookable from the terminal, and book a remote session with one."""

from __future__ import annotations

from sqlalchemy import select

from server.court_network import service
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
    BookableOut,
    BookingIn,
    BookingOut,
    IntakeDetailOut,
    IntakeOut,
    IntakeQuery,
    TerminalIntakeIn,
)
from server.http.errors import bad_request, conflict
from server.http.framework import Api, Ctx
from server.models import Case, User, UserRole
from server.scheduling import record_scheduled, schedule_session
from server.security.principals import TerminalPrincipal

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


@api.route(
    "GET",
    "/api/network/terminal/mediators",
    summary="Mediators and judges bookable from this terminal",
    tag=TAG,
    auth="terminal",
    response=list[BookableOut],
)
async def terminal_mediators(ctx: Ctx) -> list[BookableOut]:
    shared = await terminal_shared_court(ctx)
    serving = select(MediatorSharedCourt.user_id).where(
        MediatorSharedCourt.shared_court_id == shared.id
    )
    rows = await ctx.db.execute(
        select(User, MediatorProfile)
        .outerjoin(MediatorProfile, MediatorProfile.user_id == User.id)
        .where(
            User.court_id == shared.court_id,
            User.active.is_(True),
            (User.id.in_(serving)) | (User.role == UserRole.judge),
        )
        .order_by(User.role, User.display_name)
    )
    return [
        BookableOut(
            user_id=u.id,
            display_name=u.display_name,
            role=u.role,
            kind=p.kind if p else None,
            specialties=list(p.specialties) if p else [],
        )
        for u, p in rows.all()
        if p is None or p.available
    ]


@api.route(
    "POST",
    "/api/network/terminal/bookings",
    summary="Book a remote session with a mediator or judge from the terminal",
    tag=TAG,
    auth="terminal",
    body=BookingIn,
    response=BookingOut,
    status=201,
)
async def terminal_booking(ctx: Ctx, body: BookingIn) -> BookingOut:
    assert isinstance(ctx.principal, TerminalPrincipal)
    terminal = ctx.principal.terminal
    intake = await terminal_intake(ctx, body.intake_id)
    if intake.status in CLOSED_STATUSES or intake.status == IntakeStatus.received:
        raise conflict("请先分配调解员，且案件未结束 / intake must be assigned and open")
    case = await ctx.db.get(Case, intake.case_id)
    assert case is not None
    mediator_id = body.mediator_id or case.mediator_id
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
    await ctx.db.refresh(case, ["parties"])
    session = await schedule_session(
        ctx.db,
        case=case,
        scheduled_at=body.scheduled_at,
        mediator=mediator,
        parties=list(case.parties),
        terminal=terminal,
        duration_minutes=body.duration_minutes,
        created_by=None,
    )
    record_scheduled(ctx.db, session, actor=ctx.actor, ip=ctx.ip, via="terminal")
    await service.on_session_scheduled(ctx.db, ctx.state, session, ctx.actor)
    return BookingOut(
        session_id=session.id,
        intake_id=intake.id,
        mediator_id=mediator.id,
        scheduled_at=session.scheduled_at,
        status=intake.status,
    )
