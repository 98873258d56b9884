"""The court network's room feature: a session's start and its outcome move the case's intake
along (received → … → in mediation → settled / failed) and fire the court's webhooks. The
intake rules themselves live in `server/court_network/service.py`; this only connects them to
the room's moments."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from server.court_network.service import on_session_ended, on_session_started
from server.state import AppState
from signaling.feature import RoomFeature

if TYPE_CHECKING:
    from signaling.live_room import LiveRoom

log = logging.getLogger(__name__)


class CourtNetworkFeature(RoomFeature):
    """A session's start and outcome move its intake along (and fire the webhooks)."""

    name = "court_network"

    def __init__(self, state: AppState) -> None:
        self.state = state

    async def on_start(self, live: LiveRoom) -> None:
        try:
            await on_session_started(self.state, live.session_id)
        except Exception:
            log.exception("network: session start hook failed")

    async def on_end(self, live: LiveRoom, outcome: str, note: str) -> None:
        try:
            await on_session_ended(self.state, live.session_id, outcome, note)
        except Exception:
            log.exception("network: session end hook failed")
