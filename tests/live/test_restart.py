"""A server restart (SIGTERM and SIGKILL) during a live, recorded session with a caucus open.

Real `shared-court serve` processes on one data dir; participants are socket.io clients with the
real join links, in the default configuration (identity check required). After the restart the
session is still live, everyone who had a seat is back in their group without the lobby, the
recording resumed as a new segment whose sealed record and list entry carry the gap, and the
mediator is told.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from recording import verify_folder
from signaling.client import RoomClient, split_join_url
from tests.live.test_crash import CLI, Server, clerk_api, free_port

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data", free_port(), tmp_path / "server.log")
    yield srv
    srv.kill(signal.SIGTERM)


def seed(server: Server) -> dict[str, Any]:
    out = subprocess.run(
        [*CLI, "demo", "--json", "--base-url", server.base, "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    return dict(json.loads(out[out.index("{"):]))


def client(link: str) -> RoomClient:
    base, token = split_join_url(link)
    return RoomClient(base, token=token, video=None, audio=True)


async def before_restart(links: dict[str, Any]) -> tuple[dict[str, str], str]:
    mediator = client(links["mediator_link"])
    a = client(links["party_links"][0]["url"])
    b = client(links["party_links"][1]["url"])
    try:
        for c in (mediator, a, b):
            await c.connect()
            await c.join(consent=True)
        pids = {"mediator": mediator.participant_id or "", "a": a.participant_id or "",
                "b": b.participant_id or ""}
        await mediator.call("start_session")
        for who in ("a", "b"):
            # Unverified parties: admitted with a written reason (identity check required).
            await mediator.call("admit", {"participant_id": pids[who], "override_reason": "测试"})
        ack = await mediator.call(
            "caucus_open", {"groups": [{"name": "申请人", "members": [pids["a"]]}]}
        )
        (group,) = ack["groups"]
        await a.start_media()
        await mediator.wait_until(lambda: mediator.state.get("recording") is True,
                                  what="recording on")
        await asyncio.sleep(1.5)  # the saved state and a heartbeat land
        return pids, group
    finally:
        for c in (mediator, a, b):
            await c.close()


async def after_restart(
    server: Server, links: dict[str, Any], pids: dict[str, str], group: str
) -> dict[str, Any]:
    mediator = client(links["mediator_link"])
    notices: list[dict[str, Any]] = []
    mediator.sio.on("room_notice", lambda d: notices.append(d))
    a = client(links["party_links"][0]["url"])
    b = client(links["party_links"][1]["url"])
    try:
        for c in (a, mediator, b):
            await c.connect()
            room = await c.join(consent=True)
            # Straight back in: no lobby, no second admission.
            assert room["you"]["presence"] == "admitted", room["you"]
        await mediator.wait_until(
            lambda: mediator.state.get("recording") is True and bool(notices),
            what="recording resumed and the mediator told",
        )
        state = mediator.state
        assert state["started"] is True and state["in_caucus"] is True
        groups = {p["participant_id"]: p["group"] for p in state["participants"]}
        assert groups[pids["a"]] == group and groups[pids["b"]] == "main"
        assert notices[0]["reason"] == "server_restarted"
        assert "服务器中断" in notices[0]["message"]
        await a.start_media()
        await asyncio.sleep(2.0)
        api, _ = await clerk_api(server.base, links["clerk"])
        async with api:
            listed = await (await api.get("/api/recordings")).json()
        return {"recordings": [r for s in listed for r in s["recordings"]], "notice": notices[0]}
    finally:
        for c in (mediator, a, b):
            await c.close()


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_restart_keeps_the_room_and_resumes_recording(
    server: Server, tmp_path: Path, how: signal.Signals
) -> None:
    links = seed(server)
    server.start()
    pids, group = asyncio.run(before_restart(links))
    server.kill(how)
    server.start()
    result = asyncio.run(after_restart(server, links, pids, group))

    recs = sorted(result["recordings"], key=lambda r: r["started_at"])
    assert len(recs) == 2, recs
    first, second = recs
    # A clean stop seals the cut segment whole; a crash leaves it to start-up recovery.
    assert first["status"] == ("sealed" if how == signal.SIGTERM else "interrupted")
    assert first["gap_start"] is None
    assert second["status"] == "recording"
    gap_start = datetime.fromisoformat(second["gap_start"])
    gap_end = datetime.fromisoformat(second["gap_end"])
    assert datetime.fromisoformat(first["started_at"]) < gap_start < gap_end
    assert gap_end <= datetime.fromisoformat(second["started_at"])
    assert (gap_end - gap_start).total_seconds() < 60
    assert result["notice"]["gap_start"] == gap_start.isoformat()
    # The gap is in the new segment's sealed record: its first event-log entry.
    folder = server.data_dir / "recordings" / second["folder"]
    opened = json.loads((folder / "events.jsonl").read_text().splitlines()[0])
    resumed = opened["payload"]["resumed_after"]
    assert resumed["cause"] == ("server_shutdown" if how == signal.SIGTERM else "server_crash")
    assert datetime.fromisoformat(resumed["gap_start"]) == gap_start
    cut = server.data_dir / "recordings" / first["folder"]
    cut_events = [json.loads(line)["type"] for line in (cut / "events.jsonl").read_text().splitlines()]
    assert ("server.shutdown" in cut_events) == (how == signal.SIGTERM)
    assert verify_folder(cut).ok
