"""Cases (案件) and their parties."""

from __future__ import annotations

from sqlalchemy import or_, select

from server import audit
from server.access import CASE_READERS, CASE_WRITERS, visible_cases
from server.court.schemas import (
    CaseIn,
    CaseOut,
    CasePatch,
    CaseQuery,
    PartyIn,
    PartyOut,
    PartyPatch,
)
from server.http.errors import bad_request, not_found
from server.http.framework import Api, Ctx
from server.http.rows import load_case
from server.models import Case, Party, User, UserRole

api = Api()


async def _check_mediator(ctx: Ctx, mediator_id: str | None) -> None:
    if mediator_id is None:
        return
    user = await ctx.db.get(User, mediator_id)
    if (
        user is None
        or user.court_id != ctx.staff.court_id
        or user.role not in (UserRole.mediator, UserRole.judge)
        or not user.active
    ):
        raise bad_request(
            "调解员不存在 / mediator_id is not an active mediator or judge of this court",
            code="invalid_mediator",
        )


@api.route(
    "GET",
    "/api/cases",
    summary="Search cases",
    tag="cases",
    roles=CASE_READERS,
    query=CaseQuery,
    response=list[CaseOut],
)
async def list_cases(ctx: Ctx, query: CaseQuery) -> list[Case]:
    stmt = visible_cases(ctx.staff)
    if query.case_type:
        stmt = stmt.where(Case.case_type == query.case_type)
    if query.q:
        like = f"%{query.q}%"
        party_match = select(Party.case_id).where(Party.name.like(like))
        stmt = stmt.where(
            or_(Case.case_number.like(like), Case.title.like(like), Case.id.in_(party_match))
        )
    stmt = stmt.order_by(Case.created_at.desc()).limit(query.limit).offset(query.offset)
    return list(await ctx.db.scalars(stmt))


@api.route(
    "POST",
    "/api/cases",
    summary="Create a case with its parties",
    tag="cases",
    roles=CASE_WRITERS,
    body=CaseIn,
    response=CaseOut,
    status=201,
)
async def create_case(ctx: Ctx, body: CaseIn) -> Case:
    await _check_mediator(ctx, body.mediator_id)
    case = Case(
        court_id=ctx.staff.court_id,
        case_number=body.case_number,
        case_type=body.case_type,
        title=body.title,
        description=body.description,
        mediator_id=body.mediator_id,
        created_by=ctx.staff.id,
    )
    ctx.db.add(case)
    await ctx.db.flush()
    for p in body.parties:
        if p.represents_id is not None:
            raise bad_request(
                "新建案件时不能指定代理关系 / represents_id needs an existing party",
                code="invalid_party",
            )
        ctx.db.add(
            Party(
                case_id=case.id,
                name=p.name,
                role=p.role,
                phone=p.phone,
                is_organisation=p.is_organisation,
            )
        )
    await ctx.db.flush()
    await ctx.db.refresh(case, ["parties"])
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="case.create",
        court_id=case.court_id,
        target=case.id,
        ip=ctx.ip,
        case_number=case.case_number,
    )
    return case


@api.route(
    "GET",
    "/api/cases/{case_id}",
    summary="One case",
    tag="cases",
    roles=CASE_READERS,
    response=CaseOut,
)
async def get_case(ctx: Ctx) -> Case:
    return await load_case(ctx, ctx.match("case_id"))


@api.route(
    "PATCH",
    "/api/cases/{case_id}",
    summary="Update a case; reassign its mediator",
    tag="cases",
    roles=CASE_WRITERS,
    body=CasePatch,
    response=CaseOut,
)
async def update_case(ctx: Ctx, body: CasePatch) -> Case:
    case = await load_case(ctx, ctx.match("case_id"))
    changes = body.model_dump(exclude_unset=True)
    if "mediator_id" in changes:
        await _check_mediator(ctx, changes["mediator_id"])
        if changes["mediator_id"] != case.mediator_id:
            audit.record(
                ctx.db,
                actor=ctx.actor,
                action="case.assign",
                court_id=case.court_id,
                target=case.id,
                ip=ctx.ip,
                before=case.mediator_id,
                after=changes["mediator_id"],
            )
    for k, v in changes.items():
        if v is None and k != "mediator_id":
            continue
        setattr(case, k, v)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="case.update",
        court_id=case.court_id,
        target=case.id,
        ip=ctx.ip,
        fields=sorted(changes),
    )
    return case


@api.route(
    "POST",
    "/api/cases/{case_id}/parties",
    summary="Add a party to a case",
    tag="cases",
    roles=CASE_WRITERS,
    body=PartyIn,
    response=PartyOut,
    status=201,
)
async def add_party(ctx: Ctx, body: PartyIn) -> Party:
    case = await load_case(ctx, ctx.match("case_id"))
    if body.represents_id is not None:
        principal = await ctx.db.get(Party, body.represents_id)
        if principal is None or principal.case_id != case.id:
            raise bad_request(
                "被代理人不属于本案 / represents_id is not a party of this case",
                code="invalid_party",
            )
    party = Party(
        case_id=case.id,
        name=body.name,
        role=body.role,
        phone=body.phone,
        represents_id=body.represents_id,
        is_organisation=body.is_organisation,
    )
    ctx.db.add(party)
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="party.create",
        court_id=case.court_id,
        target=party.id,
        ip=ctx.ip,
        case_id=case.id,
    )
    return party


async def _load_party(ctx: Ctx) -> tuple[Case, Party]:
    party = await ctx.db.get(Party, ctx.match("party_id"))
    if party is None:
        raise not_found("party")
    case = await load_case(ctx, party.case_id)
    return case, party


@api.route(
    "PATCH",
    "/api/parties/{party_id}",
    summary="Update a party",
    tag="cases",
    roles=CASE_WRITERS,
    body=PartyPatch,
    response=PartyOut,
)
async def update_party(ctx: Ctx, body: PartyPatch) -> Party:
    case, party = await _load_party(ctx)
    changes = body.model_dump(exclude_none=True)
    for k, v in changes.items():
        setattr(party, k, v)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="party.update",
        court_id=case.court_id,
        target=party.id,
        ip=ctx.ip,
        fields=sorted(changes),
    )
    return party
