from __future__ import annotations

import asyncio

import pytest

from signaling.client import SignalingFailure
from tests.conftest import Harness
from tests.signaling.conftest import LiveSession

# Default configuration (identity check required): unverified parties are admitted with the
# mediator's written reason, as the court rules demand.
ADMIT_REASON = "测试：身份未核验，调解员书面准许 / test: admitted unverified with a reason"


async def test_two_parties_admitted_exchange_media(live: LiveSession) -> None:
    mediator = await live.joined("mediator")
    assert mediator.presence == "admitted"
    applicant = await live.joined("applicant")
    respondent = await live.joined("respondent")
    assert applicant.presence == "lobby" and respondent.presence == "lobby"
    await mediator.wait_until(lambda: len(mediator.lobby()) == 2, what="two in lobby")
    # Lobby participants cannot negotiate media.
    with pytest.raises(SignalingFailure) as exc:
        await applicant.call("offer", {"sdp": "v=0\r\n" * 3, "type": "offer"})
    assert exc.value.code == "not_admitted"
    await mediator.start_media()
    for who in ("applicant", "respondent"):
        await mediator.call(
            "admit", {"participant_id": live.pids[who], "override_reason": ADMIT_REASON}
        )
    await applicant.wait_until(lambda: applicant.presence == "admitted", what="admission")
    await respondent.wait_until(lambda: respondent.presence == "admitted", what="admission")
    await applicant.start_media()
    await respondent.start_media()
    assert mediator.media and applicant.media and respondent.media
    for client in (mediator, applicant, respondent):
        assert client.media is not None
        for other in ("mediator", "applicant", "respondent"):
            if live.pids[other] == client.participant_id:
                continue
            await client.media.wait_for_frames(live.pids[other], "video", 10, timeout_s=30)
            tracks = client.media.tracks_from(live.pids[other], "video")
            assert any(t.width == 640 and t.height == 480 for t in tracks)


async def test_caucus_isolates_media_in_the_forwarder(live: LiveSession) -> None:
    mediator = await live.joined("mediator")
    applicant = await live.joined("applicant")
    respondent = await live.joined("respondent")
    await mediator.wait_until(lambda: len(mediator.lobby()) == 2, what="two in lobby")
    for who in ("applicant", "respondent"):
        await mediator.call(
            "admit", {"participant_id": live.pids[who], "override_reason": ADMIT_REASON}
        )
    await respondent.wait_until(lambda: respondent.presence == "admitted")
    await applicant.wait_until(lambda: applicant.presence == "admitted")
    for c in (mediator, applicant, respondent):
        await c.start_media()
    assert respondent.media is not None and applicant.media is not None
    await respondent.media.wait_for_frames(live.pids["applicant"], "video", 5, timeout_s=30)

    ack = await mediator.call(
        "caucus_open",
        {
            "groups": [
                {"name": "申请人方", "members": [live.pids["mediator"], live.pids["applicant"]]}
            ]
        },
    )
    assert len(ack["groups"]) == 1
    await asyncio.sleep(0.5)  # frames already in flight drain
    before_audio = respondent.media.frames_from(live.pids["applicant"], "audio")
    before_video = respondent.media.frames_from(live.pids["applicant"], "video")
    before_med = respondent.media.frames_from(live.pids["mediator"], "video")
    # Meanwhile the caucus itself works: the applicant still receives the mediator.
    await applicant.media.wait_for_frames(live.pids["mediator"], "video", 10, timeout_s=20)
    await asyncio.sleep(1.5)
    assert respondent.media.frames_from(live.pids["applicant"], "video") == before_video
    assert respondent.media.frames_from(live.pids["applicant"], "audio") == before_audio
    assert respondent.media.frames_from(live.pids["mediator"], "video") == before_med
    me = respondent.participant(live.pids["applicant"])
    assert me is not None and me["group"] != "main"

    await mediator.call("caucus_close")
    await respondent.media.wait_for_frames(live.pids["applicant"], "video", 10, timeout_s=30)


async def test_denied_party_is_disconnected(live: LiveSession) -> None:
    mediator = await live.joined("mediator")
    applicant = await live.joined("applicant")
    await mediator.wait_until(lambda: len(mediator.lobby()) == 1)
    await mediator.call("deny", {"participant_id": live.pids["applicant"], "reason": "身份不符"})
    await applicant.wait_until(lambda: applicant.saw("denied"), what="denied event")
    await applicant.wait_until(lambda: not applicant.sio.connected, what="disconnect")
    again = live.client("applicant")
    await again.connect()
    with pytest.raises(SignalingFailure) as exc:
        await again.join()
    assert exc.value.code == "not_allowed"


async def test_party_cannot_emit_mediator_events(live: LiveSession) -> None:
    await live.joined("mediator")
    applicant = await live.joined("applicant")
    for event, data in [
        ("admit", {"participant_id": live.pids["respondent"]}),
        ("caucus_open", {"groups": [{"name": "x", "members": [live.pids["applicant"]]}]}),
        ("end_session", {"outcome": "settled"}),
        ("mute", {"kind": "audio", "muted": True, "participant_id": live.pids["mediator"]}),
        ("remove_participant", {"participant_id": live.pids["mediator"]}),
    ]:
        with pytest.raises(SignalingFailure) as exc:
            await applicant.call(event, data)
        assert exc.value.code == "forbidden", event


async def test_bad_tokens_refused_before_any_state(live: LiveSession) -> None:
    from signaling.client import RoomClient

    for token in ("garbage", live.tokens["applicant"][:-3] + "abc", ""):
        c = RoomClient(live.base_url, token=token)
        live.clients.append(c)
        with pytest.raises(SignalingFailure):
            await c.connect()


class _Subscriptions:
    """Stands in for the room's rules: only `stays` is still connected and admitted."""

    def __init__(self, stays: str) -> None:
        self.stays = stays

    def subscriptions(self) -> dict[str, set[str]]:
        return {self.stays: set()}


async def test_sync_media_survives_a_peer_removed_while_it_awaits(harness: Harness) -> None:
    """Found by bench/soak.py at shutdown: while `sync_media` awaited one leaver's removal, a
    disconnect (or the room closing) removed another peer, and the loop then asked the media
    room for that peer: UnknownParticipantError out of the disconnect handler."""
    from server.app import SIGNALING_KEY
    from server.rtc import MediaConfig, MediaRoom
    from signaling.live_room import LiveRoom

    service = harness.app[SIGNALING_KEY]
    media = MediaRoom("race", MediaConfig())
    try:
        for pid in ("leaver", "stays"):
            await media.add_peer(pid)
        plain_remove = media.remove_peer

        async def remove_and_race(pid: str) -> None:
            await plain_remove(pid)
            if pid == "leaver":
                await plain_remove("stays")  # the concurrent disconnect

        media.remove_peer = remove_and_race  # type: ignore[method-assign]
        live = LiveRoom(room=_Subscriptions("stays"), media=media)  # type: ignore[arg-type]
        await service.sync_media(live)
        assert media.participant_ids == []
    finally:
        await media.close()
