"""Client events per participant: a token bucket, so a flood is refused, not queued.

Every client event costs the server work (validation, room locks, database and sealed-log
writes, fan-out). A participant may send a burst (a reconnect replays several at once), then a
sustained rate; beyond it the event is refused at once with ``rate_limited`` and does nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class EventThrottle:
    def __init__(self, burst: int, per_second: float, clock: object = time.monotonic) -> None:
        self.burst = burst
        self.per_second = per_second
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, key: str) -> bool:
        now: float = self._clock()  # type: ignore[operator]
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(
                float(self.burst), bucket.tokens + (now - bucket.at) * self.per_second
            )
            bucket.at = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def forget(self, key: str) -> None:
        self._buckets.pop(key, None)
