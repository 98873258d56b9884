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


async def record_committed(
    database: Database,
    *,
    actor: str,
    action: str,
    release: AsyncSession | None = None,
    **fields: Any,
) -> None:
    """Add an audit row in a transaction of its own, for refused requests whose request
    transaction is rolled back, and the row with it. Takes the same keyword fields as `record`.

    A caller inside a request passes its session as `release`: it is rolled back first, so its
    connection returns to the pool before this one takes another. A request holding one
    connection while waiting for a second deadlocks the pool once enough of them run at once.
    (Refused logins avoid this altogether: they return their refusal and commit the row in the
    request's own transaction, see server/court/routes/auth.py `refusal`.)"""
    if release is not None:
        await release.rollback()
    async with database.session() as s:
        record(s, actor=actor, action=action, **fields)
