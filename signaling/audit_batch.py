"""Audit rows of room events, written in group commits.

A busy room writes an audit row per event; one transaction per row makes rooms queue behind
each other on the database (SQLite has one writer) and, under a flood, fail with "database is
locked". Here every caller still waits until its own row is committed (so the record has an
event before the room sees it), but rows that arrive while a commit is in flight go together
in the next one. A commit that meets a transient failure (SQLite's lock wait ran out under a
flood, a dropped database connection) is tried again before any caller sees an error.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from server import audit
from server.db import Database, retry_transient

MAX_BATCH = 500


class AuditBatch:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def write(self, **fields: Any) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((fields, fut))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())
        await fut

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                await retry_transient(partial(self._commit, batch), what="audit batch")
            except Exception as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
            else:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)

    async def _commit(self, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        async with self.db.session() as db:
            for fields, _ in batch:
                audit.record(db, **fields)
