"""Reading the audit log (judges, clerks and admins of the court)."""

from __future__ import annotations

from sqlalchemy import select

from server.court.schemas import AuditOut, AuditQuery
from server.http.framework import Api, Ctx
from server.models import AuditEvent, UserRole

api = Api()


@api.route(
    "GET",
    "/api/audit",
    summary="Audit events of the court, newest first",
    tag="audit",
    roles=(UserRole.admin, UserRole.judge, UserRole.clerk),
    query=AuditQuery,
    response=list[AuditOut],
)
async def list_audit(ctx: Ctx, query: AuditQuery) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.court_id == ctx.staff.court_id)
    if query.session_id:
        stmt = stmt.where(AuditEvent.session_id == query.session_id)
    if query.action:
        stmt = stmt.where(AuditEvent.action == query.action)
    if query.before_id:
        stmt = stmt.where(AuditEvent.id < query.before_id)
    return list(await ctx.db.scalars(stmt.order_by(AuditEvent.id.desc()).limit(query.limit)))
