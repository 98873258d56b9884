"""Database engine, sessions and migrations (SQLite by default, PostgreSQL via asyncpg)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long an SQLite writer waits for the lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5000


def _sqlite_pragmas(dbapi_conn: object, _record: object, *, busy_timeout_ms: int) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # WAL lets readers proceed during writes; foreign keys are off by default in SQLite.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cur.close()


def is_transient(exc: BaseException) -> bool:
    """A failure the same transaction would not meet a moment later: SQLite's wait for its one
    writer lock ran out, or the connection to the database server dropped."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    text = str(exc.orig).lower()
    return "database is locked" in text or "database table is locked" in text


async def retry_transient(
    operation: Callable[[], Awaitable[T]],
    *,
    attempts: int = 5,
    first_delay_s: float = 0.1,
    what: str = "database write",
) -> T:
    """Run `operation` (a whole transaction), again after a growing pause when it fails for a
    transient reason; the last failure is raised."""
    delay = first_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return await operation()
        except Exception as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            log.warning("%s failed (%s), try %d of %d in %.1f s", what, exc.__class__.__name__,
                        attempt + 1, attempts, delay)
        await asyncio.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


class Database:
    def __init__(self, url: str, *, sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=not self.is_sqlite)
        if self.is_sqlite:
            event.listen(
                self.engine.sync_engine,
                "connect",
                partial(_sqlite_pragmas, busy_timeout_ms=sqlite_busy_timeout_ms),
            )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as s:
            try:
                yield s
                await s.commit()
            except BaseException:
                await s.rollback()
                raise

    async def migrate(self) -> None:
        """Bring the schema to the newest revision; safe to run on every start."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def close(self) -> None:
        await self.engine.dispose()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _upgrade(conn: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    # "heads": feature branches of the schema may be developed side by side before a merge.
    command.upgrade(cfg, "heads")
