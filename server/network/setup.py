"""Mounts the network feature on the app: runtime objects, webhook task, session hooks."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from server.network.service import (
    NETWORK_KEY,
    LogNotifier,
    NetworkRuntime,
    on_session_ended,
    on_session_started,
)
from server.network.webhooks import WebhookDispatcher
from server.state import AppState

log = logging.getLogger(__name__)


def setup_network(app: web.Application, state: AppState, signaling: Any) -> NetworkRuntime:
    rt = NetworkRuntime(
        notifier=LogNotifier(),
        dispatcher=WebhookDispatcher(
            state.db, allow_private_targets=state.settings.webhook_allow_private_targets
        ),
    )
    state.extras[NETWORK_KEY] = rt

    async def start(app: web.Application) -> None:
        rt.dispatcher.start()  # resumes deliveries left pending by a previous run

    async def stop(app: web.Application) -> None:
        await rt.dispatcher.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)

    async def started(live: Any) -> None:
        try:
            await on_session_started(state, live.session_id)
        except Exception:
            log.exception("network: session start hook failed")

    async def ended(live: Any, outcome: str, note: str) -> None:
        try:
            await on_session_ended(state, live.session_id, outcome, note)
        except Exception:
            log.exception("network: session end hook failed")

    if signaling is not None:
        signaling.start_hooks.append(started)
        signaling.end_hooks.append(ended)
    return rt
