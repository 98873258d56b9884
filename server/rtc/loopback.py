"""In-process signaling between `MediaClient`s and a `MediaRoom` (tests, benchmarks, probes).

It plays the part the socket.io layer plays in production: relays the client's offer, and on
`negotiation_needed` fetches the server's offer, has the client answer it, and hands the answer
back. It is also a compact reference for what the socket.io handlers must do.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiortc import RTCSessionDescription

from .client import MediaClient
from .room import MediaRoom, MediaRoomObserver

logger = logging.getLogger(__name__)


class LoopbackSignaling(MediaRoomObserver):
    """Connects clients to `room` by direct calls; one renegotiation at a time per client."""

    def __init__(self, room: MediaRoom) -> None:
        self.room = room
        self.clients: dict[str, MediaClient] = {}
        self.renegotiations = 0
        self.errors: list[BaseException] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        room.add_observer(self)

    async def connect(self, participant_id: str, **client_options: Any) -> MediaClient:
        """Add a server peer and a client for `participant_id`, and complete the first offer."""
        await self.room.add_peer(participant_id)

        async def send_offer(offer: RTCSessionDescription) -> RTCSessionDescription:
            answer = await self.room.handle_offer(participant_id, offer.sdp, offer.type)
            return RTCSessionDescription(sdp=answer, type="answer")

        client = MediaClient(participant_id, send_offer, **client_options)
        self.clients[participant_id] = client
        async with self._lock_of(participant_id):
            await client.connect()
        return client

    async def disconnect(self, participant_id: str) -> None:
        client = self.clients.pop(participant_id, None)
        await self.room.remove_peer(participant_id)
        if client is not None:
            await client.close()

    async def settle(self, timeout_s: float = 10.0) -> None:
        """Wait until no renegotiation is in flight."""
        async with asyncio.timeout(timeout_s):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
                await asyncio.sleep(0)

    async def close(self) -> None:
        for pid in list(self.clients):
            await self.disconnect(pid)

    # MediaRoomObserver
    def negotiation_needed(self, room: MediaRoom, participant_id: str) -> None:
        task = asyncio.ensure_future(self._renegotiate(participant_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _renegotiate(self, participant_id: str) -> None:
        client = self.clients.get(participant_id)
        if client is None:
            return
        async with self._lock_of(participant_id):
            try:
                if not self.room.peer(participant_id).wants_offer:
                    return
                offer = await self.room.create_offer(participant_id)
                answer = await client.handle_remote_offer(
                    RTCSessionDescription(sdp=offer, type="offer")
                )
                await self.room.handle_answer(participant_id, answer.sdp, answer.type)
                self.renegotiations += 1
            except Exception as exc:
                logger.exception("renegotiation of %s failed", participant_id)
                self.errors.append(exc)

    def _lock_of(self, participant_id: str) -> asyncio.Lock:
        return self._locks.setdefault(participant_id, asyncio.Lock())
