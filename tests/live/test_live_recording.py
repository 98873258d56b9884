"""Real aiortc clients in a real room: the recording is sealed, verifies and plays in sync."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import select

from recording import verify_folder
from server.app import SIGNALING_KEY
from server.models import Recording, RecordingStatus
from server.state import STATE_KEY
from signaling.features.recording import RecordingRoomState
from tests.recording.recording_helpers import decode
from tests.signaling.conftest import LiveSession

# Default configuration (identity check required): unverified parties are admitted with the
# mediator's written reason, as the court rules demand.
ADMIT_REASON = "测试：身份未核验，调解员书面准许 / test: admitted unverified with a reason"


async def _admitted_pair(live: LiveSession):  # type: ignore[no-untyped-def]
    mediator = await live.joined("mediator")
    applicant = await live.joined("applicant")
    respondent = await live.joined("respondent")
    await mediator.wait_until(lambda: len(mediator.lobby()) == 2)
    for who in ("applicant", "respondent"):
        await mediator.call(
            "admit", {"participant_id": live.pids[who], "override_reason": ADMIT_REASON}
        )
    for c in (applicant, respondent):
        await c.wait_until(lambda c=c: c.presence == "admitted")
    return mediator, applicant, respondent


async def test_session_is_recorded_sealed_and_verifies(live: LiveSession) -> None:
    mediator, applicant, respondent = await _admitted_pair(live)
    await mediator.call("start_session")
    for c in (mediator, applicant, respondent):
        await c.start_media()
    assert mediator.media is not None
    await mediator.media.wait_for_frames(live.pids["applicant"], "video", 30, timeout_s=30)
    await asyncio.sleep(3.0)
    # A caucus of the applicant side: confidential, not recorded by default.
    await mediator.call(
        "caucus_open",
        {
            "groups": [
                {"name": "申请人方", "members": [live.pids["mediator"], live.pids["applicant"]]}
            ]
        },
    )
    await asyncio.sleep(1.5)
    await mediator.call("caucus_close")
    # Back in the main room the applicant's next segment starts at its next keyframe: wait for
    # that file rather than a fixed time (a loaded machine may take a few seconds).
    app_pid = live.pids["applicant"]

    def second_segment_written() -> bool:
        room = live.harness.app[SIGNALING_KEY].rooms[live.session_id]
        return any(
            track.publisher_id == app_pid
            and track.kind == "video"
            and rec is not None
            and rec.segment >= 2
            and rec.path is not None
            for _group, rec, track in room.state_of(RecordingRoomState).sinks.values()
        )

    deadline = asyncio.get_running_loop().time() + 30
    while not second_segment_written():
        assert asyncio.get_running_loop().time() < deadline, "no second segment"
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    await mediator.call(
        "end_session", {"outcome": "settled", "note": "达成一致", "no_agreement_reason": "当场履行"}
    )
    await asyncio.sleep(0.5)

    state = live.harness.app[STATE_KEY]
    async with state.db.session() as s:
        row = await s.scalar(select(Recording).where(Recording.session_id == live.session_id))
    assert row is not None and row.status == RecordingStatus.sealed and row.manifest_sha256
    folder = Path(state.settings.effective_recordings_dir) / row.folder
    report = verify_folder(folder)
    assert report.ok, report.problems
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["session"] == live.session_id
    assert not manifest["interrupted"]
    roles = {p["id"]: p["role"] for p in manifest["participants"]}
    assert roles[live.pids["applicant"]] == "申请人"
    assert {c["payload"]["participant"] for c in manifest["consents"]} >= {
        live.pids["mediator"],
        live.pids["applicant"],
        live.pids["respondent"],
    }
    assert any(a["payload"]["admitted"] for a in manifest["admissions"])
    assert manifest["caucus_changes"], "caucus changes are in the manifest"
    tracks = [f for f in manifest["files"] if f.get("kind") == "track"]
    assert not any(t["caucus"] for t in tracks)
    # The applicant's main-room recording is split around the (unrecorded) caucus.
    app_video = sorted(
        (t for t in tracks if t["participant"] == live.pids["applicant"] and t["media"] == "video"),
        key=lambda t: t["segment"],
    )
    assert len(app_video) == 2
    first = app_video[0]
    assert (first["width"], first["height"]) == (640, 480)
    video = decode(folder / first["name"])
    assert (video.width, video.height) == (640, 480)
    expected = first["end_wallclock"] - first["start_wallclock"]
    assert abs(video.duration - expected) <= 0.5
    app_audio = sorted(
        (t for t in tracks if t["participant"] == live.pids["applicant"] and t["media"] == "audio"),
        key=lambda t: t["segment"],
    )[0]
    # Both segments open at the same moment; the video's first frame is the keyframe asked for
    # then (a PLI round trip, longer on a loaded machine: 0.135 s seen on 2 busy cores), audio's
    # the next 20 ms packet.
    assert abs(app_audio["start_wallclock"] - first["start_wallclock"]) <= 0.5
    audio = decode(folder / app_audio["name"])
    assert audio.duration > 2.0
    # Respondent stayed in the main room throughout: one continuous segment.
    assert (
        len(
            [
                t
                for t in tracks
                if t["participant"] == live.pids["respondent"] and t["media"] == "video"
            ]
        )
        == 1
    )
