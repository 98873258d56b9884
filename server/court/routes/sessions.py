"""Mediation sessions (scheduling, cancelling) and their join links."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import qrcode
import qrcode.image.svg
from aiohttp import web
from sqlalchemy import select

from server import audit
from server.access import CASE_READERS, CASE_WRITERS, visible_sessions
from server.court.schemas import (
    InviteIn,
    InviteLinkOut,
    InviteOut,
    SessionIn,
    SessionOut,
    SessionPatch,
    SessionQuery,
)
from server.court_network import service as network_service
from server.http.errors import bad_request, conflict, not_found
from server.http.framework import Api, Ctx
from server.http.rows import load_case, load_session
from server.invites import invite_token, issue_invite, join_url, short_url
from server.models import (
    Court,
    Invite,
    MediationSession,
    SessionParticipant,
    SessionStatus,
    Terminal,
    User,
    UserRole,
)
from server.scheduling import record_scheduled, schedule_session
from server.zones import court_zone
from signaling.room_store import waiting_counts

api = Api()


async def _staff_member(
    ctx: Ctx, user_id: str | None, roles: tuple[UserRole, ...], field: str
) -> User | None:
    if user_id is None:
        return None
    user = await ctx.db.get(User, user_id)
    if (
        user is None
        or user.court_id != ctx.staff.court_id
        or user.role not in roles
        or not user.active
    ):
        raise bad_request(
            f"{field} 无效 / {field} is not an active {'/'.join(roles)} of this court",
            code=f"invalid_{field}",
        )
    return user


async def _terminal(ctx: Ctx, terminal_id: str | None) -> Terminal | None:
    if terminal_id is None:
        return None
    terminal = await ctx.db.get(Terminal, terminal_id)
    if terminal is None or terminal.court_id != ctx.staff.court_id or not terminal.active:
        raise bad_request(
            "终端无效 / terminal_id is not an active terminal of this court",
            code="invalid_terminal_id",
        )
    return terminal


@api.route(
    "GET",
    "/api/sessions",
    summary="List sessions (by local date, status, case)",
    tag="sessions",
    roles=CASE_READERS,
    query=SessionQuery,
    response=list[SessionOut],
)
async def list_sessions(ctx: Ctx, query: SessionQuery) -> list[SessionOut]:
    stmt = visible_sessions(ctx.staff)
    if query.date:
        # The day in the court's timezone (a clerk's "today" is the court's, not the PC's).
        court = await ctx.db.get(Court, ctx.staff.court_id)
        zone = court_zone(court)
        local = (
            datetime.strptime(query.date, "%Y-%m-%d").replace(tzinfo=zone).astimezone(UTC)
        )
        stmt = stmt.where(
            MediationSession.scheduled_at >= local,
            MediationSession.scheduled_at < local + timedelta(days=1),
        )
    if query.status:
        stmt = stmt.where(MediationSession.status == query.status)
    if query.case_id:
        stmt = stmt.where(MediationSession.case_id == query.case_id)
    stmt = stmt.order_by(MediationSession.scheduled_at).limit(query.limit).offset(query.offset)
    rows = list(await ctx.db.scalars(stmt))
    waiting = await waiting_counts(
        ctx.db, [r.id for r in rows if r.status in (SessionStatus.scheduled, SessionStatus.live)]
    )
    return [
        SessionOut.model_validate(r).model_copy(update={"waiting": waiting.get(r.id, 0)})
        for r in rows
    ]


@api.route(
    "POST",
    "/api/sessions",
    summary="Schedule a mediation session",
    tag="sessions",
    roles=CASE_WRITERS,
    body=SessionIn,
    response=SessionOut,
    status=201,
)
async def create_session(ctx: Ctx, body: SessionIn) -> MediationSession:
    case = await load_case(ctx, body.case_id)
    mediator = await _staff_member(
        ctx, body.mediator_id, (UserRole.mediator, UserRole.judge), "mediator_id"
    )
    clerk = await _staff_member(ctx, body.clerk_id, (UserRole.clerk,), "clerk_id")
    terminal = await _terminal(ctx, body.terminal_id)
    assert mediator is not None
    parties = list(case.parties)
    if body.party_ids is not None:
        by_id = {p.id: p for p in parties}
        unknown = [pid for pid in body.party_ids if pid not in by_id]
        if unknown:
            raise bad_request(
                "当事人不属于本案 / party_ids not in this case: " + ", ".join(unknown),
                code="invalid_party_ids",
            )
        parties = [by_id[pid] for pid in dict.fromkeys(body.party_ids)]
    session = await schedule_session(
        ctx.db,
        case=case,
        scheduled_at=body.scheduled_at,
        mediator=mediator,
        parties=parties,
        clerk=clerk,
        terminal=terminal,
        duration_minutes=body.duration_minutes,
        record_caucus=body.record_caucus,
        created_by=ctx.staff.id,
    )
    record_scheduled(ctx.db, session, actor=ctx.actor, ip=ctx.ip)
    await network_service.on_session_scheduled(ctx.db, ctx.state, session, ctx.actor)
    return session


@api.route(
    "GET",
    "/api/sessions/{session_id}",
    summary="One session with its participants",
    tag="sessions",
    roles=CASE_READERS,
    response=SessionOut,
)
async def get_session(ctx: Ctx) -> MediationSession:
    return await load_session(ctx, ctx.match("session_id"))


@api.route(
    "PATCH",
    "/api/sessions/{session_id}",
    summary="Reschedule or reassign a session",
    tag="sessions",
    roles=CASE_WRITERS,
    body=SessionPatch,
    response=SessionOut,
)
async def update_session(ctx: Ctx, body: SessionPatch) -> MediationSession:
    session = await load_session(ctx, ctx.match("session_id"))
    if session.status != SessionStatus.scheduled:
        raise conflict("会话已开始或已结束，不能修改 / only scheduled sessions can be changed")
    changes = body.model_dump(exclude_unset=True)
    if "mediator_id" in changes:
        await _staff_member(
            ctx, changes["mediator_id"], (UserRole.mediator, UserRole.judge), "mediator_id"
        )
    if changes.get("clerk_id"):
        await _staff_member(ctx, changes["clerk_id"], (UserRole.clerk,), "clerk_id")
    if changes.get("terminal_id"):
        await _terminal(ctx, changes["terminal_id"])
    for k, v in changes.items():
        if v is None and k in ("scheduled_at", "duration_minutes", "mediator_id", "record_caucus"):
            continue
        setattr(session, k, v)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="session.update",
        court_id=session.court_id,
        target=session.id,
        session_id=session.id,
        ip=ctx.ip,
        fields=sorted(changes),
    )
    return session


@api.route(
    "POST",
    "/api/sessions/{session_id}/cancel",
    summary="Cancel a scheduled session",
    tag="sessions",
    roles=CASE_WRITERS,
    response=SessionOut,
)
async def cancel_session(ctx: Ctx) -> MediationSession:
    session = await load_session(ctx, ctx.match("session_id"))
    if session.status != SessionStatus.scheduled:
        raise conflict("只能取消尚未开始的会话 / only scheduled sessions can be cancelled")
    session.status = SessionStatus.cancelled
    now = datetime.now(UTC)
    revoked = []
    for invite in await ctx.db.scalars(
        select(Invite).where(Invite.session_id == session.id, Invite.revoked_at.is_(None))
    ):
        invite.revoked_at = now
        invite.revoked_by = ctx.staff.id
        revoked.append(invite.id)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="session.cancel",
        court_id=session.court_id,
        target=session.id,
        session_id=session.id,
        ip=ctx.ip,
    )
    await network_service.on_session_cancelled(ctx.db, ctx.state, session, ctx.actor, ctx.ip)
    # Committed first, so a socket cut off now is refused when it reconnects.
    await ctx.db.commit()
    await ctx.state.revocations.announce(revoked)
    return session


# --- join links -----------------------------------------------------------------------------
@api.route(
    "GET",
    "/api/sessions/{session_id}/invites",
    summary="Join links of a session",
    tag="invites",
    roles=CASE_WRITERS,
    response=list[InviteOut],
)
async def list_invites(ctx: Ctx) -> list[Invite]:
    session = await load_session(ctx, ctx.match("session_id"))
    rows = await ctx.db.scalars(
        select(Invite).where(Invite.session_id == session.id).order_by(Invite.created_at)
    )
    return list(rows)


@api.route(
    "POST",
    "/api/sessions/{session_id}/invites",
    summary="Issue a join link for one participant",
    tag="invites",
    roles=CASE_WRITERS,
    body=InviteIn,
    response=InviteLinkOut,
    status=201,
)
async def create_invite(ctx: Ctx, body: InviteIn) -> InviteLinkOut:
    session = await load_session(ctx, ctx.match("session_id"))
    if session.status in (SessionStatus.ended, SessionStatus.cancelled):
        raise conflict("会话已结束或取消 / session has ended or was cancelled")
    participant = await ctx.db.get(SessionParticipant, body.participant_id)
    if participant is None or participant.session_id != session.id:
        raise bad_request(
            "参与人不属于本会话 / participant_id is not in this session",
            code="invalid_participant_id",
        )
    ttl = body.ttl_hours or ctx.state.settings.join_link_ttl_hours
    invite = await issue_invite(ctx.db, participant, ttl, ctx.staff.id)
    token = invite_token(ctx.state.signer, invite)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="invite.issue",
        court_id=session.court_id,
        target=invite.id,
        session_id=session.id,
        ip=ctx.ip,
        participant_id=participant.id,
        expires_at=invite.expires_at.isoformat(),
    )
    return InviteLinkOut(
        invite=InviteOut.model_validate(invite),
        url=join_url(ctx.state.settings.effective_public_url, token),
        token=token,
        short_url=short_url(ctx.state.settings.effective_public_url, invite),
    )


async def _load_invite(ctx: Ctx) -> tuple[MediationSession, Invite]:
    invite = await ctx.db.get(Invite, ctx.match("invite_id"))
    if invite is None:
        raise not_found("invite")
    session = await load_session(ctx, invite.session_id)
    return session, invite


@api.route(
    "POST",
    "/api/invites/{invite_id}/revoke",
    summary="Revoke a join link",
    tag="invites",
    roles=CASE_WRITERS,
    response=InviteOut,
)
async def revoke_invite(ctx: Ctx) -> Invite:
    session, invite = await _load_invite(ctx)
    if invite.revoked_at is None:
        invite.revoked_at = datetime.now(UTC)
        invite.revoked_by = ctx.staff.id
        audit.record(
            ctx.db,
            actor=ctx.actor,
            action="invite.revoke",
            court_id=session.court_id,
            target=invite.id,
            session_id=session.id,
            ip=ctx.ip,
        )
        # Committed first, so a socket cut off now is refused when it reconnects.
        await ctx.db.commit()
        await ctx.state.revocations.announce([invite.id])
    return invite


@api.route(
    "GET",
    "/api/invites/{invite_id}/qr.svg",
    summary="QR code of a join link (SVG)",
    tag="invites",
    roles=CASE_WRITERS,
    raw_response="image/svg+xml",
)
async def invite_qr(ctx: Ctx) -> web.Response:
    _, invite = await _load_invite(ctx)
    if invite.revoked_at is not None:
        raise conflict("链接已撤销 / link revoked")
    public = ctx.state.settings.effective_public_url
    # The short link when there is one: a QR code of ~40 characters scans from a phone at arm's
    # length; one of the ~300-character token is dense.
    url = short_url(public, invite) or join_url(public, invite_token(ctx.state.signer, invite))
    img = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buf = io.BytesIO()
    img.save(buf)
    return web.Response(
        body=buf.getvalue(), content_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )
