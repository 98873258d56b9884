"""The console's session list says how many wait in each room's lobby ("N 人等候").

The count comes from the rooms' saved state, so any node answers for a room another node holds,
and a room whose node went silent counts nobody."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from server.models import LiveRoomState
from server.state import STATE_KEY
from tests.conftest import StaffClient
from tests.signaling.conftest import LiveSession
from tests.signaling.test_lobby_and_media import ADMIT_REASON
from tests.support.waiting import eventually


async def listed_waiting(judge: StaffClient, session_id: str) -> int:
    resp = await judge.get("/api/sessions", params={"limit": "500"})
    assert resp.status == 200, await resp.text()
    (row,) = [s for s in await resp.json() if s["id"] == session_id]
    return int(row["waiting"])


async def test_the_list_counts_who_waits_in_the_lobby(live: LiveSession) -> None:
    judge = await live.harness.login("judge_a")
    assert await listed_waiting(judge, live.session_id) == 0
    mediator = await live.joined("mediator")
    applicant = await live.joined("applicant")
    await live.joined("respondent")
    await mediator.wait_until(lambda: len(mediator.lobby()) == 2, what="two in the lobby")

    async def waiting_is(n: int) -> bool:
        return await listed_waiting(judge, live.session_id) == n

    # Staff in the room are not waiting; the two parties are.
    await eventually(lambda: waiting_is(2), "two waiting")
    await mediator.call(
        "admit", {"participant_id": live.pids["respondent"], "override_reason": ADMIT_REASON}
    )
    await eventually(lambda: waiting_is(1), "one waiting after an admission")
    # Someone who gives up waiting (closes the page) no longer counts.
    await applicant.close()
    await eventually(lambda: waiting_is(0), "nobody waiting after the applicant left")


async def test_a_room_whose_node_went_silent_counts_nobody(live: LiveSession) -> None:
    judge = await live.harness.login("judge_a")
    await live.joined("mediator")
    await live.joined("applicant")

    async def one_waiting() -> bool:
        return await listed_waiting(judge, live.session_id) == 1

    await eventually(one_waiting, "one waiting")
    # The node holding the room stopped stamping it (it crashed): its sockets are gone too.
    # (The live node's own heartbeat may stamp it again between the two steps: then retry.)
    db = live.harness.app[STATE_KEY].db
    counts = []
    for _ in range(3):
        async with db.session() as s:
            await s.execute(
                update(LiveRoomState)
                .where(LiveRoomState.session_id == live.session_id)
                .values(alive_at=datetime.now(UTC) - timedelta(minutes=1))
            )
        counts.append(await listed_waiting(judge, live.session_id))
        if counts[-1] == 0:
            break
    assert counts[-1] == 0, counts
