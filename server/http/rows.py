"""Loading the case or session a staff route acts on: one the caller may see (server/access.py),
or 404 — the same answer as for an id that does not exist. (Rows that only need to be of the
caller's court go through `Ctx.court_row`.)"""

from __future__ import annotations

from server.access import visible_cases, visible_sessions
from server.http.errors import not_found
from server.http.framework import Ctx
from server.models import Case, MediationSession


async def load_case(ctx: Ctx, case_id: str) -> Case:
    case = await ctx.db.scalar(visible_cases(ctx.staff).where(Case.id == case_id))
    if case is None:
        raise not_found("case")
    return case


async def load_session(ctx: Ctx, session_id: str) -> MediationSession:
    session = await ctx.db.scalar(visible_sessions(ctx.staff).where(MediationSession.id == session_id))
    if session is None:
        raise not_found("session")
    return session
