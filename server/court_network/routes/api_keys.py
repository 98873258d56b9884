"""Routes of the court's API keys for external systems: list them, create a scoped key (its secret
is shown once), and revoke one."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from server import audit
from server.court_network.apikeys import hash_key, new_key
from server.court_network.models import ApiKey
from server.court_network.routes.access import ADMIN, TAG
from server.court_network.schemas import ApiKeyCreatedOut, ApiKeyIn, ApiKeyOut
from server.http.framework import Api, Ctx

api = Api()


@api.route(
    "GET",
    "/api/network/api-keys",
    summary="API keys of the court",
    tag=TAG,
    roles=ADMIN,
    response=list[ApiKeyOut],
)
async def list_api_keys(ctx: Ctx) -> list[ApiKey]:
    rows = await ctx.db.scalars(
        select(ApiKey).where(ApiKey.court_id == ctx.staff.court_id).order_by(ApiKey.created_at)
    )
    return list(rows)


@api.route(
    "POST",
    "/api/network/api-keys",
    summary="Create a scoped API key (secret shown once)",
    tag=TAG,
    roles=ADMIN,
    body=ApiKeyIn,
    response=ApiKeyCreatedOut,
    status=201,
)
async def create_api_key(ctx: Ctx, body: ApiKeyIn) -> ApiKeyCreatedOut:
    prefix, token = new_key()
    key = ApiKey(
        court_id=ctx.staff.court_id,
        name=body.name,
        prefix=prefix,
        key_hash=hash_key(token),
        scopes=sorted(set(body.scopes)),
        created_by=ctx.actor,
    )
    ctx.db.add(key)
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.api_key.create",
        court_id=key.court_id,
        target=key.id,
        ip=ctx.ip,
        scopes=key.scopes,
    )
    return ApiKeyCreatedOut(key=ApiKeyOut.model_validate(key), secret=token)


@api.route(
    "POST",
    "/api/network/api-keys/{key_id}/revoke",
    summary="Revoke an API key",
    tag=TAG,
    roles=ADMIN,
    response=ApiKeyOut,
)
async def revoke_api_key(ctx: Ctx) -> ApiKey:
    key = await ctx.court_row(ApiKey, ctx.match("key_id"), "api key")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        audit.record(
            ctx.db,
            actor=ctx.actor,
            action="network.api_key.revoke",
            court_id=key.court_id,
            target=key.id,
            ip=ctx.ip,
        )
    return key
