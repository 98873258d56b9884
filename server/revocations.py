"""Join links revoked while in use (and staff logins ended): every node cuts off the sockets
that used them at once.

A revoked link is refused at the next connect or `join`, but a socket that is already open
would otherwise keep acting for its participant. The API announces each revocation here after
it has committed; the live-room layer subscribes and disconnects the link's sockets. With
`redis_url` the announcement goes through a Redis channel, so the node that holds the sockets
hears it even when another node served the revocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

log = logging.getLogger(__name__)

CHANNEL = "shared-court:invite-revoked"
Listener = Callable[[set[str]], Awaitable[None]]


class Revocations:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._redis: Redis | None = None
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def announce(self, invite_ids: list[str]) -> None:
        """Call after the revocation is committed (a reconnect must already be refused).
        Invite ids for links; "user:<id>" for every staff login of that account."""
        ids = sorted(set(invite_ids))
        if not ids:
            return
        if self._redis is not None:
            try:
                await self._redis.publish(CHANNEL, json.dumps(ids))
                return
            except Exception:
                # Redis is down: at least this node's sockets are cut off; the others are
                # refused at their next join (the revocation is in the database).
                log.exception("announcing revoked links through Redis failed")
        await self._dispatch(set(ids))

    async def _dispatch(self, ids: set[str]) -> None:
        for listener in list(self._listeners):
            try:
                await listener(ids)
            except Exception:
                log.exception("revocation listener failed")

    async def start(self, redis_url: str | None) -> None:
        if not redis_url or self._task is not None:
            return
        self._redis = Redis.from_url(redis_url)
        self._task = asyncio.ensure_future(self._listen(redis_url))

    async def _listen(self, redis_url: str) -> None:
        while True:
            client = Redis.from_url(redis_url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        try:
                            ids = {str(i) for i in json.loads(message["data"])}
                        except (ValueError, TypeError):
                            continue
                        await self._dispatch(ids)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("revocation channel lost; resubscribing", exc_info=True)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None
