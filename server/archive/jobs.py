"""Background media jobs (composite MP4) with progress stored in ``media_jobs``.

One worker task takes queued jobs in order (the machine has few cores; ffmpeg may use two); the
heavy work runs in an ffmpeg child process. Jobs cut off by a shutdown or a crash are queued
again at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from server import audit
from server.background import cancel_and_wait
from server.models import JobStatus, MediaJob, Recording, RecordingStatus
from server.state import AppState

from .composite import CompositeError, build_plan, render
from .manifest_view import read_manifest

log = logging.getLogger(__name__)

COMPOSITE = "composite"
COMPOSITE_WITH_CAUCUS = "composite+caucus"
EXPORTS_DIR = "exports"
PLAYABLE = (RecordingStatus.sealed, RecordingStatus.interrupted)


def exports_dir(state: AppState) -> Path:
    return state.settings.data_dir / EXPORTS_DIR


def result_file(state: AppState, job: MediaJob) -> Path | None:
    if job.status != JobStatus.done or not job.result_path:
        return None
    path = state.settings.data_dir / job.result_path
    return path if path.is_file() else None


class JobRunner:
    def __init__(self, state: AppState, progress_interval_s: float = 0.5) -> None:
        self.state = state
        self.progress_interval_s = progress_interval_s
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        async with self.state.db.session() as db:
            pending = list(
                await db.scalars(
                    select(MediaJob)
                    .where(MediaJob.status.in_([JobStatus.queued, JobStatus.running]))
                    .order_by(MediaJob.created_at)
                )
            )
            for job in pending:
                job.status = JobStatus.queued
                job.progress = 0.0
        for job in pending:
            self._queue.put_nowait(job.id)
        self._task = asyncio.create_task(self._worker(), name="media-jobs")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def submit(self, job_id: str) -> None:
        self._queue.put_nowait(job_id)

    async def _worker(self) -> None:
        while True:
            job_id = await self._queue.get()
            try:
                await self.run(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("media job %s crashed", job_id)

    async def _finish(self, job_id: str, **values: Any) -> None:
        async with self.state.db.session() as db:
            job = await db.get(MediaJob, job_id)
            if job is None:
                return
            for k, v in values.items():
                setattr(job, k, v)
            if job.status in (JobStatus.done, JobStatus.failed):
                job.finished_at = datetime.now(UTC)
                audit.record(
                    db, actor="system", action=f"recording.{job.kind.split('+')[0]}.{job.status}",
                    court_id=job.court_id, session_id=job.session_id, target=job.id,
                    error=job.error[:500],
                )

    async def run(self, job_id: str) -> None:
        """Run one queued job to its end (also callable directly, e.g. from a test)."""
        async with self.state.db.session() as db:
            job = await db.get(MediaJob, job_id)
            if job is None or job.status != JobStatus.queued:
                return
            job.status = JobStatus.running
            job.progress = 0.0
            kind, session_id = job.kind, job.session_id
            rows = list(
                await db.scalars(
                    select(Recording)
                    .where(Recording.session_id == session_id, Recording.status.in_(PLAYABLE))
                    .order_by(Recording.started_at)
                )
            )
        root = self.state.settings.effective_recordings_dir
        last = 0.0

        async def progress(value: float) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < self.progress_interval_s:
                return
            last = now
            async with self.state.db.session() as db:
                row = await db.get(MediaJob, job_id)
                if row is not None:
                    row.progress = round(value, 3)

        def plan_it() -> Any:
            folders = []
            for row in rows:
                manifest = read_manifest(root / row.folder)
                if manifest is not None:
                    folders.append((root / row.folder, manifest))
            return build_plan(folders, include_caucus=kind == COMPOSITE_WITH_CAUCUS)

        output = exports_dir(self.state) / f"{job_id}.mp4"
        try:
            plan = await asyncio.to_thread(plan_it)
            await render(plan, output, progress)
        except CompositeError as exc:
            await self._finish(job_id, status=JobStatus.failed, error=str(exc))
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("composite job %s failed", job_id)
            await self._finish(job_id, status=JobStatus.failed, error=f"{type(exc).__name__}: {exc}")
            return
        await self._finish(
            job_id, status=JobStatus.done, progress=1.0,
            result_path=f"{EXPORTS_DIR}/{output.name}",
        )
