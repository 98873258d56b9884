"""Who may see which recording.

Judges and clerks of the session's court see every recording of the court; a mediator only the
recordings of sessions visible to them (their own cases), and never caucus tracks. Admins,
parties (join tokens) and terminals have no access. Other courts' recordings are reported as
not found, so their ids leak nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from server.access import visible_sessions
from server.http.errors import not_found
from server.http.framework import Ctx
from server.models import MediationSession, Recording, StaffSession, User, UserRole
from server.security.principals import StaffPrincipal

READERS = (UserRole.judge, UserRole.clerk, UserRole.mediator)
# Caucus content is confidential: only these roles may see, stream or export caucus tracks.
CAUCUS_READERS = (UserRole.judge, UserRole.clerk)


def may_see_caucus(user: User) -> bool:
    return user.role in CAUCUS_READERS


def sessions_visible_to(ctx: Ctx) -> Select[MediationSession]:
    """The project's one rule for session visibility (server/access.py)."""
    return visible_sessions(ctx.staff)


async def load_visible_session(ctx: Ctx, session_id: str) -> MediationSession:
    session = await ctx.db.scalar(
        sessions_visible_to(ctx).where(MediationSession.id == session_id)
    )
    if session is None:
        raise not_found("session")
    return session


async def load_visible_recording(ctx: Ctx, recording_id: str) -> tuple[Recording, MediationSession]:
    recording = await ctx.db.get(Recording, recording_id)
    if recording is None:
        raise not_found("recording")
    session = await ctx.db.scalar(
        sessions_visible_to(ctx).where(MediationSession.id == recording.session_id)
    )
    if session is None:
        raise not_found("recording")
    return recording, session


def ctx_for_user(ctx: Ctx, user: User) -> Ctx:
    """A request context acting as ``user`` (the holder of a signed download link), so the same
    visibility rule is applied when the link is used as when it was issued."""
    shim = StaffSession(
        token_hash="", user_id=user.id, csrf_token="", expires_at=datetime.now(UTC)
    )
    return Ctx(ctx.request, ctx.state, ctx.db, StaffPrincipal(user, shim))


async def reader(db: AsyncSession, user_id: str) -> User | None:
    user = await db.get(User, user_id)
    if user is None or not user.active or user.role not in READERS:
        return None
    return user
