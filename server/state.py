"""Objects shared by the whole application, reachable from every request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from server.config import Settings
from server.db import Database
from server.metrics import Metrics
from server.revocations import Revocations
from server.security.ratelimit import LoginLimiter
from server.security.tokens import TokenSigner


@dataclass
class AppState:
    settings: Settings
    db: Database
    signer: TokenSigner
    login_limiter: LoginLimiter
    metrics: Metrics
    revocations: Revocations = field(default_factory=Revocations)
    # Filled by the live-room layer when it is mounted (signaling/): room registry etc.
    extras: dict[str, Any] = field(default_factory=dict)


STATE_KEY: web.AppKey[AppState] = web.AppKey("shared_court_state", AppState)


def app_state(request: web.Request) -> AppState:
    return request.app[STATE_KEY]
