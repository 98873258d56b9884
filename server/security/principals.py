"""Who is asking: the principals a request or a live-room socket acts as, and how a staff
session token or a join link becomes one.

Shared by the HTTP routes (`server.http.framework`) and the live room (`signaling.identity`),
so both apply the same checks (token shape, expiry, revocation) without one building the
other's request context.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from server.models import (
    Court,
    Invite,
    MediationSession,
    SessionParticipant,
    StaffSession,
    Terminal,
    User,
    UserRole,
    as_utc,
)
from server.security.tokens import TokenError, TokenSigner

# The staff session cookie, set by login.
SESSION_COOKIE = "sc_session"
API_KEY_PREFIX = "sk_"
# The shape of the session tokens login issues (`secrets.token_urlsafe(32)`).
_SESSION_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class StaffPrincipal:
    user: User
    session: StaffSession

    @property
    def actor(self) -> str:
        return f"user:{self.user.id}"


@dataclass(frozen=True)
class TerminalPrincipal:
    terminal: Terminal

    @property
    def actor(self) -> str:
        return f"terminal:{self.terminal.id}"


@dataclass(frozen=True)
class PartyPrincipal:
    invite: Invite
    participant: SessionParticipant

    @property
    def actor(self) -> str:
        return f"participant:{self.participant.id}"


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """An external system calling with `Authorization: Bearer sk_…` (server/court_network/apikeys)."""

    key_id: str
    court_id: str
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        return f"apikey:{self.key_id}"


Principal = StaffPrincipal | TerminalPrincipal | PartyPrincipal | ApiKeyPrincipal


class LinkRefused(Exception):
    """A join link that does not admit anyone: `code` is `link_invalid`, `link_expired` or
    `link_revoked`; `message` is what its holder is shown; `contact` whom they may call for a
    new one (`{"name", "phone"}`: see `link_contact`), when the link's invite is known."""

    def __init__(self, code: str, message: str, contact: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.contact = contact


async def session_contact(db: AsyncSession, session_id: str) -> dict[str, str] | None:
    """Whom a party calls about a session's link: its clerk (name, work number; else the clerk
    who scheduled it), the court's number standing in when the clerk has none; without a clerk,
    the court itself. None for an
    unknown session. Only names and work numbers staff gave for this purpose."""
    session = await db.get(MediationSession, session_id)
    if session is None:
        return None
    court = await db.get(Court, session.court_id)
    court_phone = court.phone if court is not None else ""
    # The session's clerk; else the clerk who scheduled it (the clerk's page does not name one).
    clerk = await db.get(User, session.clerk_id) if session.clerk_id else None
    if clerk is None and session.created_by:
        creator = await db.get(User, session.created_by)
        clerk = creator if creator is not None and creator.role == UserRole.clerk else None
    if clerk is not None and clerk.active:
        return {"name": clerk.display_name, "phone": clerk.phone or court_phone}
    return {"name": court.name if court is not None else "", "phone": court_phone}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def plausible_session_token(token: str | None) -> bool:
    """Could login have issued it? A value it cannot have issued costs no database query."""
    return token is not None and _SESSION_TOKEN.fullmatch(token) is not None


async def staff_from_session_token(db: AsyncSession, token: str | None) -> StaffPrincipal | None:
    """The staff member of a live session token; None for garbage, unknown, expired or a
    deactivated user."""
    if token is None or not plausible_session_token(token):
        return None
    staff_session = await db.get(StaffSession, hash_token(token))
    if staff_session is None:
        return None
    if as_utc(staff_session.expires_at) < datetime.now(UTC):
        return None
    user = await db.get(User, staff_session.user_id)
    if user is None or not user.active:
        return None
    return StaffPrincipal(user, staff_session)


_DEAD_LINK = "链接已失效，请联系书记员"


async def party_from_join_token(
    db: AsyncSession, signer: TokenSigner, token: str
) -> PartyPrincipal:
    """Check a join link: signature, expiry, revocation, and that its participant still
    exists. Raises `LinkRefused`."""
    try:
        payload = signer.verify("join", token)
    except TokenError as exc:
        if exc.reason != "expired":
            # Forged or garbled: nothing in it may be trusted, and nobody is named.
            raise LinkRefused(
                "link_invalid", f"{_DEAD_LINK} / this link is no longer valid"
            ) from exc
        # Genuine (the signature is checked before the expiry) but past its time: its signed
        # claims still say whose link it was.
        contact = None
        try:
            expired = signer.verify("join", token, now=0.0)
        except TokenError:
            expired = {}
        invite = await db.get(Invite, str(expired["inv"])) if expired.get("inv") else None
        if invite is not None:
            contact = await session_contact(db, invite.session_id)
        raise LinkRefused(
            "link_expired", f"{_DEAD_LINK} / this link is no longer valid", contact
        ) from exc
    invite = await db.get(Invite, str(payload.get("inv")))
    if invite is None:
        raise LinkRefused("link_revoked", f"{_DEAD_LINK} / this link has been revoked")
    if invite.revoked_at is not None:
        raise LinkRefused(
            "link_revoked",
            f"{_DEAD_LINK} / this link has been revoked",
            await session_contact(db, invite.session_id),
        )
    participant = await db.get(SessionParticipant, invite.participant_id)
    if participant is None or participant.session_id != payload.get("sid"):
        raise LinkRefused("link_invalid", f"{_DEAD_LINK} / this link is no longer valid")
    return PartyPrincipal(invite, participant)
