"""API keys for external systems: `sk_<prefix>_<secret>`, scoped, revocable, SHA-256 at rest.

The secret has 192 bits of entropy, so a fast hash is enough (a slow password hash would only
cost CPU on every request); the prefix finds the row and is not secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from sqlalchemy import select

from server.court_network.models import ApiKey
from server.http.errors import ApiError, unauthorized
from server.http.framework import Ctx
from server.security.principals import API_KEY_PREFIX, ApiKeyPrincipal

SCOPES = {
    "intakes:read": "list and read intakes, their transitions and attachments' metadata",
    "intakes:write": "create intakes",
    "stats:read": "governance statistics and their exports",
    "mediators:read": "mediators and shared courts",
    "import:write": "CSV import of cases and mediators",
}


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(6)
    return prefix, f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"


async def resolve_api_key(ctx: Ctx, token: str, scope: str) -> ApiKeyPrincipal:
    prefix = token[len(API_KEY_PREFIX) :].split("_", 1)[0]
    key = await ctx.db.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or not hmac.compare_digest(key.key_hash, hash_key(token)):
        raise unauthorized("API 密钥无效 / invalid API key", code="bad_api_key")
    if key.revoked_at is not None:
        raise unauthorized("API 密钥已吊销 / API key revoked", code="api_key_revoked")
    if scope not in key.scopes:
        raise ApiError(403, "insufficient_scope", f"API 密钥缺少权限 / key lacks scope {scope}")
    key.last_used_at = datetime.now(UTC)
    return ApiKeyPrincipal(key.id, key.court_id, frozenset(key.scopes))
