"""Identity check before admission (身份核验), plugged into the signaling service.

In the lobby a party declares name and resident ID number (`identity_submit`). The mediator or
clerk opens a private check view (`identity_check_open`): the party's camera goes to that staff
member only (`Room.checks`, enforced by the forwarder through `Room.subscriptions()`), the party
receives nobody. Staff may take a still (`identity_still`, one keyframe decoded on the server) and
mark the party verified (`identity_verify`, method ``online_visual``); a village terminal's
庭务主任 attests for the people in front of it (method ``in_person_terminal``). With
``Room.identity_required`` an unverified party is admitted only with a written override reason.
Every step is logged (audit + sealed event log) with the masked number only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import StringConstraints

from server.agreements import identity as idstore
from server.agreements.idnumber import InvalidIdNumber
from server.agreements.models import IdentityVerification, VerifyMethod
from server.models import SessionParticipant, Terminal
from server.state import AppState, StateKey
from signaling import protocol as p
from signaling.context import RoomContext
from signaling.feature import EventHandler, RoomFeature
from signaling.identity import Identity
from signaling.live_room import LiveRoom
from signaling.protocol import SignalingError
from signaling.room import STAFF_KINDS, Member, Presence

log = logging.getLogger(__name__)

IDENTITY_CHECK: StateKey[IdentityCheck] = StateKey("identity_check")

@dataclass
class IdentityRoomState:
    # Participants whose camera a staff member has looked at in the check view.
    checked: set[str] = field(default_factory=set)
    # The room took the court's identity rule (set once, when the first participant joins).
    initialised: bool = False


class IdentitySubmit(p.Event):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    id_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=24)]
    # Staff or the terminal entering the data for a party; omitted: yourself.
    participant_id: p.Pid | None = None


class IdentityVerify(p.Event):
    participant_id: p.Pid
    method: Literal["online_visual", "in_person_terminal"]


def submitter(pid: str) -> str:
    """How an identity row names who entered it: by participant, whatever their login."""
    return f"participant:{pid}"


def room_view(row: IdentityVerification) -> dict[str, Any]:
    """What everyone in the room sees of someone's identity (masked, no declared name)."""
    view = row.public()
    view.pop("declared_name", None)
    return view


class IdentityCheck(RoomFeature):
    name = "identity_check"

    def __init__(self, state: AppState, service: RoomContext, required: bool) -> None:
        self.state = state
        self.service = service
        self.required = required

    def events(self) -> Mapping[str, EventHandler]:
        return {
            "identity_submit": (IdentitySubmit, self.on_submit),
            "identity_status": (p.Empty, self.on_status),
            "identity_check_open": (p.TargetEvent, self.on_check_open),
            "identity_check_close": (p.TargetEvent, self.on_check_close),
            "identity_still": (p.TargetEvent, self.on_still),
            "identity_verify": (IdentityVerify, self.on_verify),
        }

    # --- hooks ----------------------------------------------------------------------------
    async def on_event(
        self, live: LiveRoom, action: str, actor: str, details: dict[str, Any]
    ) -> None:
        if action != "participant.join":
            return
        checks = live.state_of(IdentityRoomState)
        if not checks.initialised:
            checks.initialised = True
            live.room.identity_required = self.required
        pid = details.get("participant_id")
        m = live.room.members.get(str(pid))
        if m is None or m.identity is not None:
            return
        async with self.state.db.session() as db:
            row = await idstore.load(db, live.session_id, m.pid)
        if row is not None and row.submitted_at is not None:
            m.identity = room_view(row)
            async with live.lock:
                await self.service.broadcast_state(live)

    # --- helpers --------------------------------------------------------------------------
    @staticmethod
    def _require_terminal_admitted(me: Member) -> None:
        if me.presence != Presence.admitted:
            raise SignalingError(
                "not_admitted",
                "终端须先经调解员准许进入，才能登记或核验身份 / the terminal must be admitted "
                "before it registers or attests anyone",
            )

    def _live(self, ident: Identity) -> LiveRoom:
        return self.service.rooms[ident.session_id]

    def _require_staff(self, live: LiveRoom, ident: Identity) -> None:
        me = live.room.member(ident.participant_id)
        if me.kind not in STAFF_KINDS or me.presence != Presence.admitted:
            raise SignalingError("forbidden", "仅调解员或书记员可执行 / mediator or clerk only")

    async def _publish(self, live: LiveRoom, row: IdentityVerification) -> None:
        m = live.room.members.get(row.participant_id)
        if m is not None:
            m.identity = room_view(row)
        async with live.lock:
            await self.service.broadcast_state(live)

    # --- events ---------------------------------------------------------------------------
    async def on_submit(self, sid: str, ident: Identity, ev: IdentitySubmit) -> dict[str, Any]:
        live = self._live(ident)
        me = live.room.member(ident.participant_id)
        target = ev.participant_id or me.pid
        if target != me.pid and me.kind not in (*STAFF_KINDS, "terminal"):
            raise SignalingError("forbidden", "只能提交本人的身份信息 / only your own identity")
        if live.room.member(target).kind in STAFF_KINDS:
            raise SignalingError("not_allowed", "工作人员无需核验 / staff need no check")
        if me.kind == "terminal":
            self._require_terminal_admitted(me)
        try:
            async with self.state.db.session() as db:
                existing = await idstore.load(db, live.session_id, target)
                if (
                    me.kind == "terminal"
                    and existing is not None
                    and existing.id_masked
                    and existing.submitted_by != submitter(me.pid)
                ):
                    # The terminal registers parties in front of it; it may not replace what a
                    # party (or staff) entered, or it could attest a number of its choosing.
                    raise SignalingError(
                        "not_allowed",
                        "该当事人已提交身份信息，终端不能更改 / this party's identity was "
                        "entered elsewhere: the terminal cannot replace it",
                    )
                row = await idstore.submit(
                    self.state,
                    db,
                    session_id=live.session_id,
                    court_id=live.room.court_id,
                    pid=target,
                    name=ev.name,
                    number=ev.id_number,
                    by=submitter(me.pid),
                )
                public = row.public()
        except InvalidIdNumber as exc:
            raise SignalingError(
                "invalid_id_number", str(exc), [{"field": "id_number", "message": str(exc)}]
            ) from exc
        await self._publish(live, row)
        await self.service.log_event(
            live,
            "identity.submitted",
            ident.actor,
            participant_id=target,
            id_masked=row.id_masked,
        )
        return {"identity": public}

    async def on_status(self, sid: str, ident: Identity, ev: p.Empty) -> dict[str, Any]:
        live = self._live(ident)
        me = live.room.member(ident.participant_id)
        async with self.state.db.session() as db:
            if me.kind in STAFF_KINDS or me.kind == "terminal":
                rows = list((await idstore.identities_of(db, live.session_id)).values())
                return {"identities": [r.public() for r in rows]}
            row = await idstore.load(db, live.session_id, me.pid)
            return {"identities": [row.public()] if row else []}

    async def on_check_open(self, sid: str, ident: Identity, ev: p.TargetEvent) -> None:
        live = self._live(ident)
        async with live.lock:
            m = live.room.open_check(ident.participant_id, ev.participant_id)
            live.state_of(IdentityRoomState).checked.add(m.pid)
            await self.service.sync_media(live)
        checker = live.room.member(ident.participant_id)
        await self.service.emit(
            "identity_check",
            {"open": True, "by": checker.display_name, "role_label": checker.role_label},
            m.sid,
        )
        await self.service.log_event(live, "identity.check_open", ident.actor, participant_id=m.pid)

    async def on_check_close(self, sid: str, ident: Identity, ev: p.TargetEvent) -> None:
        live = self._live(ident)
        async with live.lock:
            was = live.room.close_check(ident.participant_id, ev.participant_id)
            await self.service.sync_media(live)
        m = live.room.members.get(ev.participant_id)
        if was is not None and m is not None and m.presence == Presence.lobby:
            await self.service.emit("identity_check", {"open": False}, m.sid)
            await self.service.log_event(
                live, "identity.check_close", ident.actor, participant_id=m.pid
            )

    async def on_still(self, sid: str, ident: Identity, ev: p.TargetEvent) -> dict[str, Any]:
        live = self._live(ident)
        self._require_staff(live, ident)
        m = live.room.member(ev.participant_id)
        if not (live.room.checks.get(m.pid) == ident.participant_id or m.connected):
            raise SignalingError(
                "no_check", "请先打开身份核验视图 / open the identity check view first"
            )
        tracks = [t for t in live.media.published_tracks(m.pid) if t.kind == "video"]
        if not tracks:
            raise SignalingError("no_video", "该当事人未开启摄像头 / the party's camera is off")
        try:
            jpeg = await idstore.capture_still(tracks[0])
        except idstore.StillError as exc:
            raise SignalingError("still_failed", f"截图失败 / still failed: {exc}") from exc
        async with self.state.db.session() as db:
            row = await idstore.load_or_new(db, live.session_id, live.room.court_id, m.pid)
            await db.flush()
            await idstore.store_still(self.state, row, jpeg)
            digest, taken = row.still_sha256, row.still_taken_at
        await self.service.log_event(
            live, "identity.still", ident.actor, participant_id=m.pid, still_sha256=digest
        )
        return {"still_sha256": digest, "taken_at": taken.isoformat() if taken else None}

    async def on_verify(self, sid: str, ident: Identity, ev: IdentityVerify) -> dict[str, Any]:
        live = self._live(ident)
        me = live.room.member(ident.participant_id)
        target = live.room.member(ev.participant_id)
        if target.kind in STAFF_KINDS:
            raise SignalingError("not_allowed", "工作人员无需核验 / staff need no check")
        if ev.method == VerifyMethod.in_person_terminal.value:
            if me.kind != "terminal":
                raise SignalingError(
                    "forbidden",
                    "现场核验须由共享法庭终端的庭务主任确认 / in-person checks are attested at "
                    "the terminal",
                )
            self._require_terminal_admitted(me)
        else:
            self._require_staff(live, ident)
            seen = target.pid in live.state_of(IdentityRoomState).checked or target.connected
            if not seen:
                raise SignalingError(
                    "no_check", "请先打开身份核验视图 / open the identity check view first"
                )
        async with self.state.db.session() as db:
            row = await idstore.load(db, live.session_id, target.pid)
            if row is None or not row.id_masked:
                raise SignalingError(
                    "no_identity", "当事人尚未填写身份信息 / the party has not entered an ID"
                )
            if me.kind == "terminal" and row.submitted_by != submitter(me.pid):
                # In person means in front of this terminal: only a party it registered here
                # for this session (not one who joined from home and entered their own ID).
                raise SignalingError(
                    "not_at_terminal",
                    "只能核验在本终端现场登记的当事人 / the terminal attests only parties it "
                    "registered in person",
                )
            verifier = me.display_name
            if me.kind == "terminal":
                part = await db.get(SessionParticipant, me.pid)
                term = (
                    await db.get(Terminal, part.terminal_id) if part and part.terminal_id else None
                )
                if term is not None and term.operator_name:
                    verifier = f"{term.operator_name}（{term.name}）"
            row.method = ev.method
            row.verified_by = ident.actor
            row.verifier_name = verifier
            row.verified_at = datetime.now(UTC)
            public = row.public()
        await self._publish(live, row)
        await self.service.log_event(
            live,
            "identity.verified",
            ident.actor,
            participant_id=target.pid,
            method=ev.method,
            verifier=verifier,
            id_masked=row.id_masked,
            still_sha256=row.still_sha256,
        )
        return {"identity": public}
