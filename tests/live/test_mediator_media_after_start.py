"""Regression: a mediator publishing before the session starts (recording taps added later)
is still forwarded to parties admitted afterwards."""

from __future__ import annotations

from tests.signaling.conftest import LiveSession

# Default configuration (identity check required): unverified parties are admitted with the
# mediator's written reason, as the court rules demand.
ADMIT_REASON = "测试：身份未核验，调解员书面准许 / test: admitted unverified with a reason"


async def test_mediator_media_reaches_parties_after_start(live: LiveSession) -> None:
    mediator = await live.joined("mediator")
    await mediator.start_media()
    import asyncio
    await asyncio.sleep(1)
    await mediator.call("start_session")
    applicant = await live.joined("applicant")
    await mediator.wait_until(lambda: len(mediator.lobby()) == 1)
    await mediator.call(
        "admit", {"participant_id": live.pids["applicant"], "override_reason": ADMIT_REASON}
    )
    await applicant.wait_until(lambda: applicant.presence == "admitted")
    await applicant.start_media()
    assert applicant.media is not None and mediator.media is not None
    await mediator.media.wait_for_frames(live.pids["applicant"], "video", 10, timeout_s=20)
    await applicant.media.wait_for_frames(live.pids["mediator"], "video", 10, timeout_s=20)
