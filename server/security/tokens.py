"""Signed, expiring tokens for join links and terminal sessions.

Format: ``<kind>.<base64url(json payload)>.<base64url(HMAC-SHA256)>``. The signature makes a
token unforgeable; expiry is inside the payload; revocation is checked against the database by
the caller (the payload carries the invite id), so a leaked link can be withdrawn.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any


class TokenError(Exception):
    """The token is malformed, forged or expired. `reason` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class TokenSigner:
    secret: bytes

    def _sig(self, kind: str, body: str) -> str:
        key = hashlib.sha256(b"shared-court/" + kind.encode() + b"/" + self.secret).digest()
        return _b64(hmac.new(key, f"{kind}.{body}".encode(), hashlib.sha256).digest())

    def sign(self, kind: str, payload: dict[str, Any], expires_at: float) -> str:
        body = _b64(json.dumps({**payload, "exp": int(expires_at)}, separators=(",", ":")).encode())
        return f"{kind}.{body}.{self._sig(kind, body)}"

    def verify(self, kind: str, token: str, now: float | None = None) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != kind or len(token) > 2048:
            raise TokenError("malformed", "链接格式无效 / malformed token")
        _, body, sig = parts
        if not hmac.compare_digest(sig, self._sig(kind, body)):
            raise TokenError("bad_signature", "链接无效 / token signature invalid")
        try:
            payload = json.loads(_unb64(body))
        except ValueError as exc:
            raise TokenError("malformed", "链接格式无效 / malformed token") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
            raise TokenError("malformed", "链接格式无效 / malformed token")
        if payload["exp"] < (time.time() if now is None else now):
            raise TokenError("expired", "链接已失效，请联系书记员 / link expired")
        return payload
