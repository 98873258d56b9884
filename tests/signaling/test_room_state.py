"""What a room keeps across a server restart (signaling.room_state), as pure state."""

from __future__ import annotations

import json

from signaling.room import Presence, Room
from signaling.room_state import dump_room, restore_room, was_recording


def _room() -> Room:
    r = Room("s1", "c1", "（2026）浙0110民诉前调0001号")
    r.arrive("med", "mediator", "王法官", "调解员", "sid-m", 30, staff_login=True)
    r.consent("med")
    for pid in ("a", "b", "lobby"):
        r.arrive(pid, "party", pid, "申请人", f"sid-{pid}", 30)
        r.consent(pid)
    r.admit("med", "a")
    r.admit("med", "b")
    r.open_caucus("med", [("申请人", ["a"])])
    r.set_mute("b", "b", "video", True)
    r.started = True
    r.recording_active = True
    r.transcription = True
    return r


def test_a_restored_room_keeps_seats_groups_consent_and_flags() -> None:
    saved = json.loads(json.dumps(dump_room(_room())))  # what the database returns
    assert was_recording(saved)
    fresh = Room("s1", "c1", "x")
    seated = restore_room(fresh, saved, now=1000.0)
    assert {m.pid for m in seated} == {"med", "a", "b"}
    a, b, med = fresh.members["a"], fresh.members["b"], fresh.members["med"]
    assert a.presence is Presence.reconnecting and a.disconnected_at == 1000.0
    assert a.group.startswith("caucus-") and b.group == "main"
    assert b.video_muted and a.consented_at is not None and med.staff_login
    assert fresh.members["lobby"].presence is Presence.left
    assert fresh.started and fresh.transcription and fresh.in_caucus
    # Recording is on again only once it has really resumed.
    assert fresh.recording_active is False
    # Within the grace period (counted from the restart) a seat holder skips the lobby...
    back = fresh.arrive("a", "party", "a", "申请人", "sid-a2", 30, now=1020.0)
    assert back.presence is Presence.admitted and back.group == a.group
    # ...the lobby party waits again, and new caucus groups do not reuse ids.
    assert fresh.arrive("lobby", "party", "lobby", "申请人", "s", 30).presence is Presence.lobby
    fresh.arrive("med", "mediator", "王法官", "调解员", "sid-m2", 30, staff_login=True)
    created = fresh.open_caucus("med", [("被申请人", ["b"])])
    assert a.group not in created


def test_a_seat_expires_after_the_grace_period_from_the_restart() -> None:
    fresh = Room("s1", "c1", "x")
    restore_room(fresh, dump_room(_room()), now=1000.0)
    gone = fresh.expire_reconnecting(30, now=1031.0)
    assert {m.pid for m in gone} == {"med", "a", "b"}
    assert fresh.arrive("a", "party", "a", "申请人", "s", 30, now=1032.0).presence is Presence.lobby


def test_an_unknown_format_restores_nothing() -> None:
    fresh = Room("s1", "c1", "x")
    assert restore_room(fresh, {"version": 99, "members": []}, now=0.0) == []
    assert not fresh.members
