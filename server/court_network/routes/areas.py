"""Routes of the court's areas (administrative areas with their resident population, which the
statistics relate intakes to): list them, add one, rename one or set its population."""

from __future__ import annotations

from sqlalchemy import select

from server import audit
from server.court_network.models import Area
from server.court_network.routes.access import ADMIN, TAG
from server.court_network.schemas import AreaIn, AreaOut, AreaPatch
from server.http.framework import Api, Ctx

api = Api()


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
