"""Fixtures for media tests: a real MediaRoom with in-process signaling to real aiortc clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from server.rtc import MediaConfig, MediaRoom
from server.rtc.loopback import LoopbackSignaling
from tests.support.waiting import eventually as shared_eventually

# Half the usual frame rate keeps four encoders and twelve decoders affordable on two shared
# cores; the resolution stays 640x480.
TEST_FPS = 15.0


@pytest.fixture
async def room() -> AsyncIterator[MediaRoom]:
    media_room = MediaRoom("test-room", MediaConfig())
    yield media_room
    await media_room.close()


@pytest.fixture
async def signaling(room: MediaRoom) -> AsyncIterator[LoopbackSignaling]:
    loopback = LoopbackSignaling(room)
    yield loopback
    await loopback.close()
    assert not loopback.errors, loopback.errors


async def eventually(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll `predicate` until it holds; fail after `timeout_s`."""
    await shared_eventually(predicate, "condition", timeout_s)
