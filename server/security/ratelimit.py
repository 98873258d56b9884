"""Sliding-window failure counter for logins and lookups (per node; Redis-backed later)."""

from __future__ import annotations

import time
from collections import deque


class RateLimiter:
    def __init__(self, max_events: int, window_seconds: float) -> None:
        self.max_events = max_events
        self.window = window_seconds
        self._events: dict[str, deque[float]] = {}

    def _prune(self, key: str, now: float) -> deque[float]:
        q = self._events.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._events[key]
            q = self._events.setdefault(key, deque())
        return q

    def retry_after(self, key: str, now: float | None = None) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        now = time.monotonic() if now is None else now
        q = self._prune(key, now)
        if len(q) < self.max_events:
            return 0.0
        return max(0.0, q[0] + self.window - now)

    def hit(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._prune(key, now).append(now)

    def reset(self, key: str) -> None:
        self._events.pop(key, None)
