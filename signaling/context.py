"""What a room feature may do to the live room: the public face of the signaling service.

Features (recording, transcription, identity check, agreement, court network) take a
`RoomContext`, not the socket.io service: they can tell clients something, broadcast a room's
state, make the media match the room, log an event, run a task, and look a room up, and
nothing else. `SignalingService` is one; a media worker process will be another.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

from signaling.live_room import LiveRoom


class RoomContext(Protocol):
    @property
    def rooms(self) -> Mapping[str, LiveRoom]:
        """The live rooms, by session id."""

    async def emit(self, event: str, data: Any, sid: str | None) -> None:
        """Send one event to one client socket (nothing when `sid` is None)."""

    async def broadcast_state(self, live: LiveRoom) -> None:
        """Send every member the room as they may see it (and save the room)."""

    async def sync_media(self, live: LiveRoom) -> None:
        """Make the forwarder match the room: who receives whom."""

    async def log_event(self, live: LiveRoom, action: str, actor: str, **details: Any) -> None:
        """Write the event to the audit log, then let every feature react to it."""

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run `coro` as a task the service owns (its failure is logged)."""
