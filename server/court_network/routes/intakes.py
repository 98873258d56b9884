"""Routes of the intakes (诉前调解申请) for staff and external systems (API keys): list, register and
read them, rank the candidate mediators by the matching rule, assign or reassign the mediator,
and record a status change."""

from __future__ import annotations

from server.court_network import service
from server.court_network.models import Intake, IntakeChannel, IntakeStatus, SharedCourt
from server.court_network.routes.access import (
    READERS,
    TAG,
    WRITERS,
    court_area,
    court_of,
    intake_data,
    intake_detail,
    intake_out,
    load_intake,
    visible_intakes,
)
from server.court_network.schemas import (
    AssignIn,
    CandidateOut,
    IntakeDetailOut,
    IntakeIn,
    IntakeOut,
    IntakeQuery,
    TransitionIn,
)
from server.http.errors import bad_request, conflict
from server.http.framework import Api, Ctx
from server.models import Case, User, UserRole
from server.security.principals import ApiKeyPrincipal

api = Api()


async def _court_shared_court(ctx: Ctx, shared_court_id: str | None) -> SharedCourt | None:
    if shared_court_id is None:
        return None
    court = await ctx.db.get(SharedCourt, shared_court_id)
    if court is None or court.court_id != court_of(ctx):
        raise bad_request("共享法庭无效 / unknown shared_court_id", code="invalid_shared_court")
    return court


@api.route(
    "GET",
    "/api/network/intakes",
    summary="Intakes (诉前调解申请) visible to the caller",
    tag=TAG,
    roles=READERS,
    query=IntakeQuery,
    response=list[IntakeOut],
    scope="intakes:read",
)
async def list_intakes(ctx: Ctx, query: IntakeQuery) -> list[IntakeOut]:
    stmt = visible_intakes(ctx)
    if query.unassigned:
        stmt = stmt.where(Intake.status == IntakeStatus.received)
    if query.status:
        stmt = stmt.where(Intake.status == query.status)
    if query.case_type:
        stmt = stmt.where(Intake.case_type == query.case_type)
    if query.shared_court_id:
        stmt = stmt.where(Intake.shared_court_id == query.shared_court_id)
    stmt = stmt.order_by(Intake.received_at.desc()).limit(query.limit).offset(query.offset)
    coverage = await service.court_coverage(ctx.db, court_of(ctx))
    return [await intake_out(ctx.db, i, coverage) for i in await ctx.db.scalars(stmt)]


@api.route(
    "POST",
    "/api/network/intakes",
    summary="Register an intake (staff or external system)",
    tag=TAG,
    roles=WRITERS,
    body=IntakeIn,
    response=IntakeOut,
    status=201,
    scope="intakes:write",
)
async def create_intake(ctx: Ctx, body: IntakeIn) -> IntakeOut:
    shared = await _court_shared_court(ctx, body.shared_court_id)
    await court_area(ctx, body.area_id)
    channel = (
        IntakeChannel.api if isinstance(ctx.principal, ApiKeyPrincipal) else (IntakeChannel.staff)
    )
    intake = await service.create_intake(
        ctx.db,
        ctx.state,
        court_id=court_of(ctx),
        data=intake_data(body),
        channel=channel,
        actor=ctx.actor,
        shared_court=shared,
        area_id=body.area_id,
        ip=ctx.ip,
    )
    service.runtime(ctx.state).dispatcher.wake()
    return await intake_out(ctx.db, intake)


@api.route(
    "GET",
    "/api/network/intakes/{intake_id}",
    summary="One intake with its transitions, assignments and attachments",
    tag=TAG,
    roles=READERS,
    response=IntakeDetailOut,
    scope="intakes:read",
)
async def get_intake(ctx: Ctx) -> IntakeDetailOut:
    return await intake_detail(ctx, await load_intake(ctx, ctx.match("intake_id")))


@api.route(
    "GET",
    "/api/network/intakes/{intake_id}/candidates",
    summary="Mediators ranked by the matching rule",
    tag=TAG,
    roles=WRITERS,
    response=list[CandidateOut],
)
async def intake_candidates(ctx: Ctx) -> list[CandidateOut]:
    intake = await load_intake(ctx, ctx.match("intake_id"))
    return [
        CandidateOut(
            user_id=c.user.id,
            username=c.user.username,
            display_name=c.user.display_name,
            role=c.user.role,
            tier=c.tier,
            open_intakes=c.open_cases,
            reason=c.reason,
        )
        for c in await service.rank_candidates(ctx.db, intake)
    ]


@api.route(
    "POST",
    "/api/network/intakes/{intake_id}/assign",
    summary="Assign or reassign the mediator (empty: by the matching rule)",
    tag=TAG,
    roles=WRITERS,
    body=AssignIn,
    response=IntakeDetailOut,
)
async def assign_intake(ctx: Ctx, body: AssignIn) -> IntakeDetailOut:
    intake = await load_intake(ctx, ctx.match("intake_id"))
    if body.mediator_id is None:
        ranked = await service.rank_candidates(ctx.db, intake)
        if not ranked:
            raise conflict("没有符合条件的调解员 / no eligible mediator; assign one by hand")
        user, method, reason = ranked[0].user, "auto", ranked[0].reason
    else:
        found = await ctx.db.get(User, body.mediator_id)
        if (
            found is None
            or found.court_id != intake.court_id
            or found.role not in (UserRole.mediator, UserRole.judge)
            or not found.active
        ):
            raise bad_request(
                "调解员无效 / not an active mediator or judge of this court",
                code="invalid_mediator",
            )
        user, method, reason = found, "manual", body.reason
    case = await ctx.db.get(Case, intake.case_id)
    if case is not None and case.mediator_id not in (None, user.id) and not reason.strip():
        raise bad_request(
            "更换调解员须写明原因 / a reassignment needs a reason", code="reason_required"
        )
    await service.assign(
        ctx.db, ctx.state, intake, user, method=method, actor=ctx.actor, reason=reason, ip=ctx.ip
    )
    await ctx.db.flush()
    return await intake_detail(ctx, intake)


@api.route(
    "POST",
    "/api/network/intakes/{intake_id}/transition",
    summary="Record a status change (e.g. mediating, settled, failed, withdrawn)",
    tag=TAG,
    roles=READERS,
    body=TransitionIn,
    response=IntakeDetailOut,
)
async def transition_intake(ctx: Ctx, body: TransitionIn) -> IntakeDetailOut:
    intake = await load_intake(ctx, ctx.match("intake_id"))
    if body.status == IntakeStatus.assigned and intake.status == IntakeStatus.received:
        raise bad_request("请使用分配接口 / use the assign endpoint", code="use_assign")
    if (intake.status, body.status) in service.CORRECTIONS and not body.note.strip():
        raise bad_request(
            "退回状态须写明原因 / a step back needs a reason (note)", code="reason_required"
        )
    await service.transition(
        ctx.db, intake, body.status, actor=ctx.actor, note=body.note, ip=ctx.ip
    )
    await ctx.db.flush()
    return await intake_detail(ctx, intake)
