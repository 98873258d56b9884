"""Village terminals: administered by admins, authenticated by their device key."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime, timedelta

from aiohttp import web
from sqlalchemy import select

from server import audit
from server.court.routes.auth import refusal, too_many_attempts
from server.court.schemas import (
    JoinSessionOut,
    ScheduleItemOut,
    TerminalIn,
    TerminalLoginIn,
    TerminalLoginOut,
    TerminalOut,
    TerminalPatch,
    TerminalWithKeyOut,
)
from server.http.errors import ApiError
from server.http.framework import Api, Ctx
from server.invites import current_invite, invite_token, join_url
from server.models import (
    Case,
    Court,
    MediationSession,
    ParticipantKind,
    SessionParticipant,
    SessionStatus,
    Terminal,
    UserRole,
)
from server.security.passwords import hash_password, verify_password
from server.security.principals import TerminalPrincipal
from server.zones import zone_of

api = Api()
ADMIN = (UserRole.admin,)
TERMINAL_TOKEN_HOURS = 24


def new_device_key() -> tuple[str, str]:
    """A device key is `<prefix>.<secret>`: the prefix finds the row, the secret is hashed."""
    prefix = secrets.token_hex(6)
    return prefix, f"{prefix}.{secrets.token_urlsafe(24)}"


@api.route(
    "GET",
    "/api/terminals",
    summary="Terminals of the court",
    tag="terminals",
    response=list[TerminalOut],
)
async def list_terminals(ctx: Ctx) -> list[Terminal]:
    rows = await ctx.db.scalars(
        select(Terminal).where(Terminal.court_id == ctx.staff.court_id).order_by(Terminal.name)
    )
    return list(rows)


@api.route(
    "POST",
    "/api/terminals",
    summary="Register a terminal; returns its device key once",
    tag="terminals",
    roles=ADMIN,
    body=TerminalIn,
    response=TerminalWithKeyOut,
    status=201,
)
async def create_terminal(ctx: Ctx, body: TerminalIn) -> TerminalWithKeyOut:
    prefix, key = new_device_key()
    terminal = Terminal(
        court_id=ctx.staff.court_id,
        key_prefix=prefix,
        key_hash=hash_password(key),
        **body.model_dump(),
    )
    ctx.db.add(terminal)
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="terminal.create",
        court_id=terminal.court_id,
        target=terminal.id,
        ip=ctx.ip,
        name=terminal.name,
    )
    return TerminalWithKeyOut(terminal=TerminalOut.model_validate(terminal), device_key=key)


async def _load_terminal(ctx: Ctx) -> Terminal:
    return await ctx.court_row(Terminal, ctx.match("terminal_id"), "terminal")


@api.route(
    "PATCH",
    "/api/terminals/{terminal_id}",
    summary="Update a terminal",
    tag="terminals",
    roles=ADMIN,
    body=TerminalPatch,
    response=TerminalOut,
)
async def update_terminal(ctx: Ctx, body: TerminalPatch) -> Terminal:
    terminal = await _load_terminal(ctx)
    changes = body.model_dump(exclude_none=True)
    for k, v in changes.items():
        setattr(terminal, k, v)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="terminal.update",
        court_id=terminal.court_id,
        target=terminal.id,
        ip=ctx.ip,
        fields=sorted(changes),
    )
    return terminal


@api.route(
    "POST",
    "/api/terminals/{terminal_id}/rotate-key",
    summary="Issue a new device key; the old key and its tokens stop working",
    tag="terminals",
    roles=ADMIN,
    response=TerminalWithKeyOut,
)
async def rotate_terminal_key(ctx: Ctx) -> TerminalWithKeyOut:
    terminal = await _load_terminal(ctx)
    prefix, key = new_device_key()
    terminal.key_prefix = prefix
    terminal.key_hash = hash_password(key)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="terminal.rotate_key",
        court_id=terminal.court_id,
        target=terminal.id,
        ip=ctx.ip,
    )
    return TerminalWithKeyOut(terminal=TerminalOut.model_validate(terminal), device_key=key)


@api.route(
    "POST",
    "/api/terminal/login",
    summary="Terminal login with its device key",
    tag="terminals",
    auth="public",
    body=TerminalLoginIn,
    response=TerminalLoginOut,
)
async def terminal_login(ctx: Ctx, body: TerminalLoginIn) -> TerminalLoginOut | web.Response:
    limiter = ctx.state.login_limiter
    # Counted before the key is evaluated, atomically with the check (see the staff login).
    attempt = await limiter.acquire([f"terminal-ip:{ctx.ip}"])
    if not attempt.granted:
        return too_many_attempts(attempt.retry_after)
    prefix = body.device_key.split(".", 1)[0]
    terminal = await ctx.db.scalar(select(Terminal).where(Terminal.key_prefix == prefix))
    # argon2 is deliberately slow: off the event loop, so a login stalls no one else.
    ok = await asyncio.to_thread(
        verify_password, terminal.key_hash if terminal else None, body.device_key
    )
    if not ok or terminal is None or not terminal.active:
        # In the request's own transaction, on the one connection it holds (see `refusal`).
        audit.record(
            ctx.db,
            actor="anonymous",
            action="terminal.login_failed",
            ip=ctx.ip,
            court_id=terminal.court_id if terminal else None,
        )
        return refusal(ApiError(401, "bad_device_key", "终端密钥无效 / invalid device key"))
    await limiter.refund(attempt)
    expires = time.time() + TERMINAL_TOKEN_HOURS * 3600
    token = ctx.state.signer.sign("term", {"tid": terminal.id, "kp": terminal.key_prefix}, expires)
    audit.record(
        ctx.db,
        actor=f"terminal:{terminal.id}",
        action="terminal.login",
        court_id=terminal.court_id,
        target=terminal.id,
        ip=ctx.ip,
    )
    return TerminalLoginOut(
        token=token,
        expires_at=datetime.fromtimestamp(expires, UTC),
        terminal=TerminalOut.model_validate(terminal),
    )


@api.route(
    "GET",
    "/api/terminal/schedule",
    summary="Today's sessions at this terminal, each with a one-tap join link",
    tag="terminals",
    auth="terminal",
    response=list[ScheduleItemOut],
)
async def terminal_schedule(ctx: Ctx) -> list[ScheduleItemOut]:
    assert isinstance(ctx.principal, TerminalPrincipal)
    terminal = ctx.principal.terminal
    # "Today" in the court's local day.
    zone = await zone_of(ctx.db, terminal.court_id)
    today = datetime.now(zone)
    midnight = datetime(today.year, today.month, today.day, tzinfo=zone)
    day_start = midnight.astimezone(UTC)
    day_end = (midnight + timedelta(days=1)).astimezone(UTC)
    rows = await ctx.db.execute(
        select(MediationSession, SessionParticipant, Case, Court)
        .join(SessionParticipant, SessionParticipant.session_id == MediationSession.id)
        .join(Case, Case.id == MediationSession.case_id)
        .join(Court, Court.id == MediationSession.court_id)
        .where(
            MediationSession.terminal_id == terminal.id,
            SessionParticipant.terminal_id == terminal.id,
            SessionParticipant.kind == ParticipantKind.terminal,
            MediationSession.scheduled_at >= day_start,
            MediationSession.scheduled_at < day_end,
            MediationSession.status.in_([SessionStatus.scheduled, SessionStatus.live]),
        )
        .order_by(MediationSession.scheduled_at)
    )
    out = []
    ttl = ctx.state.settings.join_link_ttl_hours
    for session, participant, case, court in rows.all():
        invite = await current_invite(ctx.db, participant, ttl)
        token = invite_token(ctx.state.signer, invite)
        out.append(
            ScheduleItemOut(
                session=JoinSessionOut.of(session, case, court, terminal),
                participant_id=participant.id,
                join_url=join_url(ctx.state.settings.effective_public_url, token),
                join_token=token,
            )
        )
    return out
