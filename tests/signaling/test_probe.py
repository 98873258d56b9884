"""`shared-court probe --admit-all`: a line check admits whoever waits, again after they left."""

from __future__ import annotations

import argparse
import asyncio

from signaling.probe import add_arguments, run_probe
from tests.signaling.conftest import LiveSession


def probe_args(link: str, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args([link, *extra])


async def test_admit_all_readmits_a_participant_who_left_and_came_back(
    live: LiveSession,
) -> None:
    link = f"{live.base_url}/join/{live.tokens['mediator']}"
    probe = asyncio.create_task(
        run_probe(probe_args(link, "--admit-all", "--seconds", "25", "--no-video",
                             "--ice-address", "127.0.0.1"))
    )
    try:
        for attempt in range(2):
            party = live.client("applicant", video=None)
            await party.connect()
            await party.join(consent=True)
            # Default configuration: identity check required, so this is the logged override.
            await party.wait_until(
                lambda p=party: p.presence == "admitted", timeout=15,  # type: ignore[misc]
                what=f"admission #{attempt + 1}",
            )
            await party.call("leave")
            await party.close()
    finally:
        probe.cancel()
        await asyncio.gather(probe, return_exceptions=True)
