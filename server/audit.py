"""The append-only audit log: who did what, when, from where."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.db import Database
from server.models import AuditEvent


def record(
    db: AsyncSession,
    *,
    actor: str,
    action: str,
    court_id: str | None = None,
    target: str = "",
    session_id: str | None = None,
    ip: str = "",
    **details: Any,
) -> AuditEvent:
    """Add an audit row to the caller's transaction, so it commits (or not) with the change."""
    event = AuditEvent(
        actor=actor,
        action=action,
        court_id=court_id,
        target=target,
        session_id=session_id,
        ip=ip,
        details=details,
    )
    db.add(event)
    return event


async def record_committed(database: Database, *, actor: str, action: str, **fields: Any) -> None:
    """Add an audit row in a transaction of its own, for refused requests (failed or throttled
    logins): their request transaction is rolled back, and the row with it. Takes the same
    keyword fields as `record`."""
    async with database.session() as s:
        record(s, actor=actor, action=action, **fields)
