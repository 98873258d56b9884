"""Wires the retrieval feature into the app: the media job runner and the retention sweeper."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from server.state import STATE_KEY, AppState, StateKey

from .jobs import JobRunner
from .retention import RetentionSweeper

EXTRA_KEY: StateKey[Retrieval] = StateKey("retrieval")


@dataclass
class Retrieval:
    jobs: JobRunner
    sweeper: RetentionSweeper


def retrieval_of(state: AppState) -> Retrieval:
    return state.part(EXTRA_KEY)


def attach(app: web.Application) -> Retrieval:
    """Start the job runner and sweeper after the schema is migrated; stop them on shutdown."""
    state = app[STATE_KEY]
    service = Retrieval(JobRunner(state), RetentionSweeper(state))
    state.attach(EXTRA_KEY, service)

    async def on_startup(app: web.Application) -> None:
        await service.jobs.start()
        service.sweeper.start()

    async def on_shutdown(app: web.Application) -> None:
        await service.sweeper.stop()
        await service.jobs.stop()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return service
