"""Join links: issuing, re-deriving and describing them.

A token is derived only from the invite row and the server secret, so the same link (and QR code)
can be shown again later without storing the token itself.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.models import Invite, ParticipantKind, SessionParticipant, as_utc
from server.security.tokens import TokenSigner


def invite_token(signer: TokenSigner, invite: Invite) -> str:
    expires = as_utc(invite.expires_at)
    payload = {
        "inv": invite.id,
        "sid": invite.session_id,
        "pid": invite.participant_id,
        "role": invite.role.value,
    }
    return signer.sign("join", payload, expires.timestamp())


def join_url(public_url: str, token: str) -> str:
    return f"{public_url}/join/{token}"


# Letters and digits that cannot be mistaken for one another when read aloud or typed from
# paper (no 0/o, 1/l/i): 31^8 ≈ 8.5·10^11 codes, and resolving them is rate-limited.
SHORT_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
SHORT_LENGTH = 8


def short_url(public_url: str, invite: Invite) -> str | None:
    return f"{public_url}/j/{invite.short_code}" if invite.short_code else None


async def _new_short_code(db: AsyncSession) -> str:
    while True:
        code = "".join(secrets.choice(SHORT_ALPHABET) for _ in range(SHORT_LENGTH))
        if await db.scalar(select(Invite.id).where(Invite.short_code == code)) is None:
            return code


async def issue_invite(
    db: AsyncSession,
    participant: SessionParticipant,
    ttl_hours: float,
    created_by: str | None,
) -> Invite:
    invite = Invite(
        session_id=participant.session_id,
        participant_id=participant.id,
        role=participant.kind,
        created_by=created_by,
        expires_at=datetime.now(UTC) + timedelta(hours=ttl_hours),
        short_code=await _new_short_code(db),
    )
    db.add(invite)
    await db.flush()
    return invite


async def current_invite(
    db: AsyncSession, participant: SessionParticipant, ttl_hours: float
) -> Invite:
    """The participant's newest usable invite, or a fresh one (terminals' one-tap join)."""
    now = datetime.now(UTC)
    rows = await db.scalars(
        select(Invite)
        .where(Invite.participant_id == participant.id, Invite.revoked_at.is_(None))
        .order_by(Invite.expires_at.desc())
    )
    for invite in rows:
        exp = (
            invite.expires_at if invite.expires_at.tzinfo else invite.expires_at.replace(tzinfo=UTC)
        )
        if exp > now + timedelta(minutes=30):
            return invite
    return await issue_invite(db, participant, ttl_hours, None)


ROLE_LABELS_ZH: dict[str, str] = {
    ParticipantKind.mediator.value: "调解员",
    ParticipantKind.clerk.value: "书记员",
    ParticipantKind.terminal.value: "庭务主任",
    "applicant": "申请人",
    "respondent": "被申请人",
    "agent": "代理人",
    "lawyer": "律师",
    "judge": "法官",
}
