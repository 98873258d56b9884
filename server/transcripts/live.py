"""How a clerk's correction reaches the live room without the routes importing it: the live
transcript feature (`signaling/features/transcription.py`, a layer above) attaches itself under
this key when the room is mounted; without a live room a correction is only stored."""

from __future__ import annotations

from typing import Any, Protocol

from server.state import StateKey


class LiveCorrections(Protocol):
    async def push_update(
        self, session_id: str, document: str, segment: dict[str, Any]
    ) -> None: ...


LIVE_CORRECTIONS: StateKey[LiveCorrections] = StateKey("transcript_corrections")
