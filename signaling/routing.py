"""Which node owns a live room.

A room's media and state live in one server process. With one node (the embedded default) that
is always this process. With several nodes behind a load balancer, Redis holds a lease per room
(`SET NX PX`, renewed while the room lives, released when it closes), so two nodes never both
own a room; a node that dies loses its leases when they expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Protocol

from redis.asyncio import Redis

log = logging.getLogger(__name__)

KEY = "shared-court:room-owner:{}"

# Extend/delete only while we still hold the lease (compare-and-set in one round trip).
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RoomRouter(Protocol):
    node: str

    async def claim(self, room_id: str) -> str:
        """Claim the room for this node; returns the owner (this node or another one)."""

    async def release(self, room_id: str) -> None:
        """Give the room up (it closed)."""

    async def close(self) -> None: ...


class LocalRouter:
    """One node: every room is ours."""

    def __init__(self, node: str = "local") -> None:
        self.node = node

    async def claim(self, room_id: str) -> str:
        return self.node

    async def release(self, room_id: str) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisRouter:
    def __init__(self, url: str, node: str | None = None, lease_seconds: float = 15.0) -> None:
        # The node name is what other nodes report to clients; a URL makes redirects possible.
        self.node = node or f"node-{uuid.uuid4().hex[:12]}"
        self.lease_ms = int(lease_seconds * 1000)
        self.redis: Redis = Redis.from_url(url, decode_responses=True)
        self._owned: set[str] = set()
        self._renewer: asyncio.Task[None] | None = None

    async def claim(self, room_id: str) -> str:
        key = KEY.format(room_id)
        if await self.redis.set(key, self.node, nx=True, px=self.lease_ms):
            self._owned.add(room_id)
            self._ensure_renewer()
            return self.node
        owner = await self.redis.get(key)
        if owner == self.node:
            self._owned.add(room_id)
            await self.redis.eval(_RENEW, 1, key, self.node, self.lease_ms)  # type: ignore[misc]
            return self.node
        if owner is None:  # expired between the two calls: try once more
            return await self.claim(room_id)
        return str(owner)

    async def release(self, room_id: str) -> None:
        self._owned.discard(room_id)
        await self.redis.eval(_RELEASE, 1, KEY.format(room_id), self.node)  # type: ignore[misc]

    def _ensure_renewer(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.ensure_future(self._renew_loop())

    async def _renew_loop(self) -> None:
        while self._owned:
            await asyncio.sleep(self.lease_ms / 3000)
            for room_id in list(self._owned):
                try:
                    ok = await self.redis.eval(  # type: ignore[misc]
                        _RENEW, 1, KEY.format(room_id), self.node, self.lease_ms
                    )
                except Exception:
                    log.exception("renewing the lease of room %s failed", room_id)
                    continue
                if not ok:
                    log.error("lost the lease of room %s to another node", room_id)
                    self._owned.discard(room_id)

    async def close(self) -> None:
        for room_id in list(self._owned):
            with contextlib.suppress(Exception):
                await self.release(room_id)
        if self._renewer is not None:
            self._renewer.cancel()
        await self.redis.aclose()
