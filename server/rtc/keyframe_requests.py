"""Rate limiting of keyframe requests sent upstream to a publisher.

Every subscriber's PLI, every new subscriber and every queue overflow wants a keyframe; without a
limit a room full of subscribers would make the publisher send nothing but keyframes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class KeyframeRequestLimiter:
    """Sends at most one request per `min_interval_s`; a request inside the window is deferred
    to the window's end (never lost), and any further ones are folded into it."""

    def __init__(self, send: Callable[[], bool], min_interval_s: float = 0.5) -> None:
        self._send = send
        self._interval = min_interval_s
        self._last_sent: float | None = None
        self._deferred: asyncio.TimerHandle | None = None
        self._closed = False
        self.sent = 0
        self.requested = 0

    def request(self) -> None:
        """Ask for a keyframe; cheap, sync, safe to call from any FrameSink or RTCP handler."""
        if self._closed:
            return
        self.requested += 1
        if self._deferred is not None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._last_sent is None or now - self._last_sent >= self._interval:
            self._fire()
        else:
            self._deferred = loop.call_at(self._last_sent + self._interval, self._fire_deferred)

    def _fire_deferred(self) -> None:
        self._deferred = None
        if not self._closed:
            self._fire()

    def _fire(self) -> None:
        if self._send():
            self._last_sent = asyncio.get_running_loop().time()
            self.sent += 1

    def close(self) -> None:
        self._closed = True
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
