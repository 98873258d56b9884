"""One live room as the signaling layer holds it: the room's rules and members (`Room`), its
media (`MediaRoom`), its lock, and each feature's typed state.

A room and everything in it are one unit (the boundary a media worker process will own); the
features see it through this class and `signaling.context.RoomContext`, never through the
socket.io service itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

from server.rtc.room import MediaRoom
from signaling.room import Room

FeatureState = TypeVar("FeatureState")


@dataclass(frozen=True)
class ServerGap:
    """The server was down from `start` to `end` while this room was live (服务器中断)."""

    start: datetime
    end: datetime
    clean: bool  # a SIGTERM shutdown (True) or a crash (False: start is the last heartbeat)

    def details(self) -> dict[str, Any]:
        return {
            "gap_start": self.start.isoformat(),
            "gap_end": self.end.isoformat(),
            "gap_seconds": round((self.end - self.start).total_seconds(), 1),
            "cause": "server_shutdown" if self.clean else "server_crash",
        }


@dataclass
class LiveRoom:
    room: Room
    media: MediaRoom
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    grace_tasks: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    # Set when the room was restored after a server restart.
    resumed_gap: ServerGap | None = None
    # Staff told about that restart (room_notice), so each is told once.
    gap_told: set[str] = field(default_factory=set)
    # A save of the durable state is scheduled (coalesces the saves of one burst of changes).
    save_pending: bool = False
    # Each feature's own typed state for this room (`state_of`), keyed by its class.
    feature_state: dict[type[Any], Any] = field(default_factory=dict)
    # Participant ids who switched their live captions off (`captions` event).
    captions_off: set[str] = field(default_factory=set)

    @property
    def session_id(self) -> str:
        return self.room.session_id

    def state_of(self, cls: type[FeatureState]) -> FeatureState:
        """This room's instance of a feature's state class (created empty on first use)."""
        found = self.feature_state.get(cls)
        if found is None:
            found = self.feature_state[cls] = cls()
        return cast(FeatureState, found)
