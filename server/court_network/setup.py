"""Mounts the court network on the app: its runtime objects and the webhook task. Its room
feature (sessions moving intakes) is `signaling/features/court_network.py`."""

from __future__ import annotations

import logging

from aiohttp import web

from server.court_network.apikeys import resolve_api_key
from server.court_network.service import (
    NETWORK_KEY,
    LogNotifier,
    NetworkRuntime,
)
from server.court_network.webhooks import WebhookDispatcher
from server.http.framework import API_KEY_RESOLVER
from server.state import AppState

log = logging.getLogger(__name__)


def setup_network(app: web.Application, state: AppState) -> NetworkRuntime:
    rt = NetworkRuntime(
        notifier=LogNotifier(),
        dispatcher=WebhookDispatcher(
            state.db, allow_private_targets=state.settings.webhook_allow_private_targets
        ),
    )
    state.attach(NETWORK_KEY, rt)
    state.attach(API_KEY_RESOLVER, resolve_api_key)

    async def start(app: web.Application) -> None:
        rt.dispatcher.start()  # resumes deliveries left pending by a previous run

    async def stop(app: web.Application) -> None:
        await rt.dispatcher.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return rt
