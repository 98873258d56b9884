"""Sliding-window failure counters for logins and lookups.

Two interchangeable implementations of `LoginLimiter`: `RateLimiter` keeps the windows in this
process (single node), `RedisRateLimiter` keeps them in Redis so every node of a scaled-out
deployment sees the same counts. `make_limiter` picks one from the settings.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from server.config import Settings


class LoginLimiter(Protocol):
    max_events: int
    window: float

    async def retry_after(self, key: str, now: float | None = None) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        ...

    async def hit(self, key: str, now: float | None = None) -> None:
        """Count one failure for `key`."""
        ...

    async def reset(self, key: str) -> None:
        """Forget the failures of `key` (after a success)."""
        ...

    async def aclose(self) -> None:
        """Release connections, if any."""
        ...


class RateLimiter:
    """In-process sliding window (per node)."""

    def __init__(self, max_events: int, window_seconds: float) -> None:
        self.max_events = max_events
        self.window = float(window_seconds)
        self._events: dict[str, deque[float]] = {}

    def _prune(self, key: str, now: float) -> deque[float]:
        q = self._events.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._events[key]
            q = self._events.setdefault(key, deque())
        return q

    async def retry_after(self, key: str, now: float | None = None) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        now = time.monotonic() if now is None else now
        q = self._prune(key, now)
        if len(q) < self.max_events:
            return 0.0
        # The window frees up when enough of the oldest events have aged out.
        return max(0.0, q[len(q) - self.max_events] + self.window - now)

    async def hit(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._prune(key, now).append(now)

    async def reset(self, key: str) -> None:
        self._events.pop(key, None)

    async def aclose(self) -> None:
        return None


class RedisRateLimiter:
    """Sliding window kept in Redis sorted sets (score = event time), shared by all nodes.

    Uses wall-clock time (nodes' clocks are assumed NTP-synchronised); each key expires on its
    own once its window has passed, so nothing needs cleaning up.
    """

    def __init__(
        self,
        redis: Any,
        max_events: int,
        window_seconds: float,
        prefix: str = "shared-court:ratelimit:",
    ) -> None:
        self.redis = redis
        self.max_events = max_events
        self.window = float(window_seconds)
        self.prefix = prefix

    @classmethod
    def from_url(
        cls, url: str, max_events: int, window_seconds: float, **kw: Any
    ) -> RedisRateLimiter:
        import redis.asyncio as aioredis

        return cls(aioredis.from_url(url), max_events, window_seconds, **kw)

    def _key(self, key: str) -> str:
        return self.prefix + key

    async def retry_after(self, key: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        k = self._key(key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(k, "-inf", now - self.window)
            pipe.zrange(k, 0, -1, withscores=True)
            _, events = await pipe.execute()
        if len(events) < self.max_events:
            return 0.0
        scores = sorted(float(score) for _, score in events)
        return max(0.0, scores[len(scores) - self.max_events] + self.window - now)

    async def hit(self, key: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        k = self._key(key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(k, {f"{now:.6f}:{uuid.uuid4().hex}": now})
            pipe.zremrangebyscore(k, "-inf", now - self.window)
            pipe.expire(k, max(1, int(self.window) + 1))
            await pipe.execute()

    async def reset(self, key: str) -> None:
        await self.redis.delete(self._key(key))

    async def aclose(self) -> None:
        await self.redis.aclose()


def make_limiter(settings: Settings) -> LoginLimiter:
    """Redis-backed when `redis_url` is set (scale-out), else in-process."""
    if settings.redis_url:
        return RedisRateLimiter.from_url(
            settings.redis_url, settings.login_max_failures, settings.login_window_seconds
        )
    return RateLimiter(settings.login_max_failures, settings.login_window_seconds)
