"""Staff login and logout (session cookie + CSRF token)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

from aiohttp import web
from sqlalchemy import delete, select

from server import audit
from server.court.schemas import LoginIn, MeCourtOut, MeOut, UserOut
from server.http.errors import ApiError, RateLimited, unauthorized
from server.http.framework import Api, Ctx
from server.models import Court, StaffSession, User
from server.security.passwords import verify_password
from server.security.principals import SESSION_COOKIE, StaffPrincipal, hash_token

api = Api()


async def _me(ctx: Ctx, user: User, csrf_token: str) -> MeOut:
    court = await ctx.db.get(Court, user.court_id)
    return MeOut(
        user=UserOut.model_validate(user),
        csrf_token=csrf_token,
        court=MeCourtOut.model_validate(court) if court is not None else None,
        public_url=ctx.state.settings.effective_public_url,
    )


def refusal(err: ApiError) -> web.Response:
    """A refused login answered by returning, not raising: the request's transaction then
    commits the refusal's audit row on the connection it already holds. Writing it in a
    transaction of its own would hold two pool connections at once, and a burst of failed
    logins, each waiting for its second, froze the pool for everyone."""
    return web.json_response(err.body(), status=err.status)


def too_many_attempts(wait: float) -> web.Response:
    """The 429 of a refused login attempt, returned (see `refusal`), with `Retry-After`."""
    return RateLimited(wait).response()


@api.route(
    "POST",
    "/api/auth/login",
    summary="Staff login",
    tag="auth",
    auth="public",
    body=LoginIn,
    response=MeOut,
)
async def login(ctx: Ctx, body: LoginIn) -> MeOut | web.Response:
    limiter = ctx.state.login_limiter
    keys = (f"ip:{ctx.ip}", f"user:{body.username.lower()}")
    # Counted before the password is evaluated, in one step with the check, and taken back on
    # success: parallel guesses cannot all pass the check before any of them is counted. Only a
    # cookie of the issued shape has been looked up before this; a throttled client costs its
    # audit row and no more.
    attempt = await limiter.acquire(keys)
    if not attempt.granted:
        audit.record(
            ctx.db, actor="anonymous", action="login.throttled", target=body.username, ip=ctx.ip
        )
        return too_many_attempts(attempt.retry_after)
    user = await ctx.db.scalar(select(User).where(User.username == body.username))
    # argon2 is deliberately slow: off the event loop, so a login stalls no one else.
    ok = await asyncio.to_thread(
        verify_password, user.password_hash if user else None, body.password
    )
    if not ok or user is None or not user.active:
        audit.record(
            ctx.db,
            actor="anonymous",
            action="login.failed",
            target=body.username,
            ip=ctx.ip,
            court_id=user.court_id if user else None,
        )
        return refusal(
            unauthorized("用户名或密码错误 / wrong username or password", code="bad_credentials")
        )
    await limiter.refund(attempt)
    await limiter.reset(keys[1])
    token = secrets.token_urlsafe(32)
    hours = ctx.state.settings.staff_session_hours
    staff_session = StaffSession(
        token_hash=hash_token(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(24),
        expires_at=datetime.now(UTC) + timedelta(hours=hours),
    )
    ctx.db.add(staff_session)
    # Expired sessions of this user are cleaned on login instead of by a background job.
    await ctx.db.execute(
        delete(StaffSession).where(
            StaffSession.user_id == user.id, StaffSession.expires_at < datetime.now(UTC)
        )
    )
    audit.record(
        ctx.db,
        actor=f"user:{user.id}",
        action="login",
        court_id=user.court_id,
        target=user.username,
        ip=ctx.ip,
    )
    ctx.response_cookies.append(
        (
            SESSION_COOKIE,
            token,
            {
                "httponly": True,
                "samesite": "Strict",
                "secure": ctx.state.settings.cookie_secure,
                "path": "/",
                "max_age": int(hours * 3600),
            },
        )
    )
    return await _me(ctx, user, staff_session.csrf_token)


@api.route("POST", "/api/auth/logout", summary="Staff logout", tag="auth")
async def logout(ctx: Ctx) -> None:
    assert isinstance(ctx.principal, StaffPrincipal)
    await ctx.db.delete(ctx.principal.session)
    audit.record(ctx.db, actor=ctx.actor, action="logout", court_id=ctx.staff.court_id, ip=ctx.ip)
    ctx.deleted_cookies.append(SESSION_COOKIE)


@api.route(
    "GET", "/api/auth/me", summary="Current staff user and CSRF token", tag="auth", response=MeOut
)
async def me(ctx: Ctx) -> MeOut:
    assert isinstance(ctx.principal, StaffPrincipal)
    return await _me(ctx, ctx.staff, ctx.principal.session.csrf_token)
