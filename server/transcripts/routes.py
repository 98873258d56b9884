"""The transcript (live record) and the mediation record (调解笔录).

Staff routes: clerks and judges of the session's court read the transcript documents (``main``
and, when caucus is recorded, ``caucus:<group>``), correct segments (text, speaker), insert
notes (every change kept in ``transcript_edits``; ``asr_text`` is never changed), read the
record with each party's review and export it as PDF or DOCX (the file's SHA-256 is added to the
session's sealed manifest). Party routes (join link): read the record text at the end of the
session and confirm it (确认无误) or object with a note; each review stores the SHA-256 of the
exact text the party saw.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import select

from recording import add_documents, folder_facts
from server import audit
from server.http.errors import ApiError, bad_request, forbidden, not_found
from server.http.framework import Api, Ctx
from server.models import (
    MediationSession,
    ParticipantKind,
    RecordConfirmation,
    Recording,
    RecordingStatus,
    SegmentKind,
    SessionParticipant,
    SessionStatus,
    TranscriptEdit,
    TranscriptSegment,
    UserRole,
)
from server.security.principals import PartyPrincipal
from server.server_key import server_key
from server.transcripts.live import LIVE_CORRECTIONS
from server.transcripts.record_export import (
    RecordData,
    RecordExportError,
    file_sha256,
    load_record,
    render,
)
from server.transcripts.schemas import (
    EditOut,
    ExportIn,
    NoteIn,
    PartyRecordOut,
    PartyStateOut,
    RecordOut,
    ReviewIn,
    ReviewOut,
    SegmentOut,
    SegmentPatch,
    TranscriptOut,
    TranscriptQuery,
)

api = Api()

TRANSCRIPT_READERS = (UserRole.judge, UserRole.clerk)
EDITED_FIELDS = ("text", "speaker_participant_id", "speaker_name", "speaker_role")
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


# --- helpers --------------------------------------------------------------------------------
async def _court_session(ctx: Ctx) -> MediationSession:
    session = await ctx.db.get(MediationSession, ctx.match("session_id"))
    if session is None or session.court_id != ctx.staff.court_id:
        raise not_found("session")
    return session


def _snapshot(segment: TranscriptSegment) -> dict[str, Any]:
    return {name: getattr(segment, name) for name in EDITED_FIELDS}


def _staff_role_label(ctx: Ctx) -> str:
    return "书记员" if ctx.staff.role == UserRole.clerk else "法官"


async def _push(ctx: Ctx, segment: TranscriptSegment) -> None:
    live = ctx.state.find(LIVE_CORRECTIONS)
    if live is not None:
        out = SegmentOut.model_validate(segment).model_dump(mode="json")
        await live.push_update(segment.session_id, segment.document, out)


def _record_out(session: MediationSession, data: RecordData) -> RecordOut:
    return RecordOut(
        session_id=session.id,
        status=session.status,
        text=data.text,
        sha256=data.sha256,
        parties=[
            PartyStateOut(
                participant_id=p.participant_id,
                name=p.name,
                role=p.role,
                state=p.state,  # type: ignore[arg-type]
                label=p.label,
                at=p.at,
                objection=p.objection,
            )
            for p in data.parties
        ],
    )


# --- staff: the transcript ------------------------------------------------------------------
@api.route(
    "GET",
    "/api/sessions/{session_id}/transcript",
    summary="Read a session's transcript document (main or a recorded caucus group)",
    tag="transcripts",
    roles=TRANSCRIPT_READERS,
    query=TranscriptQuery,
    response=TranscriptOut,
)
async def get_transcript(ctx: Ctx, query: TranscriptQuery) -> TranscriptOut:
    session = await _court_session(ctx)
    documents = set(
        await ctx.db.scalars(
            select(TranscriptSegment.document)
            .where(TranscriptSegment.session_id == session.id)
            .distinct()
        )
    )
    segments = await ctx.db.scalars(
        select(TranscriptSegment)
        .where(
            TranscriptSegment.session_id == session.id,
            TranscriptSegment.document == query.document,
        )
        .order_by(TranscriptSegment.start_at, TranscriptSegment.created_at)
    )
    return TranscriptOut(
        session_id=session.id,
        document=query.document,
        documents=["main", *sorted(documents - {"main"})],
        segments=[SegmentOut.model_validate(s) for s in segments],
    )


@api.route(
    "PATCH",
    "/api/sessions/{session_id}/transcript/segments/{segment_id}",
    summary="Correct a transcript line (text, speaker); the change is kept in its history",
    tag="transcripts",
    roles=TRANSCRIPT_READERS,
    body=SegmentPatch,
    response=SegmentOut,
)
async def edit_segment(ctx: Ctx, body: SegmentPatch) -> TranscriptSegment:
    session = await _court_session(ctx)
    segment = await ctx.db.get(TranscriptSegment, ctx.match("segment_id"))
    if segment is None or segment.session_id != session.id:
        raise not_found("segment")
    before = _snapshot(segment)
    changes = body.model_dump(exclude_unset=True)
    if "speaker_participant_id" in changes and changes["speaker_participant_id"] is not None:
        speaker = await ctx.db.get(SessionParticipant, changes["speaker_participant_id"])
        if speaker is None or speaker.session_id != session.id:
            raise bad_request(
                "发言人不是本次调解的参加人 / speaker is not a participant of this session",
                code="invalid_speaker",
            )
        changes.setdefault("speaker_name", speaker.display_name)
        changes.setdefault("speaker_role", speaker.role_label)
    for name, value in changes.items():
        if name in ("speaker_name", "speaker_role", "text") and value is None:
            raise bad_request(f"{name} 不能为空 / {name} cannot be null", code="invalid_value")
        setattr(segment, name, value)
    after = _snapshot(segment)
    if after == before:
        return segment
    segment.updated_at = datetime.now(UTC)
    segment.updated_by = ctx.actor
    diff_before = {k: v for k, v in before.items() if after[k] != v}
    diff_after = {k: v for k, v in after.items() if before[k] != v}
    ctx.db.add(
        TranscriptEdit(
            segment_id=segment.id, editor=ctx.actor, before=diff_before, after=diff_after
        )
    )
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="transcript.edit",
        court_id=session.court_id,
        target=segment.id,
        session_id=session.id,
        ip=ctx.ip,
        document=segment.document,
        fields=sorted(diff_after),
    )
    await ctx.db.flush()
    await _push(ctx, segment)
    return segment


@api.route(
    "POST",
    "/api/sessions/{session_id}/transcript/notes",
    summary="Insert a note line into a transcript document (e.g. 双方出示证据)",
    tag="transcripts",
    roles=TRANSCRIPT_READERS,
    body=NoteIn,
    response=SegmentOut,
    status=201,
)
async def add_note(ctx: Ctx, body: NoteIn) -> TranscriptSegment:
    session = await _court_session(ctx)
    at = body.at or datetime.now(UTC)
    note = TranscriptSegment(
        session_id=session.id,
        court_id=session.court_id,
        document=body.document,
        kind=SegmentKind.note,
        speaker_participant_id=None,
        speaker_name=ctx.staff.display_name,
        speaker_role=_staff_role_label(ctx),
        start_at=at,
        end_at=at,
        text=body.text,
        asr_text="",
        status="final",
    )
    ctx.db.add(note)
    await ctx.db.flush()
    ctx.db.add(
        TranscriptEdit(segment_id=note.id, editor=ctx.actor, before={}, after=_snapshot(note))
    )
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="transcript.note",
        court_id=session.court_id,
        target=note.id,
        session_id=session.id,
        ip=ctx.ip,
        document=body.document,
    )
    await ctx.db.flush()
    await _push(ctx, note)
    return note


@api.route(
    "GET",
    "/api/sessions/{session_id}/transcript/segments/{segment_id}/edits",
    summary="The correction history of one transcript line",
    tag="transcripts",
    roles=TRANSCRIPT_READERS,
    response=list[EditOut],
)
async def segment_edits(ctx: Ctx) -> list[TranscriptEdit]:
    session = await _court_session(ctx)
    segment = await ctx.db.get(TranscriptSegment, ctx.match("segment_id"))
    if segment is None or segment.session_id != session.id:
        raise not_found("segment")
    rows = await ctx.db.scalars(
        select(TranscriptEdit)
        .where(TranscriptEdit.segment_id == segment.id)
        .order_by(TranscriptEdit.at, TranscriptEdit.id)
    )
    return list(rows)


# --- staff: the record ------------------------------------------------------------------------
@api.route(
    "GET",
    "/api/sessions/{session_id}/record",
    summary="The mediation record text (main document) with each party's review",
    tag="transcripts",
    roles=TRANSCRIPT_READERS,
    response=RecordOut,
)
async def get_record(ctx: Ctx) -> RecordOut:
    session = await _court_session(ctx)
    return _record_out(session, await load_record(ctx.db, session))


def _latest_sealed(rows: list[Recording]) -> Recording | None:
    sealed = [r for r in rows if r.status in (RecordingStatus.sealed, RecordingStatus.interrupted)]
    return max(sealed, key=lambda r: r.started_at) if sealed else None


@api.route(
    "POST",
    "/api/sessions/{session_id}/record/export",
    summary="Export the mediation record (调解笔录) as PDF or DOCX; sealed into the manifest",
    tag="transcripts",
    roles=TRANSCRIPT_READERS,
    body=ExportIn,
    raw_response="application/octet-stream",
)
async def export_record(ctx: Ctx, body: ExportIn) -> web.Response:
    session = await _court_session(ctx)
    data = await load_record(ctx.db, session)
    settings = ctx.state.settings
    exports = settings.data_dir / "exports" / session.id
    exports.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"mediation-record-{stamp}.{body.format}"
    with tempfile.TemporaryDirectory(dir=exports) as tmp:
        target = Path(tmp) / name
        try:
            await asyncio.to_thread(
                render, data, body.format, target, settings.data_dir / "fonts", settings.record_font
            )
        except RecordExportError as exc:
            raise ApiError(503, "font_missing", str(exc)) from exc
        final = exports / name
        target.replace(final)
    digest = await asyncio.to_thread(file_sha256, final)
    rows = list(await ctx.db.scalars(select(Recording).where(Recording.session_id == session.id)))
    row = _latest_sealed(rows)
    manifest_sha = ""
    if row is not None:
        folder = settings.effective_recordings_dir / row.folder
        title = f"调解笔录（{body.format.upper()}）"
        await asyncio.to_thread(
            add_documents, folder, server_key(ctx.state), [(final, title)], actor=ctx.actor
        )
        manifest_sha, size = await asyncio.to_thread(folder_facts, folder)
        row.manifest_sha256 = manifest_sha
        row.size_bytes = size
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="record.export",
        court_id=session.court_id,
        target=session.id,
        session_id=session.id,
        ip=ctx.ip,
        format=body.format,
        sha256=digest,
        record_sha256=data.sha256,
        sealed=bool(manifest_sha),
        manifest_sha256=manifest_sha,
    )
    filename = f"调解笔录-{data.case_number}.{body.format}"
    headers = {
        "Content-Disposition": (
            f"attachment; filename=\"record.{body.format}\"; filename*=UTF-8''{quote(filename)}"
        ),
        "X-Content-SHA256": digest,
        "X-Record-SHA256": data.sha256,
        "X-Sealed": "true" if manifest_sha else "false",
    }
    if manifest_sha:
        headers["X-Manifest-SHA256"] = manifest_sha
    return web.Response(
        body=final.read_bytes(), content_type=MEDIA_TYPES[body.format], headers=headers
    )


# --- parties: review and confirm --------------------------------------------------------------
async def _party_session(ctx: Ctx) -> tuple[PartyPrincipal, MediationSession]:
    principal = ctx.principal
    assert isinstance(principal, PartyPrincipal)
    if principal.participant.kind != ParticipantKind.party:
        raise forbidden("仅当事人可确认笔录 / only parties review the record")
    session = await ctx.db.get(MediationSession, principal.participant.session_id)
    assert session is not None
    if session.status != SessionStatus.ended:
        raise ApiError(
            409,
            "record_not_ready",
            "调解结束后方可核对笔录 / the record is ready when the session ends",
        )
    return principal, session


def _review_out(row: RecordConfirmation | None, current_sha: str) -> ReviewOut | None:
    if row is None:
        return None
    return ReviewOut(
        confirmed=row.confirmed,
        objection=row.objection,
        record_sha256=row.record_sha256,
        at=row.at,
        current=row.record_sha256 == current_sha,
    )


async def _latest_review(
    ctx: Ctx, session_id: str, participant_id: str
) -> RecordConfirmation | None:
    return await ctx.db.scalar(
        select(RecordConfirmation)
        .where(
            RecordConfirmation.session_id == session_id,
            RecordConfirmation.participant_id == participant_id,
        )
        .order_by(RecordConfirmation.at.desc(), RecordConfirmation.id.desc())
        .limit(1)
    )


@api.route(
    "GET",
    "/api/join/{token}/record",
    summary="A party reads the mediation record at the end of the session",
    tag="transcripts",
    auth="party",
    response=PartyRecordOut,
)
async def party_record(ctx: Ctx, token: str) -> PartyRecordOut:
    principal, session = await _party_session(ctx)
    data = await load_record(ctx.db, session)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="record.view",
        court_id=session.court_id,
        target=session.id,
        session_id=session.id,
        ip=ctx.ip,
        record_sha256=data.sha256,
    )
    latest = await _latest_review(ctx, session.id, principal.participant.id)
    return PartyRecordOut(
        session_id=session.id,
        case_number=data.case_number,
        status=session.status,
        text=data.text,
        sha256=data.sha256,
        your_review=_review_out(latest, data.sha256),
    )


@api.route(
    "POST",
    "/api/join/{token}/record/review",
    summary="A party confirms the record (确认无误) or objects with a note",
    tag="transcripts",
    auth="party",
    body=ReviewIn,
    response=ReviewOut,
    status=201,
)
async def party_review(ctx: Ctx, token: str, body: ReviewIn) -> ReviewOut:
    principal, session = await _party_session(ctx)
    data = await load_record(ctx.db, session)
    if body.record_sha256 != data.sha256:
        raise ApiError(
            409,
            "record_changed",
            "笔录已更新，请重新阅读后再确认 / the record changed since you read it; reload it",
        )
    row = RecordConfirmation(
        session_id=session.id,
        participant_id=principal.participant.id,
        confirmed=body.confirmed,
        objection=body.objection,
        record_sha256=data.sha256,
        at=datetime.now(UTC),
        ip=ctx.ip,
    )
    ctx.db.add(row)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="record.confirm" if body.confirmed else "record.object",
        court_id=session.court_id,
        target=session.id,
        session_id=session.id,
        ip=ctx.ip,
        participant_id=principal.participant.id,
        record_sha256=data.sha256,
        objection=body.objection,
    )
    await ctx.db.flush()
    review = _review_out(row, data.sha256)
    assert review is not None
    return review
