"""Routes of the online intake by a party (public, no account): apply for mediation on the public
form, list the active shared courts for it, and, with the applicant's token from the form, read
one's own intake and add evidence to it."""

from __future__ import annotations

import time

from sqlalchemy import select

from server.court_network import service
from server.court_network.models import Attachment, Intake, IntakeChannel, SharedCourt
from server.court_network.routes.access import (
    TAG,
    count_attempt,
    court_area,
    intake_data,
    intake_detail,
    intake_out,
)
from server.court_network.routes.attachments import add_attachment
from server.court_network.schemas import (
    AttachmentOut,
    IntakeDetailOut,
    IntakeIn,
    OnlineIntakeOut,
    SharedCourtOut,
)
from server.http.errors import bad_request, unauthorized
from server.http.framework import Api, Ctx
from server.security.tokens import TokenError

api = Api()
INTAKE_TOKEN_DAYS = 180


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
    await count_attempt(ctx, f"intake-ip:{ctx.ip}")
    if body.shared_court_id is None:
        raise bad_request(
            "请选择共享法庭 / shared_court_id is required online", code="shared_court_required"
        )
    shared = await ctx.db.get(SharedCourt, body.shared_court_id)
    if shared is None or not shared.active:
        raise bad_request("共享法庭无效 / unknown shared_court_id", code="invalid_shared_court")
    await court_area(ctx, body.area_id, shared.court_id)
    intake = await service.create_intake(
        ctx.db,
        ctx.state,
        court_id=shared.court_id,
        data=intake_data(body),
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
    return await add_attachment(ctx, intake)
