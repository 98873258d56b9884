"""Socket.io event payloads (client → server), validated before any room state is touched.

docs/signaling.md documents the same events for client authors; keep both in step.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from server.models import Outcome

Pid = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
GroupId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,40}$")]
# Browsers' SDP for a few tracks is a few KB; 64 KB leaves room and bounds abuse.
Sdp = Annotated[str, StringConstraints(min_length=10, max_length=65536)]
MAX_EVENT_BYTES = 96 * 1024


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Empty(Event):
    pass


class JoinEvent(Event):
    # The recording notice may be acknowledged together with joining.
    consent: bool = False
    audio: bool = True
    video: bool = True


class RecordingAck(Event):
    accepted: Literal[True]


class TargetEvent(Event):
    participant_id: Pid


class AdmitEvent(TargetEvent):
    # Required to admit a party whose identity is not verified (logged in the sealed record).
    override_reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class DenyEvent(TargetEvent):
    reason: Annotated[str, StringConstraints(max_length=200)] = ""


class RemoveEvent(TargetEvent):
    reason: Annotated[str, StringConstraints(max_length=200)] = ""


class SdpEvent(Event):
    sdp: Sdp
    type: Literal["offer", "answer"]


class IceCandidateEvent(Event):
    candidate: Annotated[str, StringConstraints(max_length=1024)]
    sdpMid: Annotated[str, StringConstraints(max_length=64)] | None = None
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=64)


class MuteEvent(Event):
    kind: Literal["audio", "video"]
    muted: bool
    # Omitted: yourself. The mediator may mute (never unmute) others.
    participant_id: Pid | None = None


class CaucusGroup(Event):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    members: list[Pid] = Field(min_length=1, max_length=32)


class CaucusOpen(Event):
    groups: list[CaucusGroup] = Field(min_length=1, max_length=8)


class CaucusMove(Event):
    participant_id: Pid
    # "main" is the whole room.
    group_id: GroupId


class ChatEvent(Event):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class HandEvent(Event):
    raised: bool


class EndSession(Event):
    outcome: Outcome
    note: Annotated[str, StringConstraints(max_length=4000)] = ""
    # 调解成功 / 部分达成 with no effective agreement: why (recorded in the sealed log).
    no_agreement_reason: Annotated[str, StringConstraints(max_length=2000)] = ""


class TranscriptionToggle(Event):
    enabled: bool


class CaptionsToggle(Event):
    """A participant's own live-caption preference (default on)."""

    enabled: bool


class SignalingError(Exception):
    def __init__(self, code: str, message: str, fields: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields

    def ack(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            err["fields"] = self.fields
        return {"ok": False, "error": err}


def parse(model: type[Event], data: Any) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SignalingError("invalid_payload", "事件数据须为对象 / payload must be an object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise SignalingError(
            "validation_error", "事件数据有误 / invalid event payload", fields
        ) from exc


def forbidden() -> SignalingError:
    return SignalingError("forbidden", "仅调解员可执行此操作 / only the mediator may do this")
