"""The live rooms' state that survives a restart, in `live_room_states`.

`RoomStore` reads a room's saved row when the room is created again after a restart, saves the
room as it is after a change, stamps every live room this node holds (alive while it runs,
stopped at a clean shutdown: after a crash the last beat is where the gap began) and forgets a
room that closed. What is saved is `signaling.room_state`'s pure dump; when to save, and what a
restored seat means for the room (its reconnect grace, its recording), is the orchestration's
(`signaling.service`).

A store of its own because it is the one part of the live room that touches the database for
the room's own sake, and it knows no socket: a media worker process holding the room later
keeps it as it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db import Database, retry_transient
from server.models import LiveRoomState
from signaling.live_room import LiveRoom, ServerGap
from signaling.room import STAFF_KINDS, Member, Presence
from signaling.room_state import dump_room, restore_room, was_recording

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
# A saved room whose node has not stamped it for this long is not live anywhere (its node died):
# nobody can be waiting in it.
STALE_AFTER = timedelta(seconds=4 * HEARTBEAT_SECONDS)


class Restored(NamedTuple):
    seated: list[Member]  # the seats kept, each waiting for its member to reconnect
    resume: bool  # recording was on: it must resume


class RoomStore:
    def __init__(self, db: Database, rooms: Mapping[str, LiveRoom]) -> None:
        self.db = db
        # The live rooms this node holds (the orchestration's own mapping).
        self.rooms = rooms

    async def restore(self, live: LiveRoom, up_since: datetime) -> Restored | None:
        """Load the room's saved state after a restart (None when there is none to load)."""
        try:
            async with self.db.session() as db:
                row = await db.get(LiveRoomState, live.session_id)
                if row is None:
                    return None
                saved, alive_at, stopped_at = dict(row.state), row.alive_at, row.stopped_at
        except Exception:
            log.exception("room %s: saved state unreadable; starting empty", live.session_id)
            return None
        now = time.time()
        seated = restore_room(live.room, saved, now)
        live.resumed_gap = ServerGap(
            start=stopped_at or alive_at,
            end=max(up_since, stopped_at or alive_at),
            clean=stopped_at is not None,
        )
        log.warning(
            "room %s restored after a server gap of %.1f s: %d seats kept",
            live.session_id,
            (live.resumed_gap.end - live.resumed_gap.start).total_seconds(),
            len(seated),
        )
        return Restored(seated, was_recording(saved))

    async def save(self, live: LiveRoom) -> None:
        """Save the room as it is once this burst of changes has landed (see `save_pending`)."""
        await asyncio.sleep(0)  # let the rest of this burst of changes land first
        live.save_pending = False
        if live.room.ended:
            return

        async def write() -> None:
            # The room as it is now: a retry after a pause saves the newest state.
            if live.room.ended:
                return
            state = dump_room(live.room)
            async with self.db.session() as db:
                row = await db.get(LiveRoomState, live.session_id)
                now = datetime.now(UTC)
                if row is None:
                    db.add(LiveRoomState(
                        session_id=live.session_id, state=state, saved_at=now, alive_at=now
                    ))
                else:
                    row.state = state
                    row.saved_at = row.alive_at = now
                    row.stopped_at = None

        try:
            await retry_transient(write, what=f"room {live.session_id}: saving its state")
        except Exception:
            # The room goes on; its next change saves again.
            log.exception("room %s: saving its state failed", live.session_id)

    async def heartbeat(self, interval: float = HEARTBEAT_SECONDS) -> None:
        """Mark the live rooms alive: after a crash, the last beat is where the gap began."""
        while True:
            await asyncio.sleep(interval)
            await self.stamp_live_rooms("heartbeat", alive_at=datetime.now(UTC))

    async def mark_stopped(self) -> None:
        now = datetime.now(UTC)
        await self.stamp_live_rooms("shutdown time", stopped_at=now, alive_at=now)

    async def stamp_live_rooms(self, what: str, **values: datetime) -> None:
        """Set times on the saved state of every live room this node holds."""
        ids = [sid for sid, lr in self.rooms.items() if not lr.room.ended]
        if not ids:
            return
        try:
            async with self.db.session() as db:
                await db.execute(
                    update(LiveRoomState).where(LiveRoomState.session_id.in_(ids)).values(**values)
                )
        except Exception:
            log.warning("room %s not saved", what, exc_info=True)

    async def forget(self, session_id: str) -> None:
        try:
            async with self.db.session() as db:
                await db.execute(delete(LiveRoomState).where(LiveRoomState.session_id == session_id))
        except Exception:
            log.warning("saved room state of %s not removed", session_id, exc_info=True)


async def waiting_counts(db: AsyncSession, session_ids: Iterable[str]) -> dict[str, int]:
    """How many people wait in each live room's lobby now, for the console's session list.

    Read from the saved states rather than this process's rooms, so any node answers for rooms
    held by any other: every lobby change is saved, and a room whose node stopped or went silent
    counts nobody (its sockets are gone)."""
    ids = list(session_ids)
    if not ids:
        return {}
    fresh = datetime.now(UTC) - STALE_AFTER
    rows = await db.execute(
        select(LiveRoomState.session_id, LiveRoomState.state).where(
            LiveRoomState.session_id.in_(ids),
            LiveRoomState.stopped_at.is_(None),
            LiveRoomState.alive_at >= fresh,
        )
    )
    counts: dict[str, int] = {}
    for session_id, state in rows:
        members = (state or {}).get("members") or []
        counts[session_id] = sum(
            1
            for m in members
            if m.get("presence") == Presence.lobby.value and m.get("kind") not in STAFF_KINDS
        )
    return counts
