"""Composite MP4 jobs (progress, grid, mixed audio) and retention (real deletion, audited)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
from sqlalchemy import select

from server.archive.composite import CELL_H, CELL_W
from server.archive.retention import sweep
from server.models import AuditEvent, MediaJob, Recording, RecordingStatus
from server.state import STATE_KEY
from tests.api.world import ok_json
from tests.archive.recorded import make_recording
from tests.conftest import Harness, StaffClient


async def wait_job(c: StaffClient, job_id: str, timeout_s: float = 120) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        job = await ok_json(await c.get(f"/api/recordings/jobs/{job_id}"))
        seen.append(job)
        if job["status"] in ("done", "failed"):
            return seen
        assert asyncio.get_running_loop().time() < deadline, seen[-1]
        await asyncio.sleep(0.2)


async def test_composite_job_makes_a_grid_with_mixed_audio(
    harness: Harness, tmp_path: Path
) -> None:
    rec = await make_recording(harness, seconds=4.0)
    clerk = await harness.login("clerk_a")
    job = await ok_json(
        await clerk.post(f"/api/recordings/sessions/{rec.session_id}/composite", json={}), 202
    )
    assert job["status"] == "queued" and job["progress"] == 0
    resp = await clerk.post(f"/api/recordings/jobs/{job['id']}/link")
    assert resp.status in (409, 200)  # not ready yet (unless the machine is very fast)
    seen = await wait_job(clerk, job["id"])
    final = seen[-1]
    assert final["status"] == "done", final["error"]
    assert final["progress"] == 1.0 and final["ready"] and final["finished_at"]
    progress = [j["progress"] for j in seen]
    assert progress == sorted(progress)
    listed = await ok_json(await clerk.get(f"/api/recordings/sessions/{rec.session_id}/jobs"))
    assert [j["id"] for j in listed] == [job["id"]]

    link = await ok_json(await clerk.post(f"/api/recordings/jobs/{job['id']}/link"))
    anon = await harness.anon()
    resp = await anon.get(link["url"], headers={"Range": "bytes=0-9"})
    assert resp.status == 206 and resp.headers["Content-Type"] == "video/mp4"
    resp = await anon.get(link["url"])
    assert resp.status == 200
    out = tmp_path / "composite.mp4"
    out.write_bytes(await resp.read())
    with av.open(str(out)) as container:
        videos, audios = container.streams.video, container.streams.audio
        assert len(videos) == 1 and len(audios) == 1
        assert (videos[0].codec_context.width, videos[0].codec_context.height) == (
            2 * CELL_W, CELL_H)
        frames = sum(1 for _ in container.decode(video=0))
        # 4 s of each participant, the second starting 1 s later: ~5 s on the timeline.
        assert frames >= 4.5 * 15 * 0.9
    with av.open(str(out)) as container:
        samples = sum(f.samples for f in container.decode(audio=0))
        assert samples / 48000 > 4.5
    async with harness.app[STATE_KEY].db.session() as s:
        actions = set(await s.scalars(select(AuditEvent.action)))
    assert {"recording.composite.request", "recording.composite.done",
            "recording.composite.download"} <= actions


async def test_retention_deletes_for_real_and_audits(harness: Harness, tmp_path: Path) -> None:
    state = harness.app[STATE_KEY]
    old = await make_recording(harness, seconds=1.0)
    young = await make_recording(harness, seconds=1.0)
    clerk = await harness.login("clerk_a")
    job = await ok_json(
        await clerk.post(f"/api/recordings/sessions/{old.session_id}/composite", json={}), 202
    )
    assert (await wait_job(clerk, job["id"]))[-1]["status"] == "done"
    export = state.settings.data_dir / "exports" / f"{job['id']}.mp4"
    assert export.is_file()
    link = await ok_json(await clerk.post(f"/api/recordings/{old.recording_id}/links",
                                          json={"files": ["manifest.json"]}))
    async with state.db.session() as s:
        row = await s.get(Recording, old.recording_id)
        assert row is not None and row.sealed_at is not None
        row.sealed_at = datetime.now(UTC) - timedelta(days=40)
        row.started_at = row.sealed_at - timedelta(hours=1)
    state.settings.recording_retention_days = 30

    # The CLI's dry run lists it and deletes nothing.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "retention", "--dry-run",
        "--data-dir", str(state.settings.data_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"SHARED_COURT_RECORDING_RETENTION_DAYS": "30", "PATH": "/usr/bin:/bin"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert old.recording_id.encode() in out and young.recording_id.encode() not in out
    assert old.folder.is_dir()

    items = await sweep(state)
    assert [(i.recording_id, i.deleted) for i in items] == [(old.recording_id, True)]
    assert not old.folder.exists() and not export.exists()
    assert young.folder.is_dir()
    async with state.db.session() as s:
        row = await s.get(Recording, old.recording_id)
        assert row is not None and row.status == RecordingStatus.deleted and row.deleted_at
        assert await s.scalar(select(MediaJob).where(MediaJob.id == job["id"])) is None
        (event,) = await s.scalars(
            select(AuditEvent).where(AuditEvent.action == "recording.deleted")
        )
    assert event.target == old.recording_id and event.actor == "system"
    assert event.details["reason"] == "retention" and event.details["retention_days"] == 30
    # Nothing of it is left to play or download.
    assert not any(old.folder.name in str(p) for p in
                   state.settings.effective_recordings_dir.rglob("*"))
    detail = await ok_json(await clerk.get(f"/api/recordings/{old.recording_id}"))
    assert detail["status"] == "deleted" and not detail["available"]
    anon = await harness.anon()
    assert (await anon.get(link[0]["url"])).status == 410
    resp = await clerk.post(f"/api/recordings/{old.recording_id}/links", json={})
    assert resp.status == 410
    listed = await ok_json(await clerk.get("/api/recordings"))
    assert old.session_id not in {s["session_id"] for s in listed}
    listed = await ok_json(await clerk.get("/api/recordings", params={"include_deleted": "true"}))
    assert old.session_id in {s["session_id"] for s in listed}
    # A second sweep finds nothing more.
    assert await sweep(state) == []
