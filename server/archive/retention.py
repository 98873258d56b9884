"""Retention: recordings older than ``recording_retention_days`` are deleted for real.

The folder (every track, sidecar, event log, document, manifest and signature) is removed from
disk, composites made from the session are removed with their job rows, and the ``recordings``
row stays as a tombstone (status ``deleted``, ``deleted_at``) so the audit trail can still name
what existed. Each deletion is written to the audit log.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from server import audit
from server.background import cancel_and_wait
from server.config import Settings
from server.models import MediaJob, Recording, RecordingStatus
from server.state import AppState

from .jobs import PLAYABLE
from .schemas import RetentionItemOut

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 3600.0
FIRST_SWEEP_DELAY_S = 30.0


def expires_at(row: Recording, days: int) -> datetime:
    return (row.sealed_at or row.started_at) + timedelta(days=days)


def _remove_folder(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    if folder.exists():
        raise OSError(f"{folder} still exists after deletion")


async def sweep(
    state: AppState, *, now: datetime | None = None, apply: bool = True
) -> list[RetentionItemOut]:
    """Delete (or, with ``apply=False``, list) every expired recording. Safe to run anytime."""
    now = now or datetime.now(UTC)
    days = state.settings.recording_retention_days
    root = state.settings.effective_recordings_dir
    async with state.db.session() as db:
        candidates = list(
            await db.scalars(
                select(Recording).where(
                    Recording.status.in_(PLAYABLE),
                    Recording.started_at <= now - timedelta(days=days),
                )
            )
        )
    items: list[RetentionItemOut] = []
    for row in candidates:
        when = expires_at(row, days)
        if when > now:
            continue
        item = RetentionItemOut(recording_id=row.id, session_id=row.session_id,
                                folder=row.folder, expired_since=when,
                                size_bytes=row.size_bytes, deleted=False)
        items.append(item)
        if not apply:
            continue
        folder = root / row.folder
        if "/" in row.folder or row.folder in ("", ".", "..") or folder.parent != root:
            item.error = "unsafe folder name"
            continue
        try:
            await asyncio.to_thread(_remove_folder, folder)
        except OSError as exc:
            log.error("retention: could not delete %s: %s", folder, exc)
            item.error = str(exc)
            continue
        removed_exports: list[str] = []
        async with state.db.session() as db:
            fresh = await db.get(Recording, row.id)
            if fresh is None:
                continue
            fresh.status = RecordingStatus.deleted
            fresh.deleted_at = datetime.now(UTC)
            jobs = list(
                await db.scalars(select(MediaJob).where(MediaJob.session_id == row.session_id))
            )
            for job in jobs:
                if not job.kind.startswith("composite"):
                    continue
                if job.result_path:
                    target = state.settings.data_dir / job.result_path
                    await asyncio.to_thread(target.unlink, True)
                    removed_exports.append(job.result_path)
                await db.delete(job)
            audit.record(
                db,
                actor="system",
                action="recording.deleted",
                court_id=row.court_id,
                session_id=row.session_id,
                target=row.id,
                reason="retention",
                retention_days=days,
                folder=row.folder,
                size_bytes=row.size_bytes,
                manifest_sha256=row.manifest_sha256,
                sealed_at=row.sealed_at.isoformat() if row.sealed_at else None,
                exports_removed=removed_exports,
            )
        item.deleted = True
        log.info("retention: deleted recording %s (%s)", row.id, row.folder)
    if apply:
        await _purge_identity_data(state, days)
    return items


async def _purge_identity_data(state: AppState, days: int) -> None:
    """ID numbers and identity stills are personal data kept exactly as long as recordings."""
    from server.agreements.identity import purge_expired
    from server.models import MediationSession

    async with state.db.session() as db:
        purged = await purge_expired(state, db, days)
        for session_id in purged:
            session = await db.get(MediationSession, session_id)
            audit.record(db, actor="system", action="identity.purged",
                         court_id=session.court_id if session else None,
                         session_id=session_id, target=session_id, reason="retention",
                         retention_days=days)
    if purged:
        log.info("retention: purged identity data of %d sessions", len(purged))


class RetentionSweeper:
    def __init__(self, state: AppState, interval_s: float = SWEEP_INTERVAL_S,
                 first_delay_s: float = FIRST_SWEEP_DELAY_S) -> None:
        self.state = state
        self.interval_s = interval_s
        self.first_delay_s = first_delay_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="retention-sweeper")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        await asyncio.sleep(self.first_delay_s)
        while True:
            try:
                await sweep(self.state)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention sweep failed")
            await asyncio.sleep(self.interval_s)


async def run_cli(settings: Settings, *, apply: bool) -> list[RetentionItemOut]:
    """``shared-court retention``: one sweep against the configured database and folders."""
    from server.db import Database
    from server.metrics import Metrics
    from server.security.ratelimit import make_limiter
    from server.security.tokens import TokenSigner
    from server.state import AppState

    db = Database(settings.effective_database_url)
    try:
        await db.migrate()
        state = AppState(settings=settings, db=db, signer=TokenSigner(settings.ensure_secret()),
                         login_limiter=make_limiter(settings), metrics=Metrics())
        try:
            return await sweep(state, apply=apply)
        finally:
            await state.login_limiter.aclose()
    finally:
        await db.close()
