"""Routes of the mediators' profiles: the court's mediators and judges with their kind,
specialties, the shared courts they serve, availability and open intakes (the facts the matching
rule ranks by), and setting one's profile."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from server import audit
from server.court_network import service
from server.court_network.models import MediatorProfile, MediatorSharedCourt, SharedCourt
from server.court_network.routes.access import MANAGERS, TAG, court_of
from server.court_network.schemas import MediatorOut, MediatorProfileIn, MediatorQuery
from server.http.errors import bad_request, not_found
from server.http.framework import Api, Ctx
from server.models import User, UserRole

api = Api()


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
            phone=p.phone,
            note=p.note,
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
    profile.phone = body.phone
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
