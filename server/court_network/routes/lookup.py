"""Route of the public progress lookup (terminal and online): a case's status by its number and a
party's phone. It is rate-limited and gives one answer for "not found" and "wrong phone", so it
tells a guesser nothing about which numbers exist."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from server.court_network import service
from server.court_network.models import Intake, IntakeTransition, SharedCourt
from server.court_network.routes.access import TAG, count_attempt
from server.court_network.schemas import LookupIn, LookupOut
from server.http.errors import ApiError
from server.http.framework import Api, Ctx
from server.models import MediationSession, SessionStatus

api = Api()


def _digits(phone: str) -> str:
    return "".join(c for c in phone if c.isdigit())


@api.route(
    "POST",
    "/api/network/lookup",
    summary="Case progress by number + party phone (rate-limited; one answer for "
    "'not found' and 'wrong phone')",
    tag=TAG,
    auth="public",
    body=LookupIn,
    response=LookupOut,
)
async def lookup(ctx: Ctx, body: LookupIn) -> LookupOut:
    # A failed lookup counts against the address and the number; a match is taken back.
    attempt = await count_attempt(ctx, f"lookup-ip:{ctx.ip}", f"lookup-no:{body.number}")
    intake = await ctx.db.scalar(select(Intake).where(Intake.number == body.number))
    phone = _digits(body.phone)
    ok = (
        intake is not None
        and phone != ""
        and phone in (_digits(intake.applicant_phone), _digits(intake.respondent_phone))
    )
    if intake is None or not ok:
        raise ApiError(
            404,
            "not_found",
            "未找到匹配的案件，请核对编号和手机号 / no matching case for this number and phone",
        )
    await ctx.state.login_limiter.refund(attempt)
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
