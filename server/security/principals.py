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

from server.models import Invite, SessionParticipant, StaffSession, Terminal, User, as_utc
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
    `link_revoked`; `message` is what its holder is shown."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
        code = {"expired": "link_expired"}.get(exc.reason, "link_invalid")
        raise LinkRefused(code, f"{_DEAD_LINK} / this link is no longer valid") from exc
    invite = await db.get(Invite, str(payload.get("inv")))
    if invite is None or invite.revoked_at is not None:
        raise LinkRefused("link_revoked", f"{_DEAD_LINK} / this link has been revoked")
    participant = await db.get(SessionParticipant, invite.participant_id)
    if participant is None or participant.session_id != payload.get("sid"):
        raise LinkRefused("link_invalid", f"{_DEAD_LINK} / this link is no longer valid")
    return PartyPrincipal(invite, participant)
