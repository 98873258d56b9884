"""Sliding-window failure counters for logins and lookups.

Two interchangeable implementations of `LoginLimiter`: `RateLimiter` keeps the windows in this
process (single node), `RedisRateLimiter` keeps them in Redis so every node of a scaled-out
deployment sees the same counts. `make_limiter` picks one from the settings.

Logins use `acquire`: the attempt is counted, atomically with the check, before the password is
evaluated, and `refund`ed when it succeeds. Checking first and counting the failure afterwards
let parallel attempts all pass the check before any of them was counted.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from server.config import Settings


@dataclass(frozen=True)
class Attempt:
    """The outcome of `acquire`: granted (and counted), or refused for `retry_after` seconds."""

    keys: tuple[str, ...]
    granted: bool
    retry_after: float = 0.0
    at: float = 0.0
    member: str = ""


class LoginLimiter(Protocol):
    max_events: int
    window: float

    async def acquire(self, keys: Sequence[str], now: float | None = None) -> Attempt:
        """Count one attempt against every key, in one atomic step with the check: unless one of
        them is already at its limit, then nothing is counted and the attempt is refused."""
        ...

    async def refund(self, attempt: Attempt) -> None:
        """Take back the count of a granted attempt that turned out not to be a failure."""
        ...

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

    def _wait(self, key: str, now: float) -> float:
        q = self._prune(key, now)
        if len(q) < self.max_events:
            return 0.0
        # The window frees up when enough of the oldest events have aged out.
        return max(0.0, q[len(q) - self.max_events] + self.window - now)

    async def retry_after(self, key: str, now: float | None = None) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        return self._wait(key, time.monotonic() if now is None else now)

    async def acquire(self, keys: Sequence[str], now: float | None = None) -> Attempt:
        now = time.monotonic() if now is None else now
        # No await between the check and the count: atomic within the event loop.
        wait = max((self._wait(k, now) for k in keys), default=0.0)
        if wait > 0:
            return Attempt(tuple(keys), False, wait)
        for k in keys:
            self._prune(k, now).append(now)
        return Attempt(tuple(keys), True, 0.0, now)

    async def refund(self, attempt: Attempt) -> None:
        if not attempt.granted:
            return
        for k in attempt.keys:
            q = self._events.get(k)
            # Gone already when it aged out or the key was reset meanwhile; any event of the
            # same time is as good as this attempt's own.
            if q is not None and attempt.at in q:
                q.remove(attempt.at)

    async def hit(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._prune(key, now).append(now)

    async def reset(self, key: str) -> None:
        self._events.pop(key, None)

    async def aclose(self) -> None:
        return None


# KEYS: the counters; ARGV: now, window, max_events, member, expiry (ms). Returns the wait in
# seconds as a string ("0": granted and counted on every key). A script runs atomically in
# Redis, so attempts from every node are checked and counted one at a time.
_ACQUIRE = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local wait = 0
for _, key in ipairs(KEYS) do
  redis.call('zremrangebyscore', key, '-inf', now - window)
  local n = redis.call('zcard', key)
  if n >= limit then
    local oldest = redis.call('zrange', key, n - limit, n - limit, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now)
  end
end
if wait > 0 then
  return tostring(wait)
end
for _, key in ipairs(KEYS) do
  redis.call('zadd', key, now, ARGV[4])
  redis.call('pexpire', key, ARGV[5])
end
return '0'
"""


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
        self._acquire = redis.register_script(_ACQUIRE)

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

    async def acquire(self, keys: Sequence[str], now: float | None = None) -> Attempt:
        now = time.time() if now is None else now
        member = f"{now:.6f}:{uuid.uuid4().hex}"
        expiry_ms = int(self.window * 1000) + 1000
        args = [repr(now), repr(self.window), self.max_events, member, expiry_ms]
        wait = float(await self._acquire(keys=[self._key(k) for k in keys], args=args))
        if wait > 0:
            return Attempt(tuple(keys), False, wait)
        return Attempt(tuple(keys), True, 0.0, now, member)

    async def refund(self, attempt: Attempt) -> None:
        if not attempt.granted:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            for k in attempt.keys:
                pipe.zrem(self._key(k), attempt.member)
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
