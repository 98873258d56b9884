"""Routes of the public progress lookup (online, and the village terminal's): a case's status by
its number and a party's phone. It gives one answer for "not found" and "wrong phone", so it tells
a guesser nothing about which numbers exist, and it is rate-limited (docs/network.md):

- every try is counted before anything is compared, against the caller's budget: the client's
  address online (behind `trusted_proxies`, the address the proxy names), the terminal's own,
  larger budget at a terminal; a match is taken back;
- each wrong phone strikes the case number (known or not, alike), and a number struck often
  backs off: further wrong phones for it get 429 until the wait is over, but the right phone is
  still answered, so guesses cannot lock the party out of their own case.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import func, select

from server.court_network import service
from server.court_network.models import Intake, IntakeTransition, SharedCourt
from server.court_network.routes.access import TAG, count_attempt
from server.court_network.schemas import LookupIn, LookupOut
from server.http.errors import ApiError, RateLimited
from server.http.framework import Api, Ctx
from server.models import MediationSession, SessionStatus
from server.security.principals import TerminalPrincipal

api = Api()


def _digits(phone: str) -> str:
    return "".join(c for c in phone if c.isdigit())


@api.route(
    "POST",
    "/api/network/lookup",
    summary="Case progress by number + party phone (rate-limited per address, wrong phones back "
    "off per number; one answer for 'not found' and 'wrong phone')",
    tag=TAG,
    auth="public",
    body=LookupIn,
    response=LookupOut,
)
async def lookup(ctx: Ctx, body: LookupIn) -> LookupOut | web.Response:
    return await _lookup(
        ctx,
        body,
        f"lookup-ip:{ctx.ip}",
        ctx.state.login_limiter.max_events,
        "本地址查询次数过多 / too many lookups from this address",
    )


@api.route(
    "POST",
    "/api/network/terminal/lookup",
    summary="Case progress at a village terminal: as /api/network/lookup, counted against the "
    "terminal's own budget (lookup_terminal_attempts) instead of its address's",
    tag=TAG,
    auth="terminal",
    body=LookupIn,
    response=LookupOut,
)
async def terminal_lookup(ctx: Ctx, body: LookupIn) -> LookupOut | web.Response:
    assert isinstance(ctx.principal, TerminalPrincipal)
    return await _lookup(
        ctx,
        body,
        f"lookup-terminal:{ctx.principal.terminal.id}",
        ctx.state.settings.lookup_terminal_attempts,
        "本终端查询次数过多 / too many lookups from this terminal",
    )


async def _lookup(
    ctx: Ctx, body: LookupIn, budget_key: str, budget: int, budget_message: str
) -> LookupOut | web.Response:
    """The lookup, its 429s returned with `Retry-After` (a raised ApiError carries no header)."""
    limiter = ctx.state.login_limiter
    try:
        # Counted before anything is compared (parallel guesses cannot outrun the budget);
        # taken back on a match.
        attempt = await count_attempt(ctx, budget_key, limits=[budget], message=budget_message)
    except RateLimited as exc:
        return exc.response()
    intake = await ctx.db.scalar(select(Intake).where(Intake.number == body.number))
    phone = _digits(body.phone)
    ok = (
        intake is not None
        and phone != ""
        and phone in (_digits(intake.applicant_phone), _digits(intake.respondent_phone))
    )
    if intake is None or not ok:
        # The number is struck whether it exists or not: the same answers, the same back-off.
        strike = await limiter.strike(f"lookup-no:{body.number}")
        if strike.before > 0:
            return RateLimited(
                strike.after,
                "该编号近期核对失败次数过多（手机号正确仍可查询） / too many wrong phones for "
                "this number (the right phone is still answered)",
            ).response()
        raise ApiError(
            404,
            "not_found",
            "未找到匹配的案件，请核对编号和手机号 / no matching case for this number and phone",
        )
    await limiter.refund(attempt)
    updated = await ctx.db.scalar(
        select(func.max(IntakeTransition.at)).where(IntakeTransition.intake_id == intake.id)
    )
    next_at = await ctx.db.scalar(
        select(func.min(MediationSession.scheduled_at)).where(
            MediationSession.case_id == intake.case_id,
            MediationSession.status == SessionStatus.scheduled,
            MediationSession.scheduled_at >= datetime.now(UTC),
        )
    )
    shared = (
        await ctx.db.get(SharedCourt, intake.shared_court_id) if intake.shared_court_id else None
    )
    return LookupOut(
        number=intake.number,
        status=intake.status,
        status_label=service.STATUS_LABELS[intake.status],
        case_type=intake.case_type,
        shared_court_name=shared.name if shared else None,
        received_at=intake.received_at,
        updated_at=updated or intake.received_at,
        next_session_at=next_at,
    )
