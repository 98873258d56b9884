"""A slice of bench/fuzz_signaling.py in CI: the same generator and checks, ~300 examples.

The room is the bench's (mediator, two parties admitted unverified with a reason, a village
terminal, the session started, applicant and terminal exchanging video), on the test harness's
live server, with the per-participant event rate limit raised so the examples reach the
handlers. Zero internal errors (internal acks, missing acks, server log records with a
traceback) and a healthy room afterwards.

The fuzz found three server bugs (`KNOWN_BUGS`, all fixed since); the slice sends their
triggers again, and each has its own regression test below.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bench._fuzz import (
    Context,
    FuzzRoom,
    LogWatch,
    check_health,
    fuzz,
    open_room,
    real_sdps,
    report_lines,
)
from server.app import SIGNALING_KEY
from server.config import Settings
from tests.signaling.conftest import LiveSession

EXAMPLES = 300
SEED = 20261202
EXCLUDED: frozenset[str] = frozenset()  # every known bug is fixed: nothing left out


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # As the bench's server: the rate limit would refuse most examples before any parsing.
    return settings.model_copy(update={"event_burst": 1_000_000, "events_per_second": 1e6})


@pytest.fixture
def logs() -> Iterator[LogWatch]:
    watch = LogWatch()
    handler = watch.handler()
    root = logging.getLogger()
    root.addHandler(handler)
    yield watch
    root.removeHandler(handler)


def _tokens(live: LiveSession) -> dict[str, str]:
    return {r: live.tokens[r] for r in ("mediator", "applicant", "respondent", "terminal")}


async def _room(live: LiveSession) -> FuzzRoom:
    room = await open_room(live.base_url, _tokens(live), fps=10.0)
    live.clients.extend(room.clients.values())  # closed by the fixture
    return room


def _events(live: LiveSession) -> dict[str, Any]:
    events = live.harness.app[SIGNALING_KEY].events
    return {name: model for name, (model, _fn) in events.items()}


@pytest.mark.timeout(120)
async def test_fuzz_slice(live_terminal: LiveSession, logs: LogWatch) -> None:
    room = await _room(live_terminal)
    offers, answers = await real_sdps(room)
    events = _events(live_terminal)
    ctx = Context(events=events, pids=room.pids, sdp_offers=offers, sdp_answers=answers,
                  exclude=EXCLUDED)
    tally = await fuzz(room, ctx, logs, EXAMPLES, SEED)
    health = await check_health(room, tally)
    report = "\n".join(report_lines(tally, health, events))
    assert tally.sent == EXAMPLES, report
    # Every registered event was tried (a plugin's new event is fuzzed without a change here).
    assert set(events) <= set(tally.per_event), report
    assert tally.internal_errors == 0, report
    assert tally.count("seat_lost") == 0, report
    assert health.healthy, report


# ---- the bugs it found, fixed -------------------------------------------------------------

async def _emit(client: Any, event: str, args: Any, timeout: float = 2.0) -> Any:
    try:
        return await client.sio.call(event, args, timeout=timeout)
    except Exception as exc:
        return exc


async def test_extra_positional_arguments_get_an_error_ack(
    live_terminal: LiveSession, logs: LogWatch
) -> None:
    mediator = await live_terminal.joined("mediator")
    ack = await _emit(mediator, "lobby_status", ({}, 1))
    await asyncio.sleep(0.2)
    assert isinstance(ack, dict) and ack.get("ok") is False, ack
    assert logs.bad == []


async def test_lifecycle_event_names_from_a_client_change_nothing(
    live_terminal: LiveSession, logs: LogWatch
) -> None:
    mediator = await live_terminal.joined("mediator")
    await _emit(mediator, "disconnect", {"x": 1}, timeout=1.0)
    await _emit(mediator, "connect", None, timeout=1.0)
    await asyncio.sleep(0.2)
    assert mediator.sio.connected
    ack = await _emit(mediator, "lobby_status", {})
    assert isinstance(ack, dict) and ack.get("ok") is True, ack
    assert logs.bad == []


async def test_offer_bundling_an_unknown_mid_is_refused_cleanly(
    live_terminal: LiveSession, logs: LogWatch
) -> None:
    room = await _room(live_terminal)
    offers, _ = await real_sdps(room)
    bad = next(o for o in offers if "a=group:BUNDLE 0 1" in o).replace(
        "a=group:BUNDLE 0 1", "a=group:BUNDLE 9 0 1", 1)
    mediator = room.clients["mediator"]
    for _ in range(2):  # the second offer replaces (closes) the first one's peer
        ack = await _emit(mediator, "offer", {"sdp": bad, "type": "offer"}, timeout=10.0)
        assert isinstance(ack, dict) and ack.get("ok") is False, ack
    await asyncio.sleep(0.5)
    assert logs.bad == [], [r.text for r in logs.bad]


# ---- found by the bench: retired m-lines piling up ---------------------------------------

REOFFERS = 30


@pytest.mark.timeout(120)
async def test_reoffers_leave_other_connections_renegotiable(live_terminal: LiveSession) -> None:
    room = await _room(live_terminal)
    offers, _ = await real_sdps(room)
    # A publisher's offer (video and audio it sends), as a client makes on every reconnect.
    offer = next(o for o in offers if "m=video" in o and "m=audio" in o and "a=sendonly" in o)
    mediator = room.clients["mediator"]
    for _ in range(REOFFERS):
        ack = await _emit(mediator, "offer", {"sdp": offer, "type": "offer"}, timeout=15.0)
        assert isinstance(ack, dict) and ack.get("ok") is True, ack
        await asyncio.sleep(0.1)  # let the others' renegotiation go through, as reconnects do
    await asyncio.sleep(2.0)
    media = live_terminal.harness.app[SIGNALING_KEY].rooms[live_terminal.session_id].media
    applicant = room.clients["applicant"]
    assert applicant.media is not None
    m_lines = len(applicant.media.pc.getTransceivers())
    server_side = media.peer(room.pids["applicant"]).pc.signalingState
    # The applicant's own two m-lines, the terminal's two, the mediator's latest two, and room
    # for a few retired ones: not two more per reconnect, forever.
    assert m_lines <= 12 and server_side == "stable", (m_lines, server_side)
