"""Floods and idle connections (attack regression tests, default configuration): a chat flood
is refused beyond a rate and nothing the room saw is missing from the sealed record; sockets
that never join, refused ones, and more than an address may hold are closed."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import engineio
import pytest
from sqlalchemy import select

from server.app import SIGNALING_KEY
from server.models import Recording
from server.state import STATE_KEY
from signaling.client import SignalingFailure
from tests.agreements.helpers import admitted_room
from tests.signaling.conftest import LiveSession


async def _healthz_seconds(live: LiveSession) -> float:
    client = await live.harness.anon()
    t0 = time.monotonic()
    resp = await client.get("/healthz")
    assert resp.status == 200
    return time.monotonic() - t0


async def _sealed_events(live: LiveSession) -> list[dict[str, Any]]:
    state = live.harness.app[STATE_KEY]
    for _ in range(200):
        async with state.db.session() as db:
            row = await db.scalar(select(Recording).where(Recording.session_id == live.session_id))
        if row is not None and row.status.value == "sealed":
            folder = Path(state.settings.effective_recordings_dir) / row.folder
            return [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
        await asyncio.sleep(0.1)
    raise AssertionError("the session was not sealed")


async def test_chat_flood_is_refused_and_the_record_misses_nothing(live: LiveSession) -> None:
    mediator, applicant, respondent = await admitted_room(live)
    await mediator.call("start_session")

    async def send(i: int) -> str:
        try:
            await applicant.call("chat", {"text": f"flood {i}"}, timeout=30)
            return "ok"
        except SignalingFailure as exc:
            return exc.code

    results = await asyncio.gather(*(send(i) for i in range(1500)), _healthz_seconds(live))
    codes = results[:-1]
    assert results[-1] < 5.0, f"/healthz took {results[-1]:.1f} s during the flood"
    accepted = codes.count("ok")
    assert set(codes) <= {"ok", "rate_limited"}, set(codes)
    assert 0 < accepted < 200, accepted
    # Every message anyone received is in the sealed event log, and the other way round.
    await respondent.wait_until(lambda: len(respondent.chat) >= accepted, timeout=20)
    await mediator.call("end_session", {"outcome": "failed"})
    logged = [e for e in await _sealed_events(live) if e.get("type") == "chat.message"]
    delivered = {m["text"] for m in respondent.chat}
    assert {e["payload"]["text"] for e in logged} == delivered
    assert len(delivered) == accepted


async def test_sockets_that_never_join_are_closed(live: LiveSession) -> None:
    service = live.harness.app[SIGNALING_KEY]
    service.guard.join_timeout_s = 1.0
    idle = live.client("applicant")
    await idle.connect()  # authenticated, but never joins
    deadline = time.monotonic() + 5
    while idle.sio.connected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not idle.sio.connected, "an idle socket stayed open"
    # A socket that joins in time stays.
    member = await live.joined("respondent")
    await asyncio.sleep(1.5)
    assert member.sio.connected


async def _raw(live: LiveSession) -> tuple[engineio.AsyncClient, asyncio.Event]:
    """A bare engine.io connection (what a script opens): nothing behind it."""
    eio = engineio.AsyncClient()
    closed = asyncio.Event()
    eio.on("disconnect", lambda *a: closed.set())
    await eio.connect(live.base_url, engineio_path="socket.io", transports=["websocket"])
    return eio, closed


async def test_refused_connections_are_closed_by_the_server(live: LiveSession) -> None:
    service = live.harness.app[SIGNALING_KEY]
    before = service.guard.open_connections
    eio, closed = await _raw(live)
    # socket.io CONNECT with a forged token: refused, then the transport is closed for us.
    await eio.send('0{"token":"join.forged.token"}')
    await asyncio.wait_for(closed.wait(), timeout=5)
    for _ in range(50):
        if service.guard.open_connections == before:
            break
        await asyncio.sleep(0.05)
    assert service.guard.open_connections == before


async def test_one_address_holds_a_bounded_number_of_connections(live: LiveSession) -> None:
    service = live.harness.app[SIGNALING_KEY]
    service.guard.per_address = service.guard.open_connections + 3
    opened: list[engineio.AsyncClient] = []
    refused = 0
    try:
        for _ in range(6):
            try:
                eio, _closed = await _raw(live)
                opened.append(eio)
            except engineio.exceptions.ConnectionError:
                refused += 1
        assert len(opened) == 3 and refused == 3
        # The server stays healthy, and a real participant still gets in once one closes.
        assert await _healthz_seconds(live) < 3
        await opened.pop().disconnect()
        await asyncio.sleep(0.3)
        member = await live.joined("applicant")
        assert member.sio.connected
    finally:
        for eio in opened:
            await eio.disconnect()


@pytest.fixture(autouse=True)
def _quiet_engineio_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="engineio")
