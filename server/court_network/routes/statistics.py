"""Routes of the governance statistics of a court for a year (with year-on-year figures), as JSON
and as CSV or XLSX exports."""

from __future__ import annotations

from aiohttp import web

from server.court_network import stats
from server.court_network.routes.access import TAG, court_of
from server.court_network.schemas import StatsOut, StatsQuery
from server.http.framework import Api, Ctx
from server.models import UserRole

api = Api()
STATS_READERS = (UserRole.admin, UserRole.judge, UserRole.clerk)


@api.route(
    "GET",
    "/api/network/stats",
    summary="Governance statistics for a year (+ year-on-year)",
    tag=TAG,
    roles=STATS_READERS,
    query=StatsQuery,
    response=StatsOut,
    scope="stats:read",
)
async def get_stats(ctx: Ctx, query: StatsQuery) -> StatsOut:
    return await stats.compute(
            ctx.db,
            court_of(ctx),
            query.year,
            query.shared_court_id,
            query.definition or ctx.state.settings.stats_definition,
        )


@api.route(
    "GET",
    "/api/network/stats.csv",
    summary="Statistics as CSV (UTF-8 with BOM)",
    tag=TAG,
    roles=STATS_READERS,
    query=StatsQuery,
    raw_response="text/csv",
    scope="stats:read",
)
async def stats_csv(ctx: Ctx, query: StatsQuery) -> web.Response:
    data = stats.to_csv(
        await stats.compute(
            ctx.db,
            court_of(ctx),
            query.year,
            query.shared_court_id,
            query.definition or ctx.state.settings.stats_definition,
        )
    )
    return web.Response(
        body=data,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="governance-{query.year}.csv"'},
    )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@api.route(
    "GET",
    "/api/network/stats.xlsx",
    summary="Statistics as XLSX",
    tag=TAG,
    roles=STATS_READERS,
    query=StatsQuery,
    raw_response=XLSX,
    scope="stats:read",
)
async def stats_xlsx(ctx: Ctx, query: StatsQuery) -> web.Response:
    data = stats.to_xlsx(
        await stats.compute(
            ctx.db,
            court_of(ctx),
            query.year,
            query.shared_court_id,
            query.definition or ctx.state.settings.stats_definition,
        )
    )
    return web.Response(
        body=data,
        content_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="governance-{query.year}.xlsx"'},
    )
