"""What a join link shows its holder: the session, who they are, how to connect."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import select

from server import audit
from server.access import CASE_WRITERS
from server.court.routes.auth import too_many_attempts
from server.court.schemas import (
    ContactOut,
    IceServerOut,
    InvitationOut,
    JoinOut,
    JoinSessionOut,
    ParticipantOut,
)
from server.http.errors import ApiError, not_found
from server.http.framework import Api, Ctx
from server.http.rows import load_session
from server.invites import ROLE_LABELS_ZH, SHORT_ALPHABET, SHORT_LENGTH, invite_token, short_url
from server.models import (
    Case,
    Court,
    Invite,
    MediationSession,
    Party,
    SessionParticipant,
    SessionStatus,
    Terminal,
)
from server.rtc.turn_credentials import ice_credentials
from server.security.principals import PartyPrincipal, session_contact

api = Api()

RECORDING_NOTICE = (
    "本次调解全程录音录像，并生成文字记录，作为调解记录的一部分依法保存。"
    "背靠背调解（分组单独沟通）内容默认不录制。继续即表示您已知悉并同意。"
    " / This mediation session is recorded (audio, video and a written transcript) and kept as "
    "part of the mediation record. Private caucus conversations are not recorded by default. "
    "By continuing you acknowledge and consent."
)


async def join_info(ctx: Ctx, principal: PartyPrincipal) -> JoinOut:
    session = await ctx.db.get(MediationSession, principal.participant.session_id)
    assert session is not None
    if session.status in (SessionStatus.ended, SessionStatus.cancelled):
        raise ApiError(
            410,
            "session_closed",
            "调解已结束或已取消，链接已失效，请联系书记员 / this session is closed",
            contact=await session_contact(ctx.db, session.id),
        )
    case = await ctx.db.get(Case, session.case_id)
    court = await ctx.db.get(Court, session.court_id)
    terminal = await ctx.db.get(Terminal, session.terminal_id) if session.terminal_id else None
    assert case is not None and court is not None
    settings = ctx.state.settings
    expires = principal.invite.expires_at
    return JoinOut(
        session=JoinSessionOut.of(session, case, court, terminal),
        participant=ParticipantOut.model_validate(principal.participant),
        expires_at=expires if expires.tzinfo else expires.replace(tzinfo=UTC),
        ice_servers=[
            IceServerOut(urls=s.urls, username=username, credential=credential)
            for s in settings.ice_servers
            for username, credential in [
                ice_credentials(s, principal.participant.id, settings.turn_credential_ttl_seconds)
            ]
        ],
        signaling_path="/socket.io/",
        recording_notice=RECORDING_NOTICE,
    )


@api.route(
    "GET",
    "/api/join/{token}",
    summary="Resolve a join link (party, terminal or staff link)",
    tag="join",
    auth="party",
    response=JoinOut,
)
async def resolve_join(ctx: Ctx, token: str) -> JoinOut:
    assert isinstance(ctx.principal, PartyPrincipal)
    info = await join_info(ctx, ctx.principal)
    ctx.principal.invite.last_used_at = datetime.now(UTC)
    session = await ctx.db.get(MediationSession, info.session.id)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="invite.open",
        court_id=session.court_id if session else None,
        target=ctx.principal.invite.id,
        session_id=info.session.id,
        ip=ctx.ip,
    )
    return info


@api.route(
    "GET",
    "/j/{code}",
    summary="Short join link (/j/<8-character code>): redirects to the full signed link; "
    "expiry and revocation are those of the link itself",
    tag="join",
    auth="public",
    raw_response="text/html",
)
async def short_link(ctx: Ctx) -> web.StreamResponse:
    code = ctx.match("code").strip().lower()
    # An unknown code counts against the address (as a failed login does), so codes cannot be
    # enumerated; a known one is taken back.
    attempt = await ctx.state.login_limiter.acquire([f"short-link:{ctx.ip}"])
    if not attempt.granted:
        return too_many_attempts(attempt.retry_after)
    invite = None
    if len(code) == SHORT_LENGTH and all(c in SHORT_ALPHABET for c in code):
        invite = await ctx.db.scalar(select(Invite).where(Invite.short_code == code))
    if invite is None:
        # The join page says the link is invalid and whom to ask, in the party's language.
        raise web.HTTPFound("/join/invalid", headers={"Cache-Control": "no-store"})
    await ctx.state.login_limiter.refund(attempt)
    raise web.HTTPFound(
        f"/join/{invite_token(ctx.state.signer, invite)}",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@api.route(
    "GET",
    "/api/invites/{invite_id}/invitation",
    summary="What a printed invitation (邀请函) of a join link states: the invited person and "
    "role, case, court, time and zone, short link, QR code and whom to call",
    tag="invites",
    roles=CASE_WRITERS,
    response=InvitationOut,
)
async def invitation(ctx: Ctx) -> InvitationOut:
    invite = await ctx.db.get(Invite, ctx.match("invite_id"))
    if invite is None:
        raise not_found("invite")
    session = await load_session(ctx, invite.session_id)
    participant = await ctx.db.get(SessionParticipant, invite.participant_id)
    case = await ctx.db.get(Case, session.case_id)
    court = await ctx.db.get(Court, session.court_id)
    if participant is None or case is None or court is None:
        raise not_found("invite")
    party = await ctx.db.get(Party, participant.party_id) if participant.party_id else None
    terminal = await ctx.db.get(Terminal, session.terminal_id) if session.terminal_id else None
    contact = await session_contact(ctx.db, session.id)
    role = party.role.value if party is not None else participant.kind.value
    expires = invite.expires_at
    return InvitationOut(
        invite_id=invite.id,
        revoked=invite.revoked_at is not None,
        expires_at=expires if expires.tzinfo else expires.replace(tzinfo=UTC),
        participant_name=participant.display_name,
        role=role,
        role_label=participant.role_label or ROLE_LABELS_ZH.get(role, ""),
        case_number=case.case_number,
        case_title=case.title,
        court_name=court.name,
        timezone=court.timezone or "Asia/Shanghai",
        scheduled_at=session.scheduled_at,
        duration_minutes=session.duration_minutes,
        terminal_name=terminal.name if terminal is not None else None,
        short_url=short_url(ctx.state.settings.effective_public_url, invite),
        qr_url=f"/api/invites/{invite.id}/qr.svg",
        contact=ContactOut(**contact) if contact else None,
    )
