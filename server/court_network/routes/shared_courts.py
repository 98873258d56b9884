"""Routes of the shared courts (共享法庭) of a court: list, create and update them, and attach a
terminal to one, whose operator (the 庭务主任) then acts for that shared court."""

from __future__ import annotations

from sqlalchemy import select

from server import audit
from server.court_network.models import SharedCourt, SharedCourtTerminal
from server.court_network.routes.access import ADMIN, TAG, court_area, court_of
from server.court_network.schemas import (
    SharedCourtIn,
    SharedCourtOut,
    SharedCourtPatch,
    TerminalLinkIn,
)
from server.http.errors import bad_request
from server.http.framework import Api, Ctx
from server.models import Terminal

api = Api()


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
    await court_area(ctx, body.area_id)
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
        await court_area(ctx, changes["area_id"])
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
