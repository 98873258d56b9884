"""Network routes: areas, shared courts, mediators, intakes, attachments, lookup, terminal."""

from __future__ import annotations

import io
import json
import time
import zipfile
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import Select, func, insert, literal, select

from server import audit
from server.access import visible_cases
from server.court_network import service
from server.court_network.files import (
    EVIDENCE_TYPES,
    PendingFile,
    UploadSlots,
    receive_upload,
    stored_path,
    too_many_files,
)
from server.court_network.models import (
    CLOSED_STATUSES,
    Area,
    Attachment,
    Intake,
    IntakeAssignment,
    IntakeChannel,
    IntakeStatus,
    IntakeTransition,
    MediatorProfile,
    MediatorSharedCourt,
    SharedCourt,
    SharedCourtTerminal,
)
from server.court_network.schemas import (
    AreaIn,
    AreaOut,
    AreaPatch,
    AssignIn,
    AssignmentOut,
    AttachmentOut,
    BookableOut,
    BookingIn,
    BookingOut,
    CandidateOut,
    IntakeDetailOut,
    IntakeIn,
    IntakeOut,
    IntakeQuery,
    LookupIn,
    LookupOut,
    MediatorOut,
    MediatorProfileIn,
    MediatorQuery,
    OnlineIntakeOut,
    SharedCourtIn,
    SharedCourtOut,
    SharedCourtPatch,
    TerminalIntakeIn,
    TerminalLinkIn,
    TransitionIn,
    TransitionOut,
)
from server.http.errors import ApiError, bad_request, conflict, forbidden, not_found, unauthorized
from server.http.framework import Api, Ctx
from server.models import (
    Case,
    MediationSession,
    SessionStatus,
    Terminal,
    User,
    UserRole,
    new_id,
    utcnow,
)
from server.scheduling import record_scheduled, schedule_session
from server.security.principals import ApiKeyPrincipal, StaffPrincipal, TerminalPrincipal
from server.security.ratelimit import Attempt
from server.security.tokens import TokenError
from server.state import StateKey

api = Api()
TAG = "network"
ADMIN = (UserRole.admin,)
READERS = (UserRole.judge, UserRole.clerk, UserRole.mediator)
WRITERS = (UserRole.judge, UserRole.clerk)
MANAGERS = (UserRole.admin, UserRole.judge, UserRole.clerk)
INTAKE_TOKEN_DAYS = 180
ATTACHMENT_KIND = "attachments"


# --- access helpers --------------------------------------------------------------------------
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


async def intake_out(db: object, intake: Intake) -> IntakeOut:
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(db, AsyncSession)
    case = await db.get(Case, intake.case_id)
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


async def _court_shared_court(ctx: Ctx, shared_court_id: str | None) -> SharedCourt | None:
    if shared_court_id is None:
        return None
    court = await ctx.db.get(SharedCourt, shared_court_id)
    if court is None or court.court_id != court_of(ctx):
        raise bad_request("共享法庭无效 / unknown shared_court_id", code="invalid_shared_court")
    return court


async def _court_area(ctx: Ctx, area_id: str | None, court_id: str | None = None) -> None:
    if area_id is None:
        return
    area = await ctx.db.get(Area, area_id)
    if area is None or area.court_id != (court_id or court_of(ctx)):
        raise bad_request("地区无效 / unknown area_id", code="invalid_area")


def _data(body: IntakeIn | TerminalIntakeIn) -> service.IntakeData:
    return service.IntakeData(
        case_type=body.case_type,
        applicant_name=body.applicant_name,
        applicant_phone=body.applicant_phone,
        respondent_name=body.respondent_name,
        respondent_phone=body.respondent_phone,
        claim=body.claim,
        facts=body.facts,
    )


# --- areas -----------------------------------------------------------------------------------
@api.route(
    "GET",
    "/api/network/areas",
    summary="Areas of the court (with population)",
    tag=TAG,
    response=list[AreaOut],
)
async def list_areas(ctx: Ctx) -> list[Area]:
    rows = await ctx.db.scalars(
        select(Area).where(Area.court_id == ctx.staff.court_id).order_by(Area.name)
    )
    return list(rows)


@api.route(
    "POST",
    "/api/network/areas",
    summary="Add an area",
    tag=TAG,
    roles=ADMIN,
    body=AreaIn,
    response=AreaOut,
    status=201,
)
async def create_area(ctx: Ctx, body: AreaIn) -> Area:
    area = Area(court_id=ctx.staff.court_id, **body.model_dump())
    ctx.db.add(area)
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.area.create",
        court_id=area.court_id,
        target=area.id,
        ip=ctx.ip,
    )
    return area


@api.route(
    "PATCH",
    "/api/network/areas/{area_id}",
    summary="Rename an area or set its population",
    tag=TAG,
    roles=ADMIN,
    body=AreaPatch,
    response=AreaOut,
)
async def update_area(ctx: Ctx, body: AreaPatch) -> Area:
    area = await ctx.court_row(Area, ctx.match("area_id"), "area")
    changes = body.model_dump(exclude_unset=True)
    for k, v in changes.items():
        if v is None and k == "name":
            continue
        setattr(area, k, v)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.area.update",
        court_id=area.court_id,
        target=area.id,
        ip=ctx.ip,
        changes=changes,
    )
    return area


# --- shared courts ----------------------------------------------------------------------------
async def _shared_court_out(ctx: Ctx, court: SharedCourt) -> SharedCourtOut:
    terminals = await ctx.db.scalars(
        select(SharedCourtTerminal.terminal_id).where(
            SharedCourtTerminal.shared_court_id == court.id
        )
    )
    out = SharedCourtOut.model_validate(court)
    out.terminal_ids = sorted(terminals)
    return out


@api.route(
    "GET",
    "/api/network/shared-courts",
    summary="Shared courts (共享法庭) of the court",
    tag=TAG,
    response=list[SharedCourtOut],
    scope="mediators:read",
)
async def list_shared_courts(ctx: Ctx) -> list[SharedCourtOut]:
    rows = await ctx.db.scalars(
        select(SharedCourt).where(SharedCourt.court_id == court_of(ctx)).order_by(SharedCourt.name)
    )
    return [await _shared_court_out(ctx, c) for c in rows]


@api.route(
    "POST",
    "/api/network/shared-courts",
    summary="Create a shared court",
    tag=TAG,
    roles=ADMIN,
    body=SharedCourtIn,
    response=SharedCourtOut,
    status=201,
)
async def create_shared_court(ctx: Ctx, body: SharedCourtIn) -> SharedCourtOut:
    await _court_area(ctx, body.area_id)
    court = SharedCourt(court_id=ctx.staff.court_id, **body.model_dump())
    ctx.db.add(court)
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.shared_court.create",
        court_id=court.court_id,
        target=court.id,
        ip=ctx.ip,
        name=court.name,
    )
    return await _shared_court_out(ctx, court)


async def _load_shared_court(ctx: Ctx) -> SharedCourt:
    return await ctx.court_row(SharedCourt, ctx.match("shared_court_id"), "shared court")


@api.route(
    "PATCH",
    "/api/network/shared-courts/{shared_court_id}",
    summary="Update a shared court",
    tag=TAG,
    roles=ADMIN,
    body=SharedCourtPatch,
    response=SharedCourtOut,
)
async def update_shared_court(ctx: Ctx, body: SharedCourtPatch) -> SharedCourtOut:
    court = await _load_shared_court(ctx)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("area_id"):
        await _court_area(ctx, changes["area_id"])
    for k, v in changes.items():
        if v is None and k != "area_id":
            continue
        setattr(court, k, v)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.shared_court.update",
        court_id=court.court_id,
        target=court.id,
        ip=ctx.ip,
        fields=sorted(changes),
    )
    return await _shared_court_out(ctx, court)


@api.route(
    "POST",
    "/api/network/shared-courts/{shared_court_id}/terminals",
    summary="Attach a terminal to a shared court (its operator then acts for it)",
    tag=TAG,
    roles=ADMIN,
    body=TerminalLinkIn,
    response=SharedCourtOut,
)
async def link_terminal(ctx: Ctx, body: TerminalLinkIn) -> SharedCourtOut:
    court = await _load_shared_court(ctx)
    terminal = await ctx.db.get(Terminal, body.terminal_id)
    if terminal is None or terminal.court_id != court.court_id:
        raise bad_request("终端无效 / unknown terminal_id", code="invalid_terminal_id")
    link = await ctx.db.get(SharedCourtTerminal, terminal.id)
    if link is None:
        ctx.db.add(SharedCourtTerminal(terminal_id=terminal.id, shared_court_id=court.id))
    else:
        link.shared_court_id = court.id
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.shared_court.link_terminal",
        court_id=court.court_id,
        target=court.id,
        ip=ctx.ip,
        terminal_id=terminal.id,
    )
    return await _shared_court_out(ctx, court)


# --- mediators -------------------------------------------------------------------------------
async def _mediators(ctx: Ctx, court_id: str, user_id: str | None = None) -> list[MediatorOut]:
    stmt = (
        select(User, MediatorProfile)
        .join(MediatorProfile, MediatorProfile.user_id == User.id)
        .where(User.court_id == court_id)
        .order_by(User.username)
    )
    if user_id is not None:
        stmt = stmt.where(User.id == user_id)
    pairs = list((await ctx.db.execute(stmt)).all())
    served: dict[str, list[str]] = {}
    for uid, scid in await ctx.db.execute(
        select(MediatorSharedCourt.user_id, MediatorSharedCourt.shared_court_id).where(
            MediatorSharedCourt.user_id.in_([u.id for u, _ in pairs])
        )
    ):
        served.setdefault(uid, []).append(scid)
    counts = await service.open_counts(ctx.db, court_id)
    return [
        MediatorOut(
            user_id=u.id,
            username=u.username,
            display_name=u.display_name,
            role=u.role,
            kind=p.kind,
            specialties=list(p.specialties),
            shared_court_ids=sorted(served.get(u.id, [])),
            available=p.available,
            max_open=p.max_open,
            open_intakes=counts.get(u.id, 0),
        )
        for u, p in pairs
    ]


@api.route(
    "GET",
    "/api/network/mediators",
    summary="Mediators (industry, lawyers, teachers, judges) with specialties",
    tag=TAG,
    query=MediatorQuery,
    response=list[MediatorOut],
    scope="mediators:read",
)
async def list_mediators(ctx: Ctx, query: MediatorQuery) -> list[MediatorOut]:
    out = await _mediators(ctx, court_of(ctx))
    if query.case_type:
        out = [m for m in out if query.case_type.value in m.specialties]
    if query.shared_court_id:
        out = [m for m in out if query.shared_court_id in m.shared_court_ids]
    return out


async def save_profile(ctx: Ctx, user: User, body: MediatorProfileIn, court_id: str) -> None:
    for scid in body.shared_court_ids:
        sc = await ctx.db.get(SharedCourt, scid)
        if sc is None or sc.court_id != court_id:
            raise bad_request(
                f"共享法庭无效 / unknown shared court {scid}", code="invalid_shared_court"
            )
    profile = await ctx.db.get(MediatorProfile, user.id)
    if profile is None:
        profile = MediatorProfile(user_id=user.id, court_id=court_id, kind=body.kind)
        ctx.db.add(profile)
    profile.kind = body.kind
    profile.specialties = sorted({s.value for s in body.specialties})
    profile.available = body.available
    profile.max_open = body.max_open
    profile.note = body.note
    profile.updated_at = datetime.now(UTC)
    for link in await ctx.db.scalars(
        select(MediatorSharedCourt).where(MediatorSharedCourt.user_id == user.id)
    ):
        await ctx.db.delete(link)
    await ctx.db.flush()
    for scid in dict.fromkeys(body.shared_court_ids):
        ctx.db.add(MediatorSharedCourt(user_id=user.id, shared_court_id=scid))
    await ctx.db.flush()


@api.route(
    "PUT",
    "/api/network/mediators/{user_id}",
    summary="Set a mediator's or judge's profile: specialties, shared courts, availability",
    tag=TAG,
    roles=MANAGERS,
    body=MediatorProfileIn,
    response=MediatorOut,
)
async def put_mediator(ctx: Ctx, body: MediatorProfileIn) -> MediatorOut:
    user = await ctx.db.get(User, ctx.match("user_id"))
    if user is None or user.court_id != ctx.staff.court_id:
        raise not_found("user")
    if user.role not in (UserRole.mediator, UserRole.judge):
        raise bad_request(
            "只有调解员或法官可以调解 / user is not a mediator or judge", code="invalid_mediator"
        )
    await save_profile(ctx, user, body, user.court_id)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.mediator.profile",
        court_id=user.court_id,
        target=user.id,
        ip=ctx.ip,
        specialties=sorted(s.value for s in body.specialties),
        available=body.available,
    )
    return (await _mediators(ctx, user.court_id, user.id))[0]


# --- intakes (staff / API key) ------------------------------------------------------------------
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
    if query.status:
        stmt = stmt.where(Intake.status == query.status)
    if query.case_type:
        stmt = stmt.where(Intake.case_type == query.case_type)
    if query.shared_court_id:
        stmt = stmt.where(Intake.shared_court_id == query.shared_court_id)
    stmt = stmt.order_by(Intake.received_at.desc()).limit(query.limit).offset(query.offset)
    return [await intake_out(ctx.db, i) for i in await ctx.db.scalars(stmt)]


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
    await _court_area(ctx, body.area_id)
    channel = (
        IntakeChannel.api if isinstance(ctx.principal, ApiKeyPrincipal) else (IntakeChannel.staff)
    )
    intake = await service.create_intake(
        ctx.db,
        ctx.state,
        court_id=court_of(ctx),
        data=_data(body),
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
    if body.status == IntakeStatus.assigned:
        raise bad_request("请使用分配接口 / use the assign endpoint", code="use_assign")
    await service.transition(
        ctx.db, intake, body.status, actor=ctx.actor, note=body.note, ip=ctx.ip
    )
    await ctx.db.flush()
    return await intake_detail(ctx, intake)


# --- attachments ------------------------------------------------------------------------------
_WITHDRAWN = "申请已撤回 / the intake was withdrawn"


UPLOAD_SLOTS: StateKey[UploadSlots] = StateKey("attachment_upload_slots")


def _upload_slots(ctx: Ctx) -> UploadSlots:
    slots = ctx.state.find(UPLOAD_SLOTS)
    if slots is None:
        slots = ctx.state.attach(UPLOAD_SLOTS, UploadSlots())
    return slots


def _stored_count(intake_id: str) -> Select[int]:
    return select(func.count()).select_from(Attachment).where(Attachment.intake_id == intake_id)


async def _add_attachment(ctx: Ctx, intake: Intake) -> Attachment:
    settings = ctx.state.settings
    cap = settings.attachment_max_per_intake
    if intake.status in (IntakeStatus.withdrawn,):
        raise conflict(_WITHDRAWN)
    stored = await ctx.db.scalar(_stored_count(intake.id)) or 0
    with _upload_slots(ctx).reserve(intake.id, stored, cap):
        # The body may take minutes (an applicant on a poor line): end the transaction so no
        # pooled connection waits on the client. Recording the file is a second, short one.
        await ctx.db.commit()
        async with receive_upload(
            ctx.request,
            settings.data_dir,
            ATTACHMENT_KIND,
            allowed=EVIDENCE_TYPES,
            max_bytes=settings.attachment_max_bytes,
        ) as pending:
            att = await _record_attachment(ctx, intake, pending, cap)
            # Moved into place only once its row is in: a refused upload leaves no file.
            pending.store(settings.data_dir, ATTACHMENT_KIND)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="intake.attachment",
        court_id=intake.court_id,
        target=intake.id,
        ip=ctx.ip,
        sha256=att.sha256,
        size=att.size_bytes,
    )
    return att


async def _record_attachment(
    ctx: Ctx, intake: Intake, pending: PendingFile, cap: int
) -> Attachment:
    """Insert the row only while the intake holds fewer than `cap` files, in one statement.

    PostgreSQL: the intake row stays locked until commit, so inserts for one intake from any
    process run one after another and each counts the others' committed rows. SQLite ignores
    FOR UPDATE, but one write runs at a time and the count is part of the insert itself."""
    status = await ctx.db.scalar(
        select(Intake.status).where(Intake.id == intake.id).with_for_update()
    )
    if status is None or status == IntakeStatus.withdrawn:
        raise conflict(_WITHDRAWN)
    values: dict[str, object] = {
        "id": new_id(),
        "intake_id": intake.id,
        "filename": pending.filename,
        "content_type": pending.content_type,
        "size_bytes": pending.size,
        "sha256": pending.sha256,
        "uploaded_by": ctx.actor,
        "created_at": utcnow(),
    }
    columns = Attachment.__table__.c
    row = select(*(literal(v, columns[k].type) for k, v in values.items())).where(
        _stored_count(intake.id).scalar_subquery() < cap
    )
    await ctx.db.execute(insert(Attachment).from_select(list(values), row))
    att = await ctx.db.get(Attachment, values["id"])
    if att is None:
        raise too_many_files(cap)
    return att


@api.route(
    "POST",
    "/api/network/intakes/{intake_id}/attachments",
    summary="Upload evidence (multipart field 'file': JPEG, PNG or PDF, ≤ 10 MiB)",
    tag=TAG,
    roles=WRITERS,
    response=AttachmentOut,
    status=201,
)
async def upload_attachment(ctx: Ctx) -> Attachment:
    return await _add_attachment(ctx, await load_intake(ctx, ctx.match("intake_id")))


@api.route(
    "GET",
    "/api/network/attachments/{attachment_id}",
    summary="Download an attachment",
    tag=TAG,
    roles=READERS,
    raw_response="application/octet-stream",
)
async def download_attachment(ctx: Ctx) -> web.StreamResponse:
    att = await ctx.db.get(Attachment, ctx.match("attachment_id"))
    if att is None:
        raise not_found("attachment")
    await load_intake(ctx, att.intake_id)
    path = stored_path(ctx.state.settings.data_dir, ATTACHMENT_KIND, att.sha256)
    return web.FileResponse(
        path,
        headers={
            "Content-Type": att.content_type,
            "Content-Disposition": "attachment; filename*=UTF-8''" + _quote(att.filename),
            "X-Content-SHA256": att.sha256,
        },
    )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


@api.route(
    "GET",
    "/api/network/intakes/{intake_id}/transfer-package",
    summary="Transfer-to-litigation package (ZIP) of a failed mediation",
    tag=TAG,
    roles=WRITERS,
    raw_response="application/zip",
)
async def transfer_package(ctx: Ctx) -> web.Response:
    intake = await load_intake(ctx, ctx.match("intake_id"))
    if intake.status != IntakeStatus.failed:
        raise conflict("只有调解不成的案件可以转诉讼 / only failed mediations are transferred")
    detail = await intake_detail(ctx, intake)
    sessions = await ctx.db.scalars(
        select(MediationSession)
        .where(MediationSession.case_id == intake.case_id)
        .order_by(MediationSession.scheduled_at)
    )
    record = detail.model_dump(mode="json")
    record["sessions"] = [
        {
            "id": s.id,
            "scheduled_at": s.scheduled_at.isoformat(),
            "status": s.status.value,
            "outcome": s.outcome.value if s.outcome else None,
            "outcome_note": s.outcome_note,
            "ended_at": s.ended_at.isoformat() if s.ended_at else None,
        }
        for s in sessions
    ]
    buf = io.BytesIO()
    manifest: dict[str, str] = {}
    import hashlib

    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        data = json.dumps(record, ensure_ascii=False, indent=2).encode()
        zf.writestr("intake.json", data)
        manifest["intake.json"] = hashlib.sha256(data).hexdigest()
        for i, att in enumerate(detail.attachments, 1):
            name = f"attachments/{i:02d}-{att.filename}"
            path = stored_path(ctx.state.settings.data_dir, ATTACHMENT_KIND, att.sha256)
            zf.write(path, name)
            manifest[name] = att.sha256
        zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="intake.transfer_package",
        court_id=intake.court_id,
        target=intake.id,
        ip=ctx.ip,
    )
    return web.Response(
        body=buf.getvalue(),
        content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{intake.number}-transfer.zip"'},
    )


# --- online intake by a party -----------------------------------------------------------------
def _intake_token(ctx: Ctx, intake: Intake) -> str:
    return ctx.state.signer.sign(
        "intake", {"iid": intake.id}, time.time() + INTAKE_TOKEN_DAYS * 86400
    )


async def _own_intake(ctx: Ctx) -> Intake:
    header = ctx.request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else ""
    if not token:
        raise unauthorized("缺少申请凭证 / intake access token required")
    try:
        payload = ctx.state.signer.verify("intake", token)
    except TokenError as exc:
        raise unauthorized(str(exc), code=f"token_{exc.reason}") from exc
    intake = await ctx.db.get(Intake, str(payload.get("iid")))
    if intake is None:
        raise unauthorized("凭证无效 / invalid token", code="token_invalid")
    return intake


async def _count_attempt(ctx: Ctx, *keys: str) -> Attempt:
    """Count one attempt against every key before anything is evaluated, in one step with the
    check (as login does): parallel guesses cannot all pass the check before one is counted."""
    attempt = await ctx.state.login_limiter.acquire(keys)
    if not attempt.granted:
        raise ApiError(429, "rate_limited", "尝试次数过多，请稍后再试 / too many attempts")
    return attempt


@api.route(
    "POST",
    "/api/network/intakes/online",
    summary="Apply for mediation online (public form); returns the applicant's token",
    tag=TAG,
    auth="public",
    body=IntakeIn,
    response=OnlineIntakeOut,
    status=201,
)
async def online_intake(ctx: Ctx, body: IntakeIn) -> OnlineIntakeOut:
    # Each submission counts towards the per-address limit (spam), successful or not.
    await _count_attempt(ctx, f"intake-ip:{ctx.ip}")
    if body.shared_court_id is None:
        raise bad_request(
            "请选择共享法庭 / shared_court_id is required online", code="shared_court_required"
        )
    shared = await ctx.db.get(SharedCourt, body.shared_court_id)
    if shared is None or not shared.active:
        raise bad_request("共享法庭无效 / unknown shared_court_id", code="invalid_shared_court")
    await _court_area(ctx, body.area_id, shared.court_id)
    intake = await service.create_intake(
        ctx.db,
        ctx.state,
        court_id=shared.court_id,
        data=_data(body),
        channel=IntakeChannel.online,
        actor="anonymous",
        shared_court=shared,
        area_id=body.area_id,
        ip=ctx.ip,
    )
    service.runtime(ctx.state).dispatcher.wake()
    return OnlineIntakeOut(
        intake=await intake_out(ctx.db, intake), access_token=_intake_token(ctx, intake)
    )


@api.route(
    "GET",
    "/api/network/public/shared-courts",
    summary="Active shared courts for the online form (id, name, kind)",
    tag=TAG,
    auth="public",
    response=list[SharedCourtOut],
)
async def public_shared_courts(ctx: Ctx) -> list[SharedCourtOut]:
    rows = await ctx.db.scalars(
        select(SharedCourt).where(SharedCourt.active.is_(True)).order_by(SharedCourt.name)
    )
    out = []
    for c in rows:
        o = SharedCourtOut.model_validate(c)
        o.director_phone = ""
        out.append(o)
    return out


@api.route(
    "GET",
    "/api/network/my-intake",
    summary="The applicant's own intake (Bearer: the token from the online form)",
    tag=TAG,
    auth="public",
    response=IntakeDetailOut,
)
async def my_intake(ctx: Ctx) -> IntakeDetailOut:
    return await intake_detail(ctx, await _own_intake(ctx))


@api.route(
    "POST",
    "/api/network/my-intake/attachments",
    summary="The applicant adds evidence to their own intake",
    tag=TAG,
    auth="public",
    response=AttachmentOut,
    status=201,
)
async def my_intake_attachment(ctx: Ctx) -> Attachment:
    intake = await _own_intake(ctx)
    ctx.principal = None
    return await _add_attachment(ctx, intake)


# --- progress lookup (terminal and online) -------------------------------------------------------
def _digits(phone: str) -> str:
    return "".join(c for c in phone if c.isdigit())


@api.route(
    "POST",
    "/api/network/lookup",
    summary="Case progress by number + party phone (rate-limited; one answer for "
    "'not found' and 'wrong phone')",
    tag=TAG,
    auth="public",
    body=LookupIn,
    response=LookupOut,
)
async def lookup(ctx: Ctx, body: LookupIn) -> LookupOut:
    # A failed lookup counts against the address and the number; a match is taken back.
    attempt = await _count_attempt(ctx, f"lookup-ip:{ctx.ip}", f"lookup-no:{body.number}")
    intake = await ctx.db.scalar(select(Intake).where(Intake.number == body.number))
    phone = _digits(body.phone)
    ok = (
        intake is not None
        and phone != ""
        and phone in (_digits(intake.applicant_phone), _digits(intake.respondent_phone))
    )
    if intake is None or not ok:
        raise ApiError(
            404,
            "not_found",
            "未找到匹配的案件，请核对编号和手机号 / no matching case for this number and phone",
        )
    await ctx.state.login_limiter.refund(attempt)
    updated = await ctx.db.scalar(
        select(func.max(IntakeTransition.at)).where(IntakeTransition.intake_id == intake.id)
    )
    next_at = await ctx.db.scalar(
        select(func.min(MediationSession.scheduled_at)).where(
            MediationSession.case_id == intake.case_id,
            MediationSession.status == SessionStatus.scheduled,
            MediationSession.scheduled_at >= datetime.now(UTC),
        )
    )
    shared = (
        await ctx.db.get(SharedCourt, intake.shared_court_id) if intake.shared_court_id else None
    )
    return LookupOut(
        number=intake.number,
        status=intake.status,
        status_label=service.STATUS_LABELS[intake.status],
        case_type=intake.case_type,
        shared_court_name=shared.name if shared else None,
        received_at=intake.received_at,
        updated_at=updated or intake.received_at,
        next_session_at=next_at,
    )


# --- terminal (庭务主任) ------------------------------------------------------------------------
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
        data=_data(body),
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
    return await _add_attachment(ctx, await terminal_intake(ctx, ctx.match("intake_id")))


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
