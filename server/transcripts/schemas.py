"""Request and response bodies of the transcript and mediation-record (调解笔录) routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, StringConstraints, model_validator

from server.http.fields import In, Out
from server.models import SegmentKind, SessionStatus

Document = Annotated[str, StringConstraints(pattern=r"^(main|caucus:[A-Za-z0-9_\-]{1,40})$")]
SegmentText = Annotated[str, StringConstraints(max_length=10000)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class TranscriptQuery(In):
    document: Document = "main"


class SegmentOut(Out):
    id: str
    document: str
    kind: SegmentKind
    speaker_participant_id: str | None
    speaker_name: str
    speaker_role: str
    start_at: datetime
    end_at: datetime
    text: str
    asr_text: str
    # final / skipped (not recognised: fill in from the recording) / failed
    status: str
    updated_at: datetime | None
    updated_by: str | None


class TranscriptOut(BaseModel):
    session_id: str
    document: str
    # Every document of the session that has lines ("main" first).
    documents: list[str]
    segments: list[SegmentOut]


class SegmentPatch(In):
    text: SegmentText | None = None
    # Reassign the line to another participant of the session (name and role follow unless
    # given); or set a free speaker name / role.
    speaker_participant_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = (
        None
    )
    speaker_name: Label | None = None
    speaker_role: Label | None = None

    @model_validator(mode="after")
    def _something(self) -> SegmentPatch:
        if not self.model_fields_set:
            raise ValueError("没有要修改的内容 / nothing to change")
        return self


class NoteIn(In):
    document: Document = "main"
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    # Where the note belongs on the timeline (default: now).
    at: datetime | None = None

    @model_validator(mode="after")
    def _aware(self) -> NoteIn:
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("时间须带时区 / datetime must include a timezone offset")
        return self


class EditOut(Out):
    id: int
    segment_id: str
    editor: str
    at: datetime
    before: dict[str, Any]
    after: dict[str, Any]


class PartyStateOut(BaseModel):
    participant_id: str
    name: str
    role: str
    state: Literal["unconfirmed", "confirmed", "objected", "stale"]
    label: str
    at: datetime | None
    objection: str


class RecordOut(BaseModel):
    session_id: str
    status: SessionStatus
    text: str
    sha256: str
    parties: list[PartyStateOut]


class ExportIn(In):
    format: Literal["pdf", "docx"] = "pdf"


class ReviewOut(BaseModel):
    confirmed: bool
    objection: str
    record_sha256: str
    at: datetime
    # Whether the record still reads as it did when this review was given.
    current: bool


class PartyRecordOut(BaseModel):
    session_id: str
    case_number: str
    status: SessionStatus
    text: str
    sha256: str
    your_review: ReviewOut | None


class ReviewIn(In):
    confirmed: bool
    objection: Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)] = ""
    # The SHA-256 of the record text shown to the party (from GET …/record).
    record_sha256: Sha256

    @model_validator(mode="after")
    def _note_for_objection(self) -> ReviewIn:
        if not self.confirmed and not self.objection:
            raise ValueError("提出异议时请填写意见 / an objection needs a note")
        return self
