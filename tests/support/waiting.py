"""One bounded wait for the tests: poll a condition (plain or async) until it holds, or fail
saying what was awaited. Things that settle after the call returns (room end hooks, saved room
states, forwarded frames) are awaited with it, never with a bare sleep."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], bool | Awaitable[bool]],
    what: str = "condition",
    timeout_s: float = 10.0,
    interval_s: float = 0.05,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        held = check()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(interval_s)
