"""Courts and staff accounts (administered by a court's admins)."""

from __future__ import annotations

import asyncio

from sqlalchemy import delete, select

from server import audit
from server.court.schemas import CourtIn, CourtOut, CourtPatch, UserIn, UserOut, UserPatch
from server.http.errors import not_found
from server.http.framework import Api, Ctx
from server.models import Court, StaffSession, User, UserRole
from server.security.passwords import hash_password

api = Api()
ADMIN = (UserRole.admin,)


@api.route(
    "GET",
    "/api/courts",
    summary="Courts visible to the caller",
    tag="courts",
    response=list[CourtOut],
)
async def list_courts(ctx: Ctx) -> list[Court]:
    court = await ctx.db.get(Court, ctx.staff.court_id)
    return [court] if court else []


@api.route(
    "POST",
    "/api/courts",
    summary="Create a court",
    tag="courts",
    roles=ADMIN,
    body=CourtIn,
    response=CourtOut,
    status=201,
)
async def create_court(ctx: Ctx, body: CourtIn) -> Court:
    court = Court(name=body.name, region=body.region, phone=body.phone)
    ctx.db.add(court)
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="court.create",
        court_id=court.id,
        target=court.id,
        ip=ctx.ip,
        name=court.name,
    )
    return court


@api.route(
    "PATCH",
    "/api/courts/{court_id}",
    summary="Update a court",
    tag="courts",
    roles=ADMIN,
    body=CourtPatch,
    response=CourtOut,
)
async def update_court(ctx: Ctx, body: CourtPatch) -> Court:
    court = await ctx.db.get(Court, ctx.match("court_id"))
    if court is None:
        raise not_found("court")
    ctx.require_court(court.id)
    changes = body.model_dump(exclude_none=True)
    for k, v in changes.items():
        setattr(court, k, v)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="court.update",
        court_id=court.id,
        target=court.id,
        ip=ctx.ip,
        fields=sorted(changes),
    )
    return court


@api.route(
    "GET", "/api/users", summary="Staff of the caller's court", tag="users", response=list[UserOut]
)
async def list_users(ctx: Ctx) -> list[User]:
    # Everyone on staff needs the list to schedule sessions (mediators, clerks).
    rows = await ctx.db.scalars(
        select(User).where(User.court_id == ctx.staff.court_id).order_by(User.username)
    )
    return list(rows)


@api.route(
    "POST",
    "/api/users",
    summary="Create a staff account",
    tag="users",
    roles=ADMIN,
    body=UserIn,
    response=UserOut,
    status=201,
)
async def create_user(ctx: Ctx, body: UserIn) -> User:
    user = User(
        court_id=ctx.staff.court_id,
        username=body.username,
        display_name=body.display_name,
        role=body.role,
        password_hash=hash_password(body.password),
        phone=body.phone,
    )
    ctx.db.add(user)
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="user.create",
        court_id=user.court_id,
        target=user.id,
        ip=ctx.ip,
        username=user.username,
        role=user.role.value,
    )
    return user


@api.route(
    "PATCH",
    "/api/users/{user_id}",
    summary="Update a staff account",
    tag="users",
    roles=ADMIN,
    body=UserPatch,
    response=UserOut,
)
async def update_user(ctx: Ctx, body: UserPatch) -> User:
    user = await ctx.court_row(User, ctx.match("user_id"), "user")
    changes = body.model_dump(exclude_none=True)
    ends_sessions = "password" in changes or changes.get("active") is False
    if "password" in changes:
        user.password_hash = await asyncio.to_thread(hash_password, changes.pop("password"))
        changes["password"] = "(changed)"
    for k, v in changes.items():
        if k != "password":
            setattr(user, k, v)
    if ends_sessions:
        # A reset password (or a disabled account) signs the user out everywhere: whoever
        # held the old password may have signed in with it.
        await ctx.db.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="user.update",
        court_id=user.court_id,
        target=user.id,
        ip=ctx.ip,
        fields=sorted(changes),
    )
    if ends_sessions:
        await ctx.db.commit()
        await ctx.state.revocations.announce([f"user:{user.id}"])
    return user
