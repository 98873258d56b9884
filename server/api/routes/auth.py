"""Staff login and logout (session cookie + CSRF token)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from server import audit
from server.api.errors import ApiError, unauthorized
from server.api.framework import SESSION_COOKIE, Api, Ctx, StaffPrincipal, _hash_token
from server.api.schemas import LoginIn, MeOut, UserOut
from server.models import StaffSession, User
from server.security.passwords import verify_password

api = Api()


@api.route(
    "POST",
    "/api/auth/login",
    summary="Staff login",
    tag="auth",
    auth="public",
    body=LoginIn,
    response=MeOut,
)
async def login(ctx: Ctx, body: LoginIn) -> MeOut:
    limiter = ctx.state.login_limiter
    keys = (f"ip:{ctx.ip}", f"user:{body.username.lower()}")
    wait = max([await limiter.retry_after(k) for k in keys])
    if wait > 0:
        # Committed on its own: the request's transaction is rolled back by the refusal.
        await audit.record_committed(
            ctx.state.db,
            actor="anonymous",
            action="login.throttled",
            target=body.username,
            ip=ctx.ip,
        )
        raise ApiError(
            429,
            "rate_limited",
            f"尝试次数过多，请 {int(wait) + 1} 秒后再试 / too many attempts, retry later",
        )
    user = await ctx.db.scalar(select(User).where(User.username == body.username))
    ok = verify_password(user.password_hash if user else None, body.password)
    if not ok or user is None or not user.active:
        for k in keys:
            await limiter.hit(k)
        await audit.record_committed(
            ctx.state.db,
            actor="anonymous",
            action="login.failed",
            target=body.username,
            ip=ctx.ip,
            court_id=user.court_id if user else None,
        )
        raise unauthorized("用户名或密码错误 / wrong username or password", code="bad_credentials")
    await limiter.reset(keys[1])
    token = secrets.token_urlsafe(32)
    hours = ctx.state.settings.staff_session_hours
    staff_session = StaffSession(
        token_hash=_hash_token(token),
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
    return MeOut(user=UserOut.model_validate(user), csrf_token=staff_session.csrf_token)


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
    return MeOut(
        user=UserOut.model_validate(ctx.staff), csrf_token=ctx.principal.session.csrf_token
    )
