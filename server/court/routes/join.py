"""What a join link shows its holder: the session, who they are, how to connect."""

from __future__ import annotations

from datetime import UTC, datetime

from server import audit
from server.court.schemas import IceServerOut, JoinOut, JoinSessionOut, ParticipantOut
from server.http.errors import ApiError
from server.http.framework import Api, Ctx
from server.models import Case, Court, MediationSession, SessionStatus, Terminal
from server.rtc.turn_credentials import ice_credentials
from server.security.principals import PartyPrincipal

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
