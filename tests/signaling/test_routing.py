"""Room ownership across nodes, against a real redis-server."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiohttp.test_utils import TestServer

from server.app import SIGNALING_KEY, create_app
from server.config import Settings
from signaling.client import RoomClient, SignalingFailure
from signaling.routing import RedisRouter
from tests.signaling.conftest import LiveSession


async def test_only_one_node_owns_a_room(redis_url: str) -> None:
    room = uuid.uuid4().hex
    a = RedisRouter(redis_url, "node-a", lease_seconds=1.0)
    b = RedisRouter(redis_url, "node-b", lease_seconds=1.0)
    try:
        assert await a.claim(room) == "node-a"
        assert await b.claim(room) == "node-a"
        assert await a.claim(room) == "node-a"  # idempotent for the owner
        # The owner keeps renewing: the lease outlives its nominal length.
        await asyncio.sleep(1.5)
        assert await b.claim(room) == "node-a"
        await a.release(room)
        assert await b.claim(room) == "node-b"
        # A release by a non-owner does not free the room.
        await a.release(room)
        assert await a.claim(room) == "node-b"
    finally:
        await a.close()
        await b.close()


async def test_lease_of_a_dead_node_expires(redis_url: str) -> None:
    room = uuid.uuid4().hex
    a = RedisRouter(redis_url, "node-a", lease_seconds=0.5)
    b = RedisRouter(redis_url, "node-b", lease_seconds=0.5)
    try:
        assert await a.claim(room) == "node-a"
        assert a._renewer is not None
        a._renewer.cancel()  # node A freezes: no more renewals
        await asyncio.sleep(0.8)
        assert await b.claim(room) == "node-b"
    finally:
        a._owned.clear()
        await a.close()
        await b.close()


async def test_second_node_refuses_a_room_the_first_one_serves(
    live: LiveSession, redis_url: str, settings: Settings, tmp_path: object
) -> None:
    # Node 1 is the harness app switched to Redis routing for this test.
    service = live.harness.app[SIGNALING_KEY]
    node1 = RedisRouter(redis_url, "node-1")
    service.router = node1
    mediator = await live.joined("mediator")
    assert mediator.presence == "admitted"

    # Node 2: another process-equivalent app on the same database and Redis.
    node2_settings = settings.model_copy(update={"redis_url": redis_url, "node_name": "node-2"})
    app2 = create_app(node2_settings)
    server2 = TestServer(app2)
    await server2.start_server()
    try:
        c = RoomClient(str(server2.make_url("/")).rstrip("/"), token=live.tokens["applicant"])
        live.clients.append(c)
        await c.connect()
        with pytest.raises(SignalingFailure) as exc:
            await c.join()
        assert exc.value.code == "wrong_node" and "node-1" in exc.value.message
    finally:
        await server2.close()
        await node1.close()
