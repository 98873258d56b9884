"""Sliding-window failure counters for logins and lookups.

Two interchangeable implementations of `LoginLimiter`: `RateLimiter` keeps the windows in this
process (single node), `RedisRateLimiter` keeps them in Redis so every node of a scaled-out
deployment sees the same counts. `make_limiter` picks one from the settings.

Logins use `acquire`: the attempt is counted, atomically with the check, before the password is
evaluated, and `refund`ed when it succeeds. Checking first and counting the failure afterwards
let parallel attempts all pass the check before any of them was counted. A key may carry its own
limit (`limits`): the progress lookup gives a village terminal a larger budget than an address.

Besides the windows, each limiter keeps back-offs (`strike`): a growing wait after repeated
failures of one key, which the caller applies as it sees fit. The progress lookup strikes a case
number for each wrong phone and refuses further wrong phones for it while it backs off, yet
still answers the right phone (docs/network.md).
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


@dataclass(frozen=True)
class Backoff:
    """A back-off's growth: the first `free` failures cost no wait, the next waits `base`
    seconds, each further one twice as long, up to `cap`. A key's failures are forgotten once it
    has seen none for `cap` seconds (its back-off has ended by then)."""

    free: int = 3
    base: float = 5.0
    cap: float = 900.0

    def delay(self, failures: int) -> float:
        if failures <= self.free:
            return 0.0
        return min(self.cap, self.base * 2.0 ** min(failures - self.free - 1, 64))


@dataclass(frozen=True)
class Strike:
    """The outcome of `strike`: the wait that was in force when the failure came (`before`; 0:
    none) and the one in force after it (`after`)."""

    before: float
    after: float


class LoginLimiter(Protocol):
    max_events: int
    window: float
    backoff: Backoff

    async def acquire(
        self, keys: Sequence[str], now: float | None = None, limits: Sequence[int] | None = None
    ) -> Attempt:
        """Count one attempt against every key, in one atomic step with the check: unless one of
        them is already at its limit, then nothing is counted and the attempt is refused.
        `limits[i]` is the limit of `keys[i]` (default: `max_events` for each)."""
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

    async def strike(self, key: str, now: float | None = None) -> Strike:
        """Count one failure in `key`'s back-off (atomically): its wait grows per `backoff`."""
        ...

    async def backoff_wait(self, key: str, now: float | None = None) -> float:
        """Seconds left of `key`'s back-off; 0 when it is not backing off."""
        ...

    async def aclose(self) -> None:
        """Release connections, if any."""
        ...


def _limits(keys: Sequence[str], limits: Sequence[int] | None, default: int) -> list[int]:
    if limits is None:
        return [default] * len(keys)
    if len(limits) != len(keys):
        raise ValueError("one limit per key")
    return [int(n) for n in limits]


class RateLimiter:
    """In-process sliding window (per node)."""

    def __init__(
        self, max_events: int, window_seconds: float, backoff: Backoff | None = None
    ) -> None:
        self.max_events = max_events
        self.window = float(window_seconds)
        self.backoff = backoff or Backoff()
        self._events: dict[str, deque[float]] = {}
        # key -> (failures, time of the last, end of the back-off)
        self._strikes: dict[str, tuple[int, float, float]] = {}
        self._strikes_since_sweep = 0

    def _prune(self, key: str, now: float) -> deque[float]:
        q = self._events.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._events[key]
            q = self._events.setdefault(key, deque())
        return q

    def _wait(self, key: str, now: float, limit: int | None = None) -> float:
        limit = self.max_events if limit is None else limit
        q = self._prune(key, now)
        if len(q) < limit:
            return 0.0
        # The window frees up when enough of the oldest events have aged out.
        return max(0.0, q[len(q) - limit] + self.window - now)

    async def retry_after(self, key: str, now: float | None = None) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        return self._wait(key, time.monotonic() if now is None else now)

    async def acquire(
        self, keys: Sequence[str], now: float | None = None, limits: Sequence[int] | None = None
    ) -> Attempt:
        now = time.monotonic() if now is None else now
        per_key = _limits(keys, limits, self.max_events)
        # No await between the check and the count: atomic within the event loop.
        wait = max((self._wait(k, now, n) for k, n in zip(keys, per_key, strict=True)),
                   default=0.0)
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
        self._strikes.pop(key, None)

    def _current(self, key: str, now: float) -> tuple[int, float, float]:
        failures, last, until = self._strikes.get(key, (0, now, now))
        if now - last > self.backoff.cap and now >= until:
            return 0, now, now
        return failures, last, until

    async def strike(self, key: str, now: float | None = None) -> Strike:
        now = time.monotonic() if now is None else now
        failures, _, until = self._current(key, now)
        before = max(0.0, until - now)
        failures += 1
        until = max(until, now + self.backoff.delay(failures))
        self._strikes[key] = (failures, now, until)
        self._sweep(now)
        return Strike(before, max(0.0, until - now))

    def _sweep(self, now: float) -> None:
        # Forgotten keys would otherwise stay: one per number ever guessed.
        self._strikes_since_sweep += 1
        if self._strikes_since_sweep < 1024:
            return
        self._strikes_since_sweep = 0
        for key in [k for k in self._strikes if self._current(k, now)[0] == 0]:
            del self._strikes[key]

    async def backoff_wait(self, key: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        return max(0.0, self._current(key, now)[2] - now)

    async def aclose(self) -> None:
        return None


# KEYS: the counters; ARGV: now, window, max_events, member, expiry (ms), then optionally one
# limit per key (in KEYS' order; max_events where absent). Returns the wait in seconds as a
# string ("0": granted and counted on every key). A script runs atomically in Redis, so attempts
# from every node are checked and counted one at a time.
_ACQUIRE = """
local now, window, default = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local wait = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[5 + i]) or default
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

# KEYS[1]: a back-off (hash: failures, last, until); ARGV: now, free, base, cap. Returns the
# waits before and after this failure, as strings. Atomic like _ACQUIRE.
_STRIKE = """
local now, free = tonumber(ARGV[1]), tonumber(ARGV[2])
local base, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local h = redis.call('hmget', KEYS[1], 'failures', 'last', 'until')
local failures, last, untl = tonumber(h[1]) or 0, tonumber(h[2]) or now, tonumber(h[3]) or now
if now - last > cap and now >= untl then
  failures, untl = 0, now
end
local before = math.max(0, untl - now)
failures = failures + 1
if failures > free then
  untl = math.max(untl, now + math.min(cap, base * 2 ^ math.min(failures - free - 1, 64)))
end
redis.call('hset', KEYS[1], 'failures', failures, 'last', tostring(now), 'until', tostring(untl))
redis.call('pexpire', KEYS[1], math.ceil(cap * 2000) + 1000)
return {tostring(before), tostring(math.max(0, untl - now))}
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
        backoff: Backoff | None = None,
    ) -> None:
        self.redis = redis
        self.max_events = max_events
        self.window = float(window_seconds)
        self.prefix = prefix
        self.backoff = backoff or Backoff()
        self._acquire = redis.register_script(_ACQUIRE)
        self._strike = redis.register_script(_STRIKE)

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

    async def acquire(
        self, keys: Sequence[str], now: float | None = None, limits: Sequence[int] | None = None
    ) -> Attempt:
        now = time.time() if now is None else now
        member = f"{now:.6f}:{uuid.uuid4().hex}"
        expiry_ms = int(self.window * 1000) + 1000
        args: list[Any] = [repr(now), repr(self.window), self.max_events, member, expiry_ms]
        if limits is not None:
            args += _limits(keys, limits, self.max_events)
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
        await self.redis.delete(self._key(key), self._backoff_key(key))

    def _backoff_key(self, key: str) -> str:
        return self.prefix + "backoff:" + key

    async def strike(self, key: str, now: float | None = None) -> Strike:
        now = time.time() if now is None else now
        b = self.backoff
        args = [repr(now), b.free, repr(float(b.base)), repr(float(b.cap))]
        before, after = await self._strike(keys=[self._backoff_key(key)], args=args)
        return Strike(float(before), float(after))

    async def backoff_wait(self, key: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        until = await self.redis.hget(self._backoff_key(key), "until")
        if until is None:
            return 0.0
        return max(0.0, float(until) - now)

    async def aclose(self) -> None:
        await self.redis.aclose()


def make_limiter(settings: Settings) -> LoginLimiter:
    """Redis-backed when `redis_url` is set (scale-out), else in-process."""
    backoff = Backoff(
        free=settings.lookup_number_free_failures,
        base=settings.lookup_number_backoff_seconds,
        cap=settings.lookup_number_backoff_max_seconds,
    )
    if settings.redis_url:
        return RedisRateLimiter.from_url(
            settings.redis_url,
            settings.login_max_failures,
            settings.login_window_seconds,
            backoff=backoff,
        )
    return RateLimiter(settings.login_max_failures, settings.login_window_seconds, backoff)
