"""Events a client should never be able to send as events, and payload shapes socket.io allows
but no event takes (found by bench/fuzz_signaling.py): an error ack, no server error, nobody
loses their seat."""

from __future__ import annotations

import logging

import pytest

from tests.agreements.helpers import admitted_room
from tests.signaling.conftest import LiveSession


def _server_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_client_events_named_connect_or_disconnect_change_nothing(
    live: LiveSession, caplog: pytest.LogCaptureFixture
) -> None:
    mediator, applicant, respondent = await admitted_room(live)
    for name, payload in (("disconnect", {"x": 1}), ("disconnect", -1135), ("connect", [1])):
        ack = await applicant.sio.call(name, payload, timeout=5)
        assert ack["ok"] is False and ack["error"]["code"] == "unknown_event", (name, ack)
    # The applicant still holds their seat and acts through the same socket.
    await applicant.call("chat", {"text": "我还在"})
    await respondent.wait_until(lambda: any(m["text"] == "我还在" for m in respondent.chat))
    assert (mediator.participant(live.pids["applicant"]) or {}).get("presence") == "admitted"
    assert not _server_errors(caplog)


async def test_an_event_with_several_arguments_is_refused(
    live: LiveSession, caplog: pytest.LogCaptureFixture
) -> None:
    _mediator, applicant, _respondent = await admitted_room(live)
    ack = await applicant.sio.call("chat", ({"text": "a"}, {"text": "b"}), timeout=5)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_payload"
    assert not _server_errors(caplog)


async def test_an_offer_whose_bundle_names_missing_mids_is_refused(
    live: LiveSession, caplog: pytest.LogCaptureFixture
) -> None:
    mediator, _applicant, _respondent = await admitted_room(live)
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2 3\r\n"
        "a=msid-semantic:WMS *\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n"
        "a=rtcp-mux\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
        "a=fingerprint:sha-256 "
        + ":".join(["AB"] * 32)
        + "\r\na=setup:actpass\r\na=rtpmap:111 opus/48000/2\r\n"
    )
    ack = await mediator.sio.call("offer", {"type": "offer", "sdp": sdp}, timeout=10)
    assert ack["ok"] is False and ack["error"]["code"] == "media_error", ack
    assert "BUNDLE" in ack["error"]["message"]
    assert not _server_errors(caplog)
