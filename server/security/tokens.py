"""Signed, expiring tokens for join links, terminal sessions, download and intake links.

A token is a JWT (PyJWT, HS256 only) whose header `typ` names its kind ("join", "term", …) and
whose payload carries the caller's claims plus `exp`. The HMAC key is derived per kind as well,
so a token of one kind can never verify as another even if the `typ` check were skipped.
Revocation is checked against the database by the caller (the payload carries the invite id),
so a leaked link can be withdrawn.

Whatever string arrives (non-ASCII, empty segments, JSON, kilobytes of junk), `verify` either
returns the payload or raises `TokenError`: callers map that to their "invalid link" answer and
nothing else may escape to become a 500.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import jwt

_ALGORITHM = "HS256"
# A genuine token is a few hundred characters; the cap keeps junk from costing any decoding work.
MAX_TOKEN_LENGTH = 2048


class TokenError(Exception):
    """The token is malformed, forged or expired. `reason` is machine-readable:
    "malformed", "bad_signature" or "expired"."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _malformed() -> TokenError:
    return TokenError("malformed", "链接格式无效 / malformed token")


@dataclass(frozen=True, slots=True)
class TokenSigner:
    secret: bytes

    def _key(self, kind: str) -> bytes:
        # 32 bytes whatever the secret's length: PyJWT warns about shorter HMAC keys.
        return hashlib.sha256(b"shared-court/" + kind.encode() + b"/" + self.secret).digest()

    def sign(self, kind: str, payload: dict[str, Any], expires_at: float) -> str:
        # No `iat`/`jti`: the same claims must give the same token, because invites re-derive
        # their link from the database row instead of storing it.
        claims = {**payload, "exp": int(expires_at)}
        return jwt.encode(claims, self._key(kind), algorithm=_ALGORITHM, headers={"typ": kind})

    def verify(self, kind: str, token: str, now: float | None = None) -> dict[str, Any]:
        # Tokens come from URLs, headers and socket.io auth objects: anything may arrive.
        if not isinstance(token, str) or not token.isascii() or len(token) > MAX_TOKEN_LENGTH:
            raise _malformed()
        try:
            # Unverified, only to tell "not this kind of token" from "forged"; the signature
            # below covers the header too.
            if jwt.get_unverified_header(token).get("typ") != kind:
                raise _malformed()
            payload: dict[str, Any] = jwt.decode(
                token,
                self._key(kind),
                algorithms=[_ALGORITHM],
                options={"require": ["exp"], "verify_exp": now is None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("expired", "链接已失效，请联系书记员 / link expired") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenError("bad_signature", "链接无效 / token signature invalid") from exc
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
            # ValueError and TypeError too: a library quirk on junk input must stay a refusal.
            raise _malformed() from exc
        exp = payload.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise _malformed()
        # PyJWT reads the clock itself; an explicit `now` (tests, retention jobs) is applied
        # here with the same rule (expired at `exp`).
        if now is not None and exp <= now:
            raise TokenError("expired", "链接已失效，请联系书记员 / link expired")
        return payload
