"""The part of a live room that must survive a server restart, as plain JSON.

Kept: who was admitted (so they come back without the lobby), consent, caucus groups, mute
choices, masked identity results, and whether the session had started, was being recorded and
transcribed. Not kept: sockets, peer connections and open identity-check views, which a restart
ends anyway. Pure functions, no I/O; `SignalingService` stores the result in `live_room_states`.
"""

from __future__ import annotations

from typing import Any

from signaling.room import Member, Presence, Room

VERSION = 1

# Presences that mean "had a seat in the room" when the server went away.
_SEATED = (Presence.admitted, Presence.reconnecting)


def dump_room(room: Room) -> dict[str, Any]:
    return {
        "version": VERSION,
        "started": room.started,
        "recording": room.recording_active,
        "transcription": room.transcription,
        "groups": dict(room.groups),
        "group_seq": room._group_seq,
        "members": [_dump_member(m) for m in room.members.values()],
    }


def _dump_member(m: Member) -> dict[str, Any]:
    return {
        "pid": m.pid,
        "kind": m.kind,
        "display_name": m.display_name,
        "role_label": m.role_label,
        "presence": m.presence.value,
        "consented_at": m.consented_at,
        "group": m.group,
        "audio_muted": m.audio_muted,
        "video_muted": m.video_muted,
        "was_admitted": m.was_admitted,
        "identity": m.identity,
        "staff_login": m.staff_login,
        "organisation": m.organisation,
    }


def restore_room(room: Room, state: dict[str, Any], now: float) -> list[Member]:
    """Put a saved room back after a restart. Everyone who had a seat is `reconnecting` from
    `now` (the grace period counts from the restart, not from the crash), so they rejoin
    straight into their group; people in the lobby rejoin the lobby. Returns the seated."""
    if state.get("version") != VERSION:
        return []
    room.started = bool(state.get("started"))
    room.recording_active = False  # true again once the recording has resumed
    room.transcription = bool(state.get("transcription"))
    groups = state.get("groups") or {}
    if "main" in groups:
        room.groups = {str(k): str(v) for k, v in groups.items()}
    room._group_seq = int(state.get("group_seq") or 0)
    seated: list[Member] = []
    for d in state.get("members", []):
        presence = Presence(d["presence"])
        m = Member(
            pid=d["pid"],
            kind=d["kind"],
            display_name=d["display_name"],
            role_label=d["role_label"],
            consented_at=d.get("consented_at"),
            group=d.get("group") or "main",
            audio_muted=bool(d.get("audio_muted")),
            video_muted=bool(d.get("video_muted")),
            identity=d.get("identity"),
            staff_login=bool(d.get("staff_login")),
            organisation=bool(d.get("organisation")),
        )
        if presence in _SEATED and d.get("was_admitted", True):
            m.presence = Presence.reconnecting
            m.was_admitted = True
            m.disconnected_at = now
            seated.append(m)
        elif presence in (Presence.denied, Presence.removed):
            m.presence = presence
        else:
            m.presence = Presence.left
            m.group = "main"
        if m.group not in room.groups:
            m.group = "main"
        room.members[m.pid] = m
    return seated


def was_recording(state: dict[str, Any]) -> bool:
    return bool(state.get("recording")) and bool(state.get("started"))
