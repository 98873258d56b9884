"""Request and response bodies of the recordings API (clerk retrieval)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from server.http.fields import In, Out, calendar_date
from server.models import JobStatus, Outcome, RecordingStatus, SessionStatus

LocalDate = Annotated[
    str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$"), AfterValidator(calendar_date)
]
Search = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
FileName = Annotated[str, StringConstraints(min_length=1, max_length=300)]


class RecordingSearch(In):
    """Filters; dates are calendar days in the court's zone (Court.timezone), both ends inclusive."""

    case_number: Search | None = None
    party_name: Search | None = None
    date_from: LocalDate | None = None
    date_to: LocalDate | None = None
    outcome: Outcome | None = None
    include_deleted: bool = False
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=2**31 - 1)


class RecordingRowOut(Out):
    id: str
    session_id: str
    folder: str
    status: RecordingStatus
    record_caucus: bool
    started_at: datetime
    sealed_at: datetime | None
    size_bytes: int
    manifest_sha256: str
    deleted_at: datetime | None
    # When retention will delete it (sealed_at/started_at + recording_retention_days).
    expires_at: datetime | None = None
    # This segment resumed after the server was down from gap_start to gap_end (服务器中断).
    gap_start: datetime | None = None
    gap_end: datetime | None = None


class PartyBrief(Out):
    name: str
    role: str


class RecordedSessionOut(Out):
    session_id: str
    case_id: str
    case_number: str
    case_title: str
    scheduled_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    status: SessionStatus
    outcome: Outcome | None
    outcome_note: str
    mediator_id: str
    parties: list[PartyBrief]
    recordings: list[RecordingRowOut]


class GapOut(Out):
    offset_s: float  # from the session origin
    duration_s: float


class TrackOut(Out):
    name: str
    participant: str | None
    participant_name: str | None
    role: str | None
    media: str  # "video" | "audio"
    codec: str | None
    width: int | None
    height: int | None
    segment: int | None
    caucus: bool
    caucus_group: str | None
    start_utc: str | None
    end_utc: str | None
    offset_s: float  # where the file's first frame sits on the session timeline
    duration_s: float
    gaps: list[GapOut]
    frames: int | None
    stop_reason: str | None
    size: int
    sha256: str
    content_type: str


class ManifestDocumentOut(Out):
    name: str
    title: str | None
    kind: str | None
    size: int
    sha256: str


class ManifestParticipantOut(Out):
    id: str
    name: str | None
    role: str | None


class ManifestSummary(Out):
    revision: int
    interrupted: bool
    record_caucus: bool
    sealed_at: str | None
    recording_started_utc: str | None
    recording_ended_utc: str | None
    participants: list[ManifestParticipantOut]
    tracks: list[TrackOut]
    documents: list[ManifestDocumentOut]
    # Caucus tracks withheld from this viewer (mediators never see caucus recordings).
    caucus_tracks_hidden: int
    event_log_entries: int
    consents: int
    admissions: int
    caucus_changes: int
    signer_fingerprint: str | None


class RecordingDetailOut(RecordingRowOut):
    available: bool  # false when the folder is gone (deleted) or not sealed yet
    manifest: ManifestSummary | None


class SessionRecordingsOut(Out):
    session: RecordedSessionOut
    # Every offset_s is measured from this instant: the session's start or its first frame,
    # whichever is earlier, so all parts of a session share one timeline.
    origin_utc: str | None
    duration_s: float
    recordings: list[RecordingDetailOut]


class LinkIn(In):
    """Which files to link. Leave out ``files`` for every track the viewer may see plus the
    manifest and its signature."""

    files: list[FileName] | None = Field(default=None, max_length=500)
    disposition: Literal["inline", "attachment"] = "inline"


class LinkOut(Out):
    file: str
    url: str
    content_type: str
    expires_at: datetime


class ArchiveLinkIn(In):
    pass


class CompositeIn(In):
    # Caucus tracks are confidential: only judges and clerks may ask for them in the composite.
    include_caucus: bool = False


class JobOut(Out):
    id: str
    session_id: str
    kind: str
    status: JobStatus
    progress: float
    error: str
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    ready: bool = False


class ProblemOut(Out):
    code: str
    message: str
    file: str | None
    line: int | None
    severity: str


class VerifyOut(Out):
    recording_id: str
    ok: bool
    files_checked: int
    event_log_entries: int
    signer_fingerprint: str | None
    signer_trusted: bool
    interrupted: bool | None
    problems: list[ProblemOut]


class RetentionItemOut(Out):
    recording_id: str
    session_id: str
    folder: str
    expired_since: datetime
    size_bytes: int
    deleted: bool
    error: str = ""


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
