"""Objects shared by the whole application, reachable from every request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from aiohttp import web

from server.config import Settings
from server.db import Database
from server.metrics import Metrics
from server.revocations import Revocations
from server.security.ratelimit import LoginLimiter
from server.security.tokens import TokenSigner

T = TypeVar("T")


class StateKey(Generic[T]):
    """A typed key for something a higher layer attaches to the app state (aiohttp's AppKey
    pattern): this bottom layer stores it without importing its type, and every reader gets
    it typed (``state.part(RECORDING)`` is a LiveRecording)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"StateKey({self.name!r})"


@dataclass
class AppState:
    settings: Settings
    db: Database
    signer: TokenSigner
    login_limiter: LoginLimiter
    metrics: Metrics
    revocations: Revocations = field(default_factory=Revocations)
    # What the layers above attach when they are mounted (the recording feature, the court
    # network's runtime …), each under a typed key of its own (see StateKey).
    parts: dict[StateKey[Any], Any] = field(default_factory=dict)

    def attach(self, key: StateKey[T], value: T) -> T:
        self.parts[key] = value
        return value

    def part(self, key: StateKey[T]) -> T:
        """The part attached under ``key``; LookupError if that layer is not mounted."""
        try:
            return cast(T, self.parts[key])
        except KeyError:
            raise LookupError(f"{key.name} is not mounted") from None

    def find(self, key: StateKey[T]) -> T | None:
        return cast("T | None", self.parts.get(key))


STATE_KEY: web.AppKey[AppState] = web.AppKey("shared_court_state", AppState)


def app_state(request: web.Request) -> AppState:
    return request.app[STATE_KEY]
