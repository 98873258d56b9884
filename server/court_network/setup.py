"""Mounts the court network on the app: runtime objects, webhook task, its room feature."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from server.court_network.service import (
    NETWORK_KEY,
    LogNotifier,
    NetworkRuntime,
    on_session_ended,
    on_session_started,
)
from server.court_network.webhooks import WebhookDispatcher
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


def setup_network(app: web.Application, state: AppState, signaling: Any) -> NetworkRuntime:
    rt = NetworkRuntime(
        notifier=LogNotifier(),
        dispatcher=WebhookDispatcher(
            state.db, allow_private_targets=state.settings.webhook_allow_private_targets
        ),
    )
    state.attach(NETWORK_KEY, rt)

    async def start(app: web.Application) -> None:
        rt.dispatcher.start()  # resumes deliveries left pending by a previous run

    async def stop(app: web.Application) -> None:
        await rt.dispatcher.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)

    if signaling is not None:
        signaling.add_feature(CourtNetworkFeature(state))
    return rt
