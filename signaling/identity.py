"""Who is connecting: resolved from a join token or a staff session cookie, before any room
state is touched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from server.models import Case, MediationSession, Party, SessionParticipant, SessionStatus
from server.security.principals import (
    SESSION_COOKIE,
    LinkRefused,
    party_from_join_token,
    staff_from_session_token,
)
from server.state import AppState
from signaling.protocol import SignalingError


@dataclass(frozen=True)
class Identity:
    session_id: str
    court_id: str
    case_number: str
    participant_id: str
    kind: str
    display_name: str
    role_label: str
    actor: str  # for the audit log
    invite_id: str | None = None
    # Authenticated by a staff login (session cookie), not by a join link.
    staff_login: bool = False
    # The party is a company or other organisation: a natural person signs for it.
    organisation: bool = False


async def authenticate(state: AppState, request: Any, auth: Any) -> Identity:
    auth = auth if isinstance(auth, dict) else {}
    async with state.db.session() as db:
        token = auth.get("token")
        if isinstance(token, str) and token:
            try:
                principal = await party_from_join_token(db, state.signer, token)
            except LinkRefused as exc:
                raise SignalingError(exc.code, exc.message) from exc
            participant = principal.participant
            principal.invite.last_used_at = datetime.now(UTC)
            actor = principal.actor
            invite_id: str | None = principal.invite.id
        else:
            cookies = getattr(request, "cookies", None) or {}
            staff = await staff_from_session_token(db, cookies.get(SESSION_COOKIE))
            session_id = auth.get("session_id")
            if staff is None or not isinstance(session_id, str):
                raise SignalingError(
                    "unauthenticated", "需要加入链接或登录 / a join link or staff login is required"
                )
            found = await db.scalar(
                select(SessionParticipant).where(
                    SessionParticipant.session_id == session_id,
                    SessionParticipant.user_id == staff.user.id,
                )
            )
            if found is None:
                raise SignalingError(
                    "forbidden", "您不是本次调解的参与人 / not a participant of this session"
                )
            participant = found
            actor = staff.actor
            invite_id = None
        session = await db.get(MediationSession, participant.session_id)
        assert session is not None
        if session.status in (SessionStatus.ended, SessionStatus.cancelled):
            raise SignalingError("session_closed", "调解已结束或已取消 / this session is closed")
        case = await db.get(Case, session.case_id)
        party = await db.get(Party, participant.party_id) if participant.party_id else None
        return Identity(
            session_id=session.id,
            court_id=session.court_id,
            case_number=case.case_number if case else "",
            participant_id=participant.id,
            kind=participant.kind.value,
            display_name=participant.display_name,
            role_label=participant.role_label,
            actor=actor,
            invite_id=invite_id,
            staff_login=invite_id is None,
            organisation=bool(party and party.is_organisation),
        )
