"""Clerk retrieval of recordings: search, detail (manifest summary on one session timeline),
verification, short-lived stream/download links, archive and composite-MP4 jobs.

Who: judges and clerks of the court; a mediator for the sessions of their own cases (never
caucus tracks). Admins are refused (403); parties and terminals have no staff session (401);
other courts' ids are not found (404). Every view, link, stream, download and verification is
written to the audit log.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import or_, select

from recording import verify_folder
from server import audit
from server.archive.access import (
    READERS,
    ctx_for_user,
    load_visible_recording,
    load_visible_session,
    may_see_caucus,
    reader,
    sessions_visible_to,
)
from server.archive.archive import stream_zip
from server.archive.jobs import COMPOSITE, COMPOSITE_WITH_CAUCUS, PLAYABLE, result_file
from server.archive.links import Link, sign_link, url_of, verify_link
from server.archive.manifest_view import (
    SEAL_NAMES,
    content_type,
    file_entries,
    read_manifest,
    summarize,
    track_bounds,
)
from server.archive.retention import expires_at
from server.archive.schemas import (
    ArchiveLinkIn,
    CompositeIn,
    JobOut,
    LinkIn,
    LinkOut,
    PartyBrief,
    RecordedSessionOut,
    RecordingDetailOut,
    RecordingRowOut,
    RecordingSearch,
    SessionRecordingsOut,
    VerifyOut,
)
from server.archive.service import retrieval_of
from server.http.errors import ApiError, bad_request, conflict, forbidden, not_found
from server.http.framework import Api, Ctx
from server.models import (
    Case,
    JobStatus,
    MediaJob,
    MediationSession,
    ParticipantKind,
    Party,
    Recording,
    RecordingStatus,
    SessionParticipant,
    User,
)
from server.security.tokens import TokenError
from server.server_key import server_key
from server.zones import zone_of

api = Api()
TAG = "recordings"


# --- helpers ------------------------------------------------------------------------------
def _folder(ctx: Ctx, row: Recording) -> Path:
    return ctx.state.settings.effective_recordings_dir / row.folder


def _row_out(ctx: Ctx, row: Recording) -> RecordingRowOut:
    out = RecordingRowOut.model_validate(row)
    if row.status in PLAYABLE:
        out.expires_at = expires_at(row, ctx.state.settings.recording_retention_days)
    return out


def _audit(
    ctx: Ctx, action: str, session_id: str | None, target: str, **details: Any
) -> None:
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action=action,
        court_id=ctx.staff.court_id,
        target=target,
        session_id=session_id,
        ip=ctx.ip,
        **details,
    )


async def _session_out(
    ctx: Ctx, session: MediationSession, rows: list[Recording]
) -> RecordedSessionOut:
    case = await ctx.db.get(Case, session.case_id)
    assert case is not None
    return RecordedSessionOut(
        session_id=session.id,
        case_id=case.id,
        case_number=case.case_number,
        case_title=case.title,
        scheduled_at=session.scheduled_at,
        started_at=session.started_at,
        ended_at=session.ended_at,
        status=session.status,
        outcome=session.outcome,
        outcome_note=session.outcome_note,
        mediator_id=session.mediator_id,
        parties=[PartyBrief(name=p.name, role=p.role.value) for p in case.parties],
        recordings=[_row_out(ctx, r) for r in rows],
    )


async def _session_rows(ctx: Ctx, session_id: str) -> list[Recording]:
    return list(
        await ctx.db.scalars(
            select(Recording)
            .where(Recording.session_id == session_id)
            .order_by(Recording.started_at)
        )
    )


async def _manifests(ctx: Ctx, rows: list[Recording]) -> dict[str, dict[str, Any]]:
    def read() -> dict[str, dict[str, Any]]:
        out = {}
        for row in rows:
            if row.status in PLAYABLE:
                manifest = read_manifest(_folder(ctx, row))
                if manifest is not None:
                    out[row.id] = manifest
        return out

    return await asyncio.to_thread(read)


async def _timeline(
    ctx: Ctx, session: MediationSession
) -> tuple[list[Recording], dict[str, dict[str, Any]], float | None, float]:
    """The session's recordings, their manifests, and the origin/duration of its timeline."""
    rows = await _session_rows(ctx, session.id)
    manifests = await _manifests(ctx, rows)
    show_caucus = may_see_caucus(ctx.staff)
    bounds = [b for m in manifests.values() if (b := track_bounds(m, show_caucus))]
    starts = [b[0] for b in bounds]
    if session.started_at is not None:
        starts.append(session.started_at.timestamp())
    origin = min(starts) if starts else None
    end = max((b[1] for b in bounds), default=origin or 0.0)
    return rows, manifests, origin, max(0.0, end - (origin or end))


def _detail(
    ctx: Ctx, row: Recording, manifest: dict[str, Any] | None, origin: float | None
) -> RecordingDetailOut:
    base = _row_out(ctx, row).model_dump()
    summary = None
    if manifest is not None and origin is not None:
        summary = summarize(manifest, origin, show_caucus=may_see_caucus(ctx.staff))
    return RecordingDetailOut(**base, available=summary is not None, manifest=summary)


def _job_out(ctx: Ctx, job: MediaJob) -> JobOut:
    out = JobOut.model_validate(job)
    out.ready = result_file(ctx.state, job) is not None
    return out


async def _load_job(ctx: Ctx, job_id: str) -> MediaJob:
    job = await ctx.db.get(MediaJob, job_id)
    if job is None or not job.kind.startswith(COMPOSITE):
        raise not_found("job")
    await load_visible_session(ctx, job.session_id)
    if job.kind == COMPOSITE_WITH_CAUCUS and not may_see_caucus(ctx.staff):
        raise not_found("job")
    return job


def _playable(row: Recording) -> None:
    if row.status == RecordingStatus.deleted:
        raise ApiError(410, "recording_deleted", "录像已按保存期限删除 / recording deleted "
                       "(retention period over)")
    if row.status not in PLAYABLE:
        raise conflict("录像尚未密封 / recording not sealed yet")


def _link_out(ctx: Ctx, token: str, link: Link, name: str, ctype: str) -> LinkOut:
    return LinkOut(file=name, url=url_of(token), content_type=ctype, expires_at=link.expires_dt)


# --- search and detail --------------------------------------------------------------------
@api.route(
    "GET",
    "/api/recordings",
    summary="Search recorded sessions (case number, party name, local date range, outcome)",
    tag=TAG,
    roles=READERS,
    query=RecordingSearch,
    response=list[RecordedSessionOut],
)
async def search_recordings(ctx: Ctx, query: RecordingSearch) -> list[RecordedSessionOut]:
    recorded = select(Recording.session_id)
    if not query.include_deleted:
        recorded = recorded.where(Recording.status != RecordingStatus.deleted)
    stmt = sessions_visible_to(ctx).where(MediationSession.id.in_(recorded))
    if query.case_number:
        cases = select(Case.id).where(Case.case_number.contains(query.case_number, autoescape=True))
        stmt = stmt.where(MediationSession.case_id.in_(cases))
    if query.party_name:
        by_party = select(Party.case_id).where(
            Party.name.contains(query.party_name, autoescape=True)
        )
        by_participant = select(SessionParticipant.session_id).where(
            SessionParticipant.kind == ParticipantKind.party,
            SessionParticipant.display_name.contains(query.party_name, autoescape=True),
        )
        stmt = stmt.where(
            or_(MediationSession.case_id.in_(by_party), MediationSession.id.in_(by_participant))
        )
    # Dates are calendar days of the searcher's court.
    zone = await zone_of(ctx.db, ctx.staff.court_id)
    if query.date_from:
        start = datetime.strptime(query.date_from, "%Y-%m-%d").replace(tzinfo=zone)
        stmt = stmt.where(MediationSession.scheduled_at >= start.astimezone(UTC))
    if query.date_to:
        end = datetime.strptime(query.date_to, "%Y-%m-%d").replace(tzinfo=zone)
        after = (end + timedelta(days=1)).astimezone(UTC)
        stmt = stmt.where(MediationSession.scheduled_at < after)
    if query.outcome:
        stmt = stmt.where(MediationSession.outcome == query.outcome)
    stmt = stmt.order_by(MediationSession.scheduled_at.desc()).limit(query.limit)
    sessions = list(await ctx.db.scalars(stmt.offset(query.offset)))
    rows: dict[str, list[Recording]] = {s.id: [] for s in sessions}
    if sessions:
        rec_stmt = select(Recording).where(Recording.session_id.in_(list(rows)))
        if not query.include_deleted:
            rec_stmt = rec_stmt.where(Recording.status != RecordingStatus.deleted)
        for r in await ctx.db.scalars(rec_stmt.order_by(Recording.started_at)):
            rows[r.session_id].append(r)
    _audit(ctx, "recording.search", None, "", filters=query.model_dump(mode="json",
                                                                       exclude_defaults=True),
           results=len(sessions))
    return [await _session_out(ctx, s, rows[s.id]) for s in sessions]


@api.route(
    "GET",
    "/api/recordings/sessions/{session_id}",
    summary="A session's recordings with manifest summaries on one timeline (for the player)",
    tag=TAG,
    roles=READERS,
    response=SessionRecordingsOut,
)
async def session_recordings(ctx: Ctx) -> SessionRecordingsOut:
    session = await load_visible_session(ctx, ctx.match("session_id"))
    rows, manifests, origin, duration = await _timeline(ctx, session)
    if not rows:
        raise not_found("recording")
    _audit(ctx, "recording.view", session.id, session.id, recordings=[r.id for r in rows])
    return SessionRecordingsOut(
        session=await _session_out(ctx, session, rows),
        origin_utc=None if origin is None else datetime.fromtimestamp(origin, UTC).isoformat(),
        duration_s=round(duration, 3),
        recordings=[_detail(ctx, r, manifests.get(r.id), origin) for r in rows],
    )


@api.route(
    "GET",
    "/api/recordings/{recording_id}",
    summary="One recording: manifest summary (participants, tracks with offsets, gaps, caucus, "
    "interruption, documents)",
    tag=TAG,
    roles=READERS,
    response=RecordingDetailOut,
)
async def recording_detail(ctx: Ctx) -> RecordingDetailOut:
    row, session = await load_visible_recording(ctx, ctx.match("recording_id"))
    _, manifests, origin, _ = await _timeline(ctx, session)
    _audit(ctx, "recording.view", session.id, row.id)
    return _detail(ctx, row, manifests.get(row.id), origin)


@api.route(
    "POST",
    "/api/recordings/{recording_id}/verify",
    summary="Verify a sealed recording: signature (server key), every file's hash, event-log chain",
    tag=TAG,
    roles=READERS,
    response=VerifyOut,
)
async def verify_recording(ctx: Ctx) -> VerifyOut:
    row, session = await load_visible_recording(ctx, ctx.match("recording_id"))
    _playable(row)
    key = server_key(ctx.state).public_key
    report = await asyncio.to_thread(verify_folder, _folder(ctx, row), key)
    _audit(ctx, "recording.verify", session.id, row.id, ok=report.ok,
           problems=[p.code for p in report.problems if p.severity == "error"][:50])
    data = report.to_json()
    return VerifyOut(recording_id=row.id, **{k: data[k] for k in (
        "ok", "files_checked", "event_log_entries", "signer_fingerprint", "signer_trusted",
        "interrupted", "problems")})


# --- links --------------------------------------------------------------------------------
@api.route(
    "POST",
    "/api/recordings/{recording_id}/links",
    summary="Short-lived (10 min) signed links to stream or download files of a recording",
    tag=TAG,
    roles=READERS,
    body=LinkIn,
    response=list[LinkOut],
)
async def file_links(ctx: Ctx, body: LinkIn) -> list[LinkOut]:
    row, session = await load_visible_recording(ctx, ctx.match("recording_id"))
    _playable(row)
    manifest = await asyncio.to_thread(read_manifest, _folder(ctx, row))
    if manifest is None:
        raise conflict("录像清单不可读 / the recording's manifest cannot be read")
    entries = file_entries(manifest)
    show_caucus = may_see_caucus(ctx.staff)
    if body.files is None:
        names = [n for n, e in entries.items()
                 if (e.kind == "track" and (show_caucus or not e.caucus)) or n in SEAL_NAMES]
    else:
        names = list(dict.fromkeys(body.files))
        unknown = [n for n in names if n not in entries]
        if unknown:
            raise bad_request("文件不属于该录像 / not files of this recording: "
                              + ", ".join(unknown[:10]), code="unknown_files")
        if not show_caucus and any(entries[n].caucus for n in names):
            raise forbidden("单独会谈录像仅限法官和书记员 / caucus recordings: judges and clerks only")
    out = []
    for name in names:
        token, link = sign_link(ctx.state.signer, user_id=ctx.staff.id, target="file",
                                recording_id=row.id, file=name,
                                attachment=body.disposition == "attachment")
        out.append(_link_out(ctx, token, link, name, content_type(name, entries[name].media)))
    _audit(ctx, "recording.link", session.id, row.id, files=names[:100],
           disposition=body.disposition)
    return out


@api.route(
    "POST",
    "/api/recordings/{recording_id}/archive-link",
    summary="Signed link to download the recording as one ZIP (tracks, event log, manifest, "
    "signature, public key)",
    tag=TAG,
    roles=READERS,
    body=ArchiveLinkIn,
    response=LinkOut,
)
async def archive_link(ctx: Ctx, body: ArchiveLinkIn) -> LinkOut:
    row, session = await load_visible_recording(ctx, ctx.match("recording_id"))
    _playable(row)
    token, link = sign_link(ctx.state.signer, user_id=ctx.staff.id, target="archive",
                            recording_id=row.id, attachment=True)
    _audit(ctx, "recording.link", session.id, row.id, archive=True)
    return _link_out(ctx, token, link, f"{row.folder}.zip", "application/zip")


# --- composite jobs -----------------------------------------------------------------------
@api.route(
    "POST",
    "/api/recordings/sessions/{session_id}/composite",
    summary="Start a composite MP4 (participant grid, mixed audio) as a background job",
    tag=TAG,
    roles=READERS,
    body=CompositeIn,
    response=JobOut,
    status=202,
)
async def start_composite(ctx: Ctx, body: CompositeIn) -> JobOut:
    session = await load_visible_session(ctx, ctx.match("session_id"))
    if body.include_caucus and not may_see_caucus(ctx.staff):
        raise forbidden("单独会谈录像仅限法官和书记员 / caucus recordings: judges and clerks only")
    playable = await ctx.db.scalar(
        select(Recording.id).where(
            Recording.session_id == session.id, Recording.status.in_(PLAYABLE)
        ).limit(1)
    )
    if playable is None:
        raise conflict("该会话没有已密封的录像 / the session has no sealed recording")
    job = MediaJob(
        session_id=session.id,
        court_id=session.court_id,
        kind=COMPOSITE_WITH_CAUCUS if body.include_caucus else COMPOSITE,
        created_by=ctx.actor,
    )
    ctx.db.add(job)
    await ctx.db.flush()
    _audit(ctx, "recording.composite.request", session.id, job.id,
           include_caucus=body.include_caucus)
    await ctx.db.commit()  # the worker reads the row from its own transaction
    retrieval_of(ctx.state).jobs.submit(job.id)
    return _job_out(ctx, job)


@api.route(
    "GET",
    "/api/recordings/sessions/{session_id}/jobs",
    summary="Composite jobs of a session, newest first",
    tag=TAG,
    roles=READERS,
    response=list[JobOut],
)
async def session_jobs(ctx: Ctx) -> list[JobOut]:
    session = await load_visible_session(ctx, ctx.match("session_id"))
    stmt = select(MediaJob).where(
        MediaJob.session_id == session.id, MediaJob.kind.startswith(COMPOSITE)
    )
    if not may_see_caucus(ctx.staff):
        stmt = stmt.where(MediaJob.kind == COMPOSITE)
    jobs = await ctx.db.scalars(stmt.order_by(MediaJob.created_at.desc()))
    return [_job_out(ctx, j) for j in jobs]


@api.route(
    "GET",
    "/api/recordings/jobs/{job_id}",
    summary="A composite job's status and progress (0..1)",
    tag=TAG,
    roles=READERS,
    response=JobOut,
)
async def job_status(ctx: Ctx) -> JobOut:
    return _job_out(ctx, await _load_job(ctx, ctx.match("job_id")))


@api.route(
    "POST",
    "/api/recordings/jobs/{job_id}/link",
    summary="Signed link to download a finished composite MP4",
    tag=TAG,
    roles=READERS,
    response=LinkOut,
)
async def job_link(ctx: Ctx) -> LinkOut:
    job = await _load_job(ctx, ctx.match("job_id"))
    if job.status != JobStatus.done:
        raise conflict("合成尚未完成 / the composite is not ready")
    if result_file(ctx.state, job) is None:
        raise ApiError(410, "result_gone", "合成文件已删除 / the composite file is gone")
    token, link = sign_link(ctx.state.signer, user_id=ctx.staff.id, target="composite",
                            job_id=job.id, attachment=True)
    _audit(ctx, "recording.link", job.session_id, job.id, composite=True)
    return _link_out(ctx, token, link, f"{job.session_id}.mp4", "video/mp4")


# --- the download endpoint (the signed link is the credential) -----------------------------
_FIRST_BYTES = re.compile(r"^\s*bytes\s*=\s*0\s*-")


def _disposition(attachment: bool, filename: str) -> str:
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "download"
    kind = "attachment" if attachment else "inline"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def _link_error(exc: TokenError) -> ApiError:
    if exc.reason == "expired":
        return ApiError(403, "link_expired", "下载链接已过期，请重新打开 / link expired")
    return ApiError(403, "link_invalid", "下载链接无效 / invalid link")


@api.route(
    "GET",
    "/api/recordings/download/{token}",
    summary="Stream or download through a signed link (HTTP Range supported for files)",
    tag=TAG,
    auth="public",
    raw_response="application/octet-stream",
)
async def download(ctx: Ctx, token: str) -> web.StreamResponse:
    try:
        link = verify_link(ctx.state.signer, token)
    except TokenError as exc:
        raise _link_error(exc) from exc
    user: User | None = await reader(ctx.db, link.user_id)
    if user is None:
        raise ApiError(403, "link_revoked", "下载链接已失效 / link no longer valid")
    uctx = ctx_for_user(ctx, user)
    first = _FIRST_BYTES.match(ctx.request.headers.get("Range", "bytes=0-")) is not None
    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}

    if link.target == "composite":
        job = await _load_job(uctx, link.job_id)
        path = result_file(ctx.state, job)
        if path is None:
            raise ApiError(410, "result_gone", "合成文件已删除 / the composite file is gone")
        if first:
            _audit(uctx, "recording.composite.download", job.session_id, job.id)
        headers["Content-Type"] = "video/mp4"
        headers["Content-Disposition"] = _disposition(True, f"{job.session_id}.mp4")
        return web.FileResponse(path, headers=headers)

    row, session = await load_visible_recording(uctx, link.recording_id)
    _playable(row)
    folder = _folder(ctx, row)
    manifest = await asyncio.to_thread(read_manifest, folder)
    if manifest is None:
        raise ApiError(410, "recording_gone", "录像文件不可读 / recording files unavailable")
    entries = file_entries(manifest)
    show_caucus = may_see_caucus(user)

    if link.target == "archive":
        members = [n for n, e in entries.items()
                   if n not in SEAL_NAMES and (show_caucus or not e.caucus)]
        omitted = [n for n, e in entries.items() if e.caucus and not show_caucus]
        _audit(uctx, "recording.download", session.id, row.id, archive=True,
               files=len(members) + len(SEAL_NAMES), omitted=omitted[:100])
        await ctx.db.commit()  # audited before the first byte leaves
        response = web.StreamResponse(headers={
            **headers,
            "Content-Type": "application/zip",
            "Content-Disposition": _disposition(True, f"{row.folder}.zip"),
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
        })
        pem: bytes = server_key(ctx.state).public_pem()
        return await stream_zip(ctx.request, response, folder, [*members, *SEAL_NAMES], pem,
                                omitted)

    entry = entries.get(link.file)
    if entry is None:
        raise not_found("file")
    if entry.caucus and not show_caucus:
        raise forbidden("单独会谈录像仅限法官和书记员 / caucus recordings: judges and clerks only")
    path = folder / entry.name
    if not path.is_file():
        raise ApiError(410, "file_gone", "文件不存在 / file is gone")
    if first:
        _audit(uctx, "recording.stream" if not link.attachment else "recording.download",
               session.id, row.id, file=entry.name)
    headers["Content-Type"] = content_type(entry.name, entry.media)
    headers["Content-Disposition"] = _disposition(link.attachment, Path(entry.name).name)
    return web.FileResponse(path, headers=headers)
