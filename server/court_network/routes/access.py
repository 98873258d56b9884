"""Access helpers shared by the network's route modules: the court the caller acts for (staff,
API key or terminal), the intakes it may see, the shared court a terminal's 庭务主任 acts for, the
intake's representation (list and detail), the area and intake-data checks used by every way an
intake is registered, the per-address attempt counter of the public endpoints, and the OpenAPI
tag and role sets of the routes. It declares no route; the route modules import from it so that
no helper is copied into two of them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select

from server.access import visible_cases
from server.court_network import service
from server.court_network.models import (
    Area,
    Attachment,
    Intake,
    IntakeAssignment,
    IntakeStatus,
    IntakeTransition,
    SharedCourt,
    SharedCourtTerminal,
)
from server.court_network.schemas import (
    AssignmentOut,
    AttachmentOut,
    IntakeDetailOut,
    IntakeIn,
    IntakeOut,
    TerminalIntakeIn,
    TransitionOut,
    UnassignedOut,
)
from server.http.errors import RateLimited, bad_request, forbidden, not_found, unauthorized
from server.http.framework import Ctx
from server.models import Case, UserRole
from server.security.principals import ApiKeyPrincipal, StaffPrincipal, TerminalPrincipal
from server.security.ratelimit import Attempt

TAG = "network"
ADMIN = (UserRole.admin,)
READERS = (UserRole.judge, UserRole.clerk, UserRole.mediator)
WRITERS = (UserRole.judge, UserRole.clerk)
MANAGERS = (UserRole.admin, UserRole.judge, UserRole.clerk)


def court_of(ctx: Ctx) -> str:
    p = ctx.principal
    if isinstance(p, StaffPrincipal):
        return p.user.court_id
    if isinstance(p, ApiKeyPrincipal):
        return p.court_id
    if isinstance(p, TerminalPrincipal):
        return p.terminal.court_id
    raise unauthorized()


def visible_intakes(ctx: Ctx) -> Select[Intake]:
    """Judges and clerks: the court's intakes; a mediator: those of their cases (as cases.py);
    an API key: the court's intakes."""
    stmt = select(Intake).where(Intake.court_id == court_of(ctx))
    if isinstance(ctx.principal, StaffPrincipal):
        stmt = stmt.where(Intake.case_id.in_(visible_cases(ctx.staff).with_only_columns(Case.id)))
    return stmt


async def load_intake(ctx: Ctx, intake_id: str) -> Intake:
    intake = await ctx.db.scalar(visible_intakes(ctx).where(Intake.id == intake_id))
    if intake is None:
        raise not_found("intake")
    return intake


async def terminal_shared_court(ctx: Ctx) -> SharedCourt:
    assert isinstance(ctx.principal, TerminalPrincipal)
    link = await ctx.db.get(SharedCourtTerminal, ctx.principal.terminal.id)
    court = await ctx.db.get(SharedCourt, link.shared_court_id) if link else None
    if court is None or not court.active:
        raise forbidden("终端未绑定共享法庭 / terminal is not linked to a shared court")
    return court


async def terminal_intake(ctx: Ctx, intake_id: str) -> Intake:
    """A 庭务主任 sees only the intakes of their own shared court."""
    court = await terminal_shared_court(ctx)
    intake = await ctx.db.get(Intake, intake_id)
    if intake is None or intake.shared_court_id != court.id:
        raise not_found("intake")
    return intake


async def intake_out(
    db: object, intake: Intake, coverage: service.Coverage | None = None
) -> IntakeOut:
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(db, AsyncSession)
    case = await db.get(Case, intake.case_id)
    why = None
    if intake.status == IntakeStatus.received:
        coverage = coverage or await service.court_coverage(db, intake.court_id)
        why = coverage.why(intake)
    return IntakeOut(
        id=intake.id,
        number=intake.number,
        case_id=intake.case_id,
        court_id=intake.court_id,
        shared_court_id=intake.shared_court_id,
        area_id=intake.area_id,
        channel=intake.channel,
        case_type=intake.case_type,
        applicant_name=intake.applicant_name,
        applicant_phone=intake.applicant_phone,
        respondent_name=intake.respondent_name,
        respondent_phone=intake.respondent_phone,
        claim=intake.claim,
        facts=intake.facts,
        status=intake.status,
        status_label=service.STATUS_LABELS[intake.status],
        mediator_id=case.mediator_id if case else None,
        received_at=intake.received_at,
        closed_at=intake.closed_at,
        unassigned=UnassignedOut(code=why.code, message=why.message) if why else None,
    )


async def intake_detail(ctx: Ctx, intake: Intake) -> IntakeDetailOut:
    base = await intake_out(ctx.db, intake)
    transitions = await ctx.db.scalars(
        select(IntakeTransition)
        .where(IntakeTransition.intake_id == intake.id)
        .order_by(IntakeTransition.at, IntakeTransition.id)
    )
    assignments = await ctx.db.scalars(
        select(IntakeAssignment)
        .where(IntakeAssignment.intake_id == intake.id)
        .order_by(IntakeAssignment.id)
    )
    attachments = await ctx.db.scalars(
        select(Attachment).where(Attachment.intake_id == intake.id).order_by(Attachment.created_at)
    )
    return IntakeDetailOut(
        **base.model_dump(),
        transitions=[TransitionOut.model_validate(t) for t in transitions],
        assignments=[AssignmentOut.model_validate(a) for a in assignments],
        attachments=[AttachmentOut.model_validate(a) for a in attachments],
    )


async def court_area(ctx: Ctx, area_id: str | None, court_id: str | None = None) -> None:
    if area_id is None:
        return
    area = await ctx.db.get(Area, area_id)
    if area is None or area.court_id != (court_id or court_of(ctx)):
        raise bad_request("地区无效 / unknown area_id", code="invalid_area")


def intake_data(body: IntakeIn | TerminalIntakeIn) -> service.IntakeData:
    return service.IntakeData(
        case_type=body.case_type,
        applicant_name=body.applicant_name,
        applicant_phone=body.applicant_phone,
        respondent_name=body.respondent_name,
        respondent_phone=body.respondent_phone,
        claim=body.claim,
        facts=body.facts,
    )


async def count_attempt(
    ctx: Ctx,
    *keys: str,
    limits: Sequence[int] | None = None,
    message: str = "尝试次数过多 / too many attempts",
) -> Attempt:
    """Count one attempt against every key before anything is evaluated, in one step with the
    check (as login does): parallel guesses cannot all pass the check before one is counted.
    `limits` gives each key its own limit (default: the login limiter's); a refusal raises
    `RateLimited` with `message`."""
    attempt = await ctx.state.login_limiter.acquire(keys, limits=limits)
    if not attempt.granted:
        raise RateLimited(attempt.retry_after, message)
    return attempt
