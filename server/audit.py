"""The append-only audit log: who did what, when, from where."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

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
