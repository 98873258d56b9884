"""Route of the court's network alerts: case types no available mediator takes (an intake of
such a type can only wait), and intakes waiting for a mediator, longest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from server.court_network import service
from server.court_network.models import Intake, IntakeStatus
from server.court_network.routes.access import TAG, court_of
from server.court_network.schemas import AlertsQuery, NetworkAlertsOut, UncoveredTypeOut
from server.http.framework import Api, Ctx
from server.models import CASE_TYPE_NAMES, CaseType, UserRole

api = Api()


@api.route(
    "GET",
    "/api/network/alerts",
    summary="Case types no mediator covers; intakes waiting for a mediator",
    tag=TAG,
    roles=(UserRole.admin, UserRole.judge, UserRole.clerk),
    query=AlertsQuery,
    response=NetworkAlertsOut,
    scope="stats:read",
)
async def network_alerts(ctx: Ctx, query: AlertsQuery) -> NetworkAlertsOut:
    court_id = court_of(ctx)
    coverage = await service.court_coverage(ctx.db, court_id)
    waiting_by_type = dict(
        (
            await ctx.db.execute(
                select(Intake.case_type, func.count())
                .where(Intake.court_id == court_id, Intake.status == IntakeStatus.received)
                .group_by(Intake.case_type)
            )
        ).all()
    )
    uncovered = [
        UncoveredTypeOut(
            case_type=kind,
            label=CASE_TYPE_NAMES[kind],
            reason="no_specialist" if not coverage.total.get(kind.value) else "all_at_capacity",
            waiting=int(waiting_by_type.get(kind, 0)),
        )
        for kind in CaseType
        if not coverage.free.get(kind.value)
    ]
    cutoff = datetime.now(UTC) - timedelta(days=query.days)
    long_waiting = await ctx.db.scalar(
        select(func.count())
        .select_from(Intake)
        .where(
            Intake.court_id == court_id,
            Intake.status == IntakeStatus.received,
            Intake.received_at < cutoff,
        )
    )
    return NetworkAlertsOut(
        uncovered_case_types=uncovered,
        unassigned=int(sum(waiting_by_type.values())),
        waiting_longer=int(long_waiting or 0),
        days=query.days,
    )
