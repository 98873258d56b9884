from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Harness
from tests.court_network.net import build_net


@pytest.fixture
async def h2(harness: Harness) -> AsyncIterator[tuple[Harness, Any]]:
    yield harness, await build_net(harness)
