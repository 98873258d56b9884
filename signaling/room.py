"""Room state of one live mediation session: lobby, admission, caucus groups, presence.

Pure logic with no I/O, so the rules (who may receive whom, who may do what) are testable on
their own and the same object can later be mirrored to Redis for scale-out.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any

from signaling.protocol import SignalingError, forbidden

MAIN = "main"


class Presence(enum.StrEnum):
    lobby = "lobby"  # waiting for the mediator (等待调解员准许进入)
    admitted = "admitted"  # in the room (main room or a caucus group)
    reconnecting = "reconnecting"  # connection lost; seat kept for the grace period
    left = "left"
    denied = "denied"
    removed = "removed"


STAFF_KINDS = ("mediator", "clerk")


@dataclass
class Member:
    pid: str
    kind: str  # mediator / clerk / party / terminal
    display_name: str
    role_label: str
    presence: Presence = Presence.left
    consented_at: float | None = None
    group: str = MAIN
    audio_muted: bool = False
    video_muted: bool = False
    hand_raised: bool = False
    sid: str | None = None
    disconnected_at: float | None = None
    # Once admitted, a reconnect within the grace period skips the lobby.
    was_admitted: bool = False
    # Masked identity and its verification (set by signaling.features.identity_check); never the number.
    identity: dict[str, Any] | None = None
    # The seat is held through a staff login (not a join link): a link may not take it over.
    staff_login: bool = False
    # A company party: its signature names the natural person who signs and in what capacity.
    organisation: bool = False

    @property
    def verified(self) -> bool:
        return bool(self.identity and self.identity.get("verified"))

    @property
    def is_mediator(self) -> bool:
        return self.kind == "mediator"

    @property
    def connected(self) -> bool:
        return self.sid is not None and self.presence == Presence.admitted

    def public(self) -> dict[str, Any]:
        return {
            "participant_id": self.pid,
            "kind": self.kind,
            "display_name": self.display_name,
            "role_label": self.role_label,
            "presence": self.presence.value,
            "group": self.group,
            "consented": self.consented_at is not None,
            "audio_muted": self.audio_muted,
            "video_muted": self.video_muted,
            "hand_raised": self.hand_raised,
            "identity": self.identity,
            "organisation": self.organisation,
        }


@dataclass
class Room:
    session_id: str
    court_id: str
    case_number: str
    max_participants: int = 12
    members: dict[str, Member] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=lambda: {MAIN: "全体 / main room"})
    started: bool = False
    ended: bool = False
    transcription: bool = False
    recording_active: bool = False
    # Parties must be identity-verified before admission (or admitted with a written reason).
    identity_required: bool = False
    # Open identity checks: lobby participant id -> the mediator/clerk who sees their camera.
    checks: dict[str, str] = field(default_factory=dict)
    _group_seq: int = 0

    # --- membership -------------------------------------------------------------------------
    def member(self, pid: str) -> Member:
        m = self.members.get(pid)
        if m is None:
            raise SignalingError("unknown_participant", "参与人不存在 / unknown participant")
        return m

    def present_count(self) -> int:
        return sum(
            1
            for m in self.members.values()
            if m.presence in (Presence.admitted, Presence.lobby, Presence.reconnecting)
        )

    def arrive(
        self,
        pid: str,
        kind: str,
        display_name: str,
        role_label: str,
        sid: str,
        grace_seconds: float,
        now: float | None = None,
        staff_login: bool = False,
    ) -> Member:
        """A participant's socket joined. Staff enter directly; others wait in the lobby unless
        they were admitted before and come back within the grace period.

        A staff seat held through a staff login (or kept for it during the grace period) is
        never taken over by someone who only has the seat's join link."""
        now = time.time() if now is None else now
        if self.ended:
            raise SignalingError("session_ended", "调解已结束 / this session has ended")
        m = self.members.get(pid)
        if (
            m is not None
            and kind in STAFF_KINDS
            and m.staff_login
            and not staff_login
            and (
                m.presence == Presence.admitted
                or (
                    m.presence == Presence.reconnecting
                    and m.disconnected_at is not None
                    and now - m.disconnected_at <= grace_seconds
                )
            )
        ):
            raise SignalingError(
                "seat_taken",
                "该席位正由已登录的工作人员使用，请通过工作人员登录进入 / this seat is in use by "
                "a signed-in staff member: sign in to take it",
            )
        if m is not None and m.presence in (Presence.denied, Presence.removed):
            raise SignalingError(
                "not_allowed", "您已被调解员移出本次调解 / you were removed from this session"
            )
        active = m is not None and m.presence in (
            Presence.admitted,
            Presence.lobby,
            Presence.reconnecting,
        )
        if not active and self.present_count() >= self.max_participants:
            raise SignalingError("room_full", "调解室人数已满 / the room is full")
        if m is None:
            m = Member(pid, kind, display_name, role_label)
            self.members[pid] = m
        m.sid = sid
        m.staff_login = staff_login
        returning = (
            m.was_admitted
            and m.presence in (Presence.reconnecting, Presence.admitted)
            and (m.disconnected_at is None or now - m.disconnected_at <= grace_seconds)
        )
        if kind in STAFF_KINDS or returning:
            m.presence = Presence.admitted
            m.was_admitted = True
        else:
            m.presence = Presence.lobby
            m.group = MAIN
        m.disconnected_at = None
        return m

    def disconnect(self, pid: str, now: float | None = None) -> Member:
        m = self.member(pid)
        m.sid = None
        m.disconnected_at = time.time() if now is None else now
        if m.presence == Presence.admitted:
            m.presence = Presence.reconnecting
        elif m.presence == Presence.lobby:
            m.presence = Presence.left
        return m

    def expire_reconnecting(self, grace_seconds: float, now: float | None = None) -> list[Member]:
        now = time.time() if now is None else now
        gone = []
        for m in self.members.values():
            if (
                m.presence == Presence.reconnecting
                and m.disconnected_at is not None
                and now - m.disconnected_at > grace_seconds
            ):
                m.presence = Presence.left
                m.was_admitted = False
                gone.append(m)
        return gone

    def leave(self, pid: str) -> Member:
        m = self.member(pid)
        m.presence = Presence.left
        m.sid = None
        m.was_admitted = False
        m.hand_raised = False
        return m

    # --- mediator controls --------------------------------------------------------------
    def require_mediator(self, actor: str) -> Member:
        m = self.member(actor)
        if not m.is_mediator or m.presence != Presence.admitted:
            raise forbidden()
        return m

    def consent(self, pid: str, now: float | None = None) -> Member:
        m = self.member(pid)
        if m.consented_at is None:
            m.consented_at = time.time() if now is None else now
        return m

    def admit(self, actor: str, pid: str, override_reason: str = "") -> Member:
        self.require_mediator(actor)
        m = self.member(pid)
        if m.presence != Presence.lobby:
            raise SignalingError(
                "not_in_lobby", "该参与人不在等候室 / participant is not waiting in the lobby"
            )
        if m.consented_at is None:
            raise SignalingError(
                "no_consent",
                "该参与人尚未确认录制告知 / participant has not acknowledged the recording notice",
            )
        if (
            self.identity_required
            and m.kind == "party"
            and not m.verified
            and not override_reason.strip()
        ):
            raise SignalingError(
                "not_verified",
                "该当事人尚未通过身份核验；如需准入请填写理由 / identity not verified: "
                "admit with a written override reason",
            )
        self.checks.pop(pid, None)
        m.presence = Presence.admitted
        m.was_admitted = True
        m.group = MAIN
        return m

    def deny(self, actor: str, pid: str) -> Member:
        self.require_mediator(actor)
        m = self.member(pid)
        if m.presence != Presence.lobby:
            raise SignalingError(
                "not_in_lobby", "该参与人不在等候室 / participant is not waiting in the lobby"
            )
        m.presence = Presence.denied
        self.checks.pop(pid, None)
        return m

    def return_to_lobby(self, actor: str, pid: str) -> Member:
        self.require_mediator(actor)
        m = self.member(pid)
        if m.kind in STAFF_KINDS or m.presence != Presence.admitted:
            raise SignalingError(
                "not_admitted",
                "只能将已入室的当事人退回等候室 / only admitted parties can be returned to the lobby",
            )
        m.presence = Presence.lobby
        m.was_admitted = False
        m.group = MAIN
        m.hand_raised = False
        return m

    def remove(self, actor: str, pid: str) -> Member:
        self.require_mediator(actor)
        m = self.member(pid)
        if m.is_mediator:
            raise SignalingError("not_allowed", "不能移除调解员 / the mediator cannot be removed")
        m.presence = Presence.removed
        m.was_admitted = False
        return m

    def set_mute(self, actor: str, pid: str, kind: str, muted: bool) -> Member:
        m = self.member(pid)
        if pid != actor:
            self.require_mediator(actor)
            if not muted:
                # Unmuting someone else would switch on their microphone without their act.
                raise SignalingError(
                    "not_allowed", "只能由本人取消静音 / only the participant can unmute"
                )
        if kind == "audio":
            m.audio_muted = muted
        else:
            m.video_muted = muted
        return m

    # --- identity check (身份核验) --------------------------------------------------------
    def open_check(self, actor: str, pid: str) -> Member:
        """A mediator or clerk in the room sees a lobby party's camera, privately."""
        checker = self.member(actor)
        if checker.kind not in STAFF_KINDS or checker.presence != Presence.admitted:
            raise SignalingError("forbidden", "仅调解员或书记员可核验身份 / staff only")
        m = self.member(pid)
        if m.presence != Presence.lobby or m.kind in STAFF_KINDS:
            raise SignalingError(
                "not_in_lobby", "该参与人不在等候室 / participant is not waiting in the lobby"
            )
        self.checks[pid] = actor
        return m

    def close_check(self, actor: str, pid: str) -> str | None:
        checker = self.member(actor)
        if checker.kind not in STAFF_KINDS:
            raise SignalingError("forbidden", "仅调解员或书记员可核验身份 / staff only")
        return self.checks.pop(pid, None)

    # --- caucus (背靠背调解) -------------------------------------------------------------
    def open_caucus(self, actor: str, groups: list[tuple[str, list[str]]]) -> dict[str, list[str]]:
        """Split the room: each listed group gets its own id; everyone unlisted stays in main."""
        self.require_mediator(actor)
        seen: set[str] = set()
        for _, members in groups:
            for pid in members:
                m = self.member(pid)
                if m.presence not in (Presence.admitted, Presence.reconnecting):
                    raise SignalingError(
                        "not_admitted",
                        "只能将已入室的参与人分组 / only admitted participants can be grouped",
                    )
                if pid in seen:
                    raise SignalingError(
                        "duplicate_member",
                        "同一参与人不能分入两个组 / a participant can be in one group only",
                    )
                seen.add(pid)
        created: dict[str, list[str]] = {}
        for name, members in groups:
            self._group_seq += 1
            gid = f"caucus-{self._group_seq}"
            self.groups[gid] = name
            for pid in members:
                self.members[pid].group = gid
            created[gid] = list(members)
        self._drop_empty_groups()
        return created

    def move(self, actor: str, pid: str, group_id: str) -> Member:
        self.require_mediator(actor)
        if group_id not in self.groups:
            raise SignalingError("unknown_group", "分组不存在 / unknown group")
        m = self.member(pid)
        if m.presence not in (Presence.admitted, Presence.reconnecting):
            raise SignalingError(
                "not_admitted", "只能移动已入室的参与人 / only admitted participants can be moved"
            )
        m.group = group_id
        self._drop_empty_groups()
        return m

    def close_caucus(self, actor: str) -> None:
        self.require_mediator(actor)
        for m in self.members.values():
            m.group = MAIN
        self.groups = {MAIN: self.groups[MAIN]}

    def _drop_empty_groups(self) -> None:
        used = {m.group for m in self.members.values() if m.presence != Presence.left}
        for gid in list(self.groups):
            if gid != MAIN and gid not in used:
                del self.groups[gid]

    @property
    def in_caucus(self) -> bool:
        return len(self.groups) > 1

    # --- who receives whom ----------------------------------------------------------------
    def subscriptions(self) -> dict[str, set[str]]:
        """For every connected, admitted member: the publishers it may receive. Only members of
        the same group, never oneself. This is the single source the forwarder enforces."""
        live = [m for m in self.members.values() if m.connected]
        subs = {
            m.pid: {o.pid for o in live if o.pid != m.pid and o.group == m.group} for m in live
        }
        # Identity check: the checker alone receives the lobby party, who receives nobody.
        for pid, checker in self.checks.items():
            m = self.members.get(pid)
            if m is not None and m.sid is not None and m.presence == Presence.lobby:
                if checker in subs:
                    subs[pid] = set()
                    subs[checker].add(pid)
        return subs

    def group_members(self, group: str) -> list[Member]:
        return [m for m in self.members.values() if m.connected and m.group == group]

    def snapshot(self, for_pid: str | None = None) -> dict[str, Any]:
        me = self.members.get(for_pid) if for_pid else None
        return {
            "session_id": self.session_id,
            "case_number": self.case_number,
            "started": self.started,
            "ended": self.ended,
            "recording": self.recording_active,
            "transcription": self.transcription,
            "identity_required": self.identity_required,
            "in_caucus": self.in_caucus,
            "groups": [{"group_id": g, "name": n} for g, n in self.groups.items()],
            "participants": [
                m.public() for m in self.members.values() if m.presence != Presence.left
            ],
            "you": me.public() if me else None,
        }
