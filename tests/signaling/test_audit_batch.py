"""Room-event audit rows survive SQLite's writer lock being held longer than its wait.

Found by bench/fuzz_signaling.py and bench/soak.py: under a flood a chat failed with
"database is locked" and a room-state save was lost. A transient failure is now tried again
before anyone sees an error."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy import func, select

from server.db import Database
from server.models import AuditEvent
from signaling.audit_batch import AuditBatch


async def _database(tmp_path: Path) -> tuple[Database, Path]:
    path = tmp_path / "court.db"
    # A short lock wait, so the test need not hold the lock for the default five seconds.
    db = Database(f"sqlite+aiosqlite:///{path}", sqlite_busy_timeout_ms=100)
    await db.migrate()
    return db, path


async def test_a_row_written_while_another_writer_holds_the_lock_is_committed(
    tmp_path: Path,
) -> None:
    db, path = await _database(tmp_path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer, for longer than the lock wait
        loop = asyncio.get_running_loop()
        loop.call_later(0.6, other.execute, "COMMIT")
        await AuditBatch(db).write(actor="system", action="chat", session_id="s1", text="您好")
        async with db.session() as s:
            assert await s.scalar(select(func.count()).select_from(AuditEvent)) == 1
    finally:
        other.close()
        await db.close()


async def test_a_lock_that_is_never_released_still_fails_in_the_end(tmp_path: Path) -> None:
    db, path = await _database(tmp_path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        try:
            await AuditBatch(db).write(actor="system", action="chat", session_id="s1")
        except Exception as exc:
            assert "locked" in str(exc)
        else:
            raise AssertionError("a write under a lock held for good must fail")
    finally:
        other.execute("ROLLBACK")
        other.close()
        await db.close()
