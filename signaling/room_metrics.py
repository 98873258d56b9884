"""What /metrics says of the live rooms: rooms, connected participants, tracks, forwarded bytes.

`RoomMetrics` reads the rooms this node holds and sets the gauges; the orchestration
(`signaling.service`) tells it when they may have changed, and runs `sample` as a background
task for the forwarded bytes and bitrate. Apart from the rest because counting is no part of a
room's rules and needs no socket and no database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from server.metrics import Metrics
from signaling.live_room import LiveRoom


class RoomMetrics:
    def __init__(self, metrics: Metrics, rooms: Mapping[str, LiveRoom]) -> None:
        self.metrics = metrics
        # The live rooms this node holds (the orchestration's own mapping).
        self.rooms = rooms

    def count_rooms(self) -> None:
        self.metrics.rooms.set(len(self.rooms))

    def count_participants(self) -> None:
        connected = sum(
            1 for lr in self.rooms.values() for m in lr.room.members.values() if m.sid is not None
        )
        self.metrics.participants.set(connected)

    def count_tracks(self) -> None:
        self.metrics.tracks.set(
            sum(len(lr.media.published_tracks()) for lr in self.rooms.values())
        )

    async def sample(self, interval: float = 5.0) -> None:
        """Forwarded bytes and bitrate for /metrics: each published track's new payload bytes
        times the number of peers currently allowed to receive it."""
        last: dict[str, int] = {}
        while True:
            await asyncio.sleep(interval)
            forwarded = 0
            seen: dict[str, int] = {}
            for live in list(self.rooms.values()):
                peers = live.media.participant_ids
                for track in live.media.published_tracks():
                    seen[track.id] = track.stats.bytes
                    delta = track.stats.bytes - last.get(track.id, 0)
                    receivers = sum(
                        1 for pid in peers if live.media.may_receive(pid, track.publisher_id)
                    )
                    forwarded += max(0, delta) * receivers
            last = seen
            self.metrics.forwarded_bytes.inc(forwarded)
            self.metrics.bitrate.set(forwarded * 8 / interval)
