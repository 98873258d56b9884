"""Malformed, forged, relabelled and expired tokens on every route that takes one.

Each must get that route's ordinary "invalid link" answer (401, or 403/404 where the route
already says so), never a 500 or a logged traceback; a socket.io connect with such a token must
be refused at once with a `connect_error` whose code is `link_invalid` (`link_expired` when the
token is genuine but expired).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from server.archive.links import LINK_KIND, sign_link
from server.security.tokens import TokenError, TokenSigner
from server.state import STATE_KEY
from signaling.client import RoomClient, SignalingFailure
from tests.api.world import build_world, terminal_token
from tests.conftest import Harness
from tests.signaling.conftest import LiveSession, make_session

KINDS = ("join", "term", LINK_KIND, "intake", "edu")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64json(value: Any) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def old_format(secret: bytes, kind: str, payload: dict[str, Any]) -> str:
    """A token in the hand-written format used before PyJWT; it must no longer be accepted."""
    body = _b64json({**payload, "exp": int(time.time() + 3600)})
    key = hashlib.sha256(b"shared-court/" + kind.encode() + b"/" + secret).digest()
    sig = _b64(hmac.new(key, f"{kind}.{body}".encode(), hashlib.sha256).digest())
    return f"{kind}.{body}.{sig}"


# Strings that are not tokens at all, whatever the route.
GARBAGE: list[str] = [
    "join.测试.签名",  # the reported crash
    "测试",
    "ｊｏｉｎ．ａ．ｂ",  # full-width letters and dots
    "eyJhbGciOiJIUzI1NiJ9.测试.签名",
    "join.e30.AAAA",
    "a..",
    "..b",
    "a.b.c.d",
    ".a.",
    "....",
    "None",
    "null",
    "undefined",
    "true",
    "0",
    "-1",
    "[]",
    "{}",
    '""',
    '{"inv":"x","sid":"y","exp":9999999999}',
    '{"alg":"none"}',
    _b64json({"alg": "none"}) + "." + _b64json({"exp": 9999999999}) + ".",
    "%00",
    "%E6%B5%8B",
    "\\u6d4b",
    "a" * 3000,  # over the length cap, yet short enough for an HTTP request line
]
# Only for transports without a request-line limit (socket.io auth, direct calls).
DOT_ONLY = [".", "..", "..."]


def variants(signer: TokenSigner, kind: str, good: str, payload: dict[str, Any]) -> list[str]:
    """Damaged versions of a genuine token, and well-signed tokens of the wrong kind."""
    head, body, sig = good.split(".")
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError:
        header = {"alg": "HS256"}  # a token that is no JWT (the format before PyJWT)
    relabelled = {**header, "typ": "x"}
    out = [
        f"{head}.{body}.{flipped}",
        f"{head}.{body}.",
        f"{head}.{body}",
        f"{head}..{sig}",
        f".{body}.{sig}",
        f"{head}.{body}.签名",  # a non-ASCII signature crashed the comparison
        f"{head}.{body}测.{sig}",
        good + "é",
        good + ".",
        good.replace(".", "。"),
        f"{_b64json(relabelled)}.{body}.{sig}",
        f"{_b64json({'alg': 'none', 'typ': kind})}.{body}.",
        f"{_b64json({'alg': 'HS512', 'typ': kind})}.{body}.{sig}",
        old_format(signer.secret, kind, payload),
        TokenSigner(b"another-secret").sign(kind, payload, time.time() + 3600),
    ]
    for other in KINDS:
        if other != kind:
            out.append(signer.sign(other, payload, time.time() + 3600))
    return out


@dataclass
class Use:
    """One place a token is accepted: how to present it and what refusal looks like."""

    name: str
    kind: str
    send: Callable[[Any, str], Any]  # (client, token) -> response awaitable
    status: int
    invalid: set[str]  # error codes of an invalid token
    expired: set[str]
    in_path: bool = False


def _path(prefix: str) -> Callable[[Any, str], Any]:
    return lambda client, token: client.get(prefix + quote(token, safe=""))


def _bearer(path: str) -> Callable[[Any, str], Any]:
    return lambda client, token: client.get(path, headers={"Authorization": f"Bearer {token}"})


USES = [
    Use("join", "join", _path("/api/join/"), 401, {"link_invalid"}, {"link_expired"}, True),
    Use(
        "terminal",
        "term",
        _bearer("/api/terminal/schedule"),
        401,
        {"token_malformed", "token_bad_signature"},
        {"token_expired"},
    ),
    Use(
        "download",
        LINK_KIND,
        _path("/api/recordings/download/"),
        403,
        {"link_invalid"},
        {"link_expired"},
        True,
    ),
    Use(
        "intake",
        "intake",
        _bearer("/api/network/my-intake"),
        401,
        {"token_malformed", "token_bad_signature"},
        {"token_expired"},
    ),
    # The education media link answers "not found" for any bad link, by design.
    Use(
        "education",
        "edu",
        _path("/api/network/education-media/"),
        404,
        {"not_found"},
        {"not_found"},
        True,
    ),
]


async def _code(resp: Any) -> str:
    try:
        body = await resp.json()
    except Exception:
        return ""
    err = body.get("error") if isinstance(body, dict) else None
    return str(err.get("code", "")) if isinstance(err, dict) else ""


def _no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad]


async def _genuine(h: Harness, kind: str) -> tuple[str, dict[str, Any]]:
    """A genuine token of each kind, and the payload to sign variants with."""
    signer = h.app[STATE_KEY].signer
    if kind == "join":
        w = await build_world(h)
        token = str(w.invite_a["token"])
        return token, signer.verify("join", token)
    if kind == "term":
        w = await build_world(h)
        token = await terminal_token(await h.anon(), w.terminal_a_key)
        return token, signer.verify("term", token)
    if kind == LINK_KIND:
        token, _ = sign_link(
            signer, user_id=h.seed.users["judge_a"], target="archive", recording_id="0" * 32
        )
        return token, signer.verify(LINK_KIND, token)
    payload = {"iid": "0" * 32} if kind == "intake" else {"item": "0" * 32}
    return signer.sign(kind, payload, time.time() + 3600), payload


@pytest.mark.parametrize("use", USES, ids=[u.name for u in USES])
async def test_bad_tokens_get_the_routes_refusal(
    harness: Harness, use: Use, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    signer = harness.app[STATE_KEY].signer
    good, payload = await _genuine(harness, use.kind)
    payload = {k: v for k, v in payload.items() if k != "exp"}
    anon = await harness.anon()
    for token in GARBAGE + variants(signer, use.kind, good, payload):
        resp = await use.send(anon, token)
        code = await _code(resp)
        if use.in_path and ("{" in token or "}" in token):
            # aiohttp's router does not match braces in a path parameter: a plain 404.
            assert (resp.status, code) == (404, "not_found"), token
            continue
        assert (resp.status, code in use.invalid) == (use.status, True), (token, code)
    expired = signer.sign(use.kind, payload, time.time() - 5)
    resp = await use.send(anon, expired)
    assert (resp.status, await _code(resp) in use.expired) == (use.status, True)
    _no_errors_logged(caplog)
    # 10 KB does not fit aiohttp's request line / header field limit (8190 bytes): its HTTP
    # parser answers 400 before any handler runs, and logs that LineTooLong at ERROR level
    # itself. That log is the parser's, for any over-long request; no token code is involved
    # (the socket.io test below sends the same 10 KB tokens through to the token check).
    caplog.clear()
    for huge in ("A" * 10240, good + "A" * 10240, "测" * 3500):
        resp = await use.send(anon, huge)
        # (Should the limits ever be raised, the route's own refusal is as good.)
        assert resp.status in (400, use.status), (resp.status, huge[:20])
    for record in caplog.records:
        assert record.name == "aiohttp.server" and record.exc_info, record.getMessage()
        assert type(record.exc_info[1]).__name__ == "LineTooLong", record.exc_info


async def test_genuine_tokens_still_pass_the_token_check(harness: Harness) -> None:
    """Sanity for the test above: a genuine token gets past the signature check, so the
    refusals there are about the token, not about the route."""
    anon = await harness.anon()
    for use, past in zip(USES[:4], ({200}, {200}, {404}, {401}), strict=True):
        good, _ = await _genuine(harness, use.kind)
        resp = await use.send(anon, good)
        assert resp.status in past, (use.name, resp.status, await resp.text())
        assert await _code(resp) not in use.invalid | use.expired, use.name


def test_signer_raises_only_token_error() -> None:
    signer = TokenSigner(b"unit-test-secret")
    for kind in KINDS:
        payload = {"x": "y"}
        good = signer.sign(kind, payload, time.time() + 60)
        assert signer.verify(kind, good)["x"] == "y"
        for token in [*GARBAGE, *DOT_ONLY, "", "A" * 10240, good + "A" * 10240]:
            with pytest.raises(TokenError) as exc:
                signer.verify(kind, token)
            assert exc.value.reason == "malformed", token
        for token in variants(signer, kind, good, payload):
            with pytest.raises(TokenError) as exc:
                signer.verify(kind, token)
            assert exc.value.reason in ("malformed", "bad_signature"), token
        with pytest.raises(TokenError) as exc:
            signer.verify(kind, signer.sign(kind, payload, time.time() - 1))
        assert exc.value.reason == "expired"
        # Not a string at all (a JSON body or socket.io auth can carry anything).
        for odd in (None, 0, b"abc", ["a"], {"token": good}):
            with pytest.raises(TokenError):
                signer.verify(kind, odd)  # type: ignore[arg-type]


def test_expiry_against_an_explicit_now() -> None:
    signer = TokenSigner(b"unit-test-secret")
    token = signer.sign("join", {"inv": "i"}, 2_000_000_000)
    assert signer.verify("join", token, now=1_999_999_999)["inv"] == "i"
    with pytest.raises(TokenError) as exc:
        signer.verify("join", token, now=2_000_000_001)
    assert exc.value.reason == "expired"


def test_join_tokens_are_deterministic_and_kind_bound() -> None:
    """Invites re-derive their link from the row, so signing twice must give the same token."""
    signer = TokenSigner(b"unit-test-secret")
    payload = {"inv": "a" * 32, "sid": "b" * 32}
    assert signer.sign("join", payload, 2e9) == signer.sign("join", payload, 2e9)
    assert signer.sign("join", payload, 2e9) != signer.sign("term", payload, 2e9)


@pytest.fixture
async def live(harness: Harness) -> AsyncIterator[LiveSession]:
    session_id, tokens, pids = await make_session(harness)
    base = str(harness.server.make_url("/")).rstrip("/")
    ls = LiveSession(harness, base, session_id, tokens, pids, [])
    yield ls
    for c in ls.clients:
        with contextlib.suppress(Exception):
            await c.close()


async def _refused_fast(live: LiveSession, auth_token: Any) -> str:
    client = RoomClient(live.base_url)
    client.token = auth_token
    live.clients.append(client)
    started = time.monotonic()
    with pytest.raises(SignalingFailure) as exc:
        async with asyncio.timeout(5):
            await client.connect()
    elapsed = time.monotonic() - started
    assert elapsed < 3, (auth_token, elapsed)
    return exc.value.code


async def test_socketio_connect_is_refused_at_once(
    live: LiveSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    signer = live.harness.app[STATE_KEY].signer
    good = live.tokens["applicant"]
    payload = {k: v for k, v in signer.verify("join", good).items() if k != "exp"}
    bad = [*GARBAGE, *DOT_ONLY, "A" * 10240, good + "A" * 10240, "测" * 3500]
    bad += variants(signer, "join", good, payload)
    for token in bad:
        assert await _refused_fast(live, token) == "link_invalid", token
    expired = signer.sign("join", payload, time.time() - 5)
    assert await _refused_fast(live, expired) == "link_expired"
    # Not a string at all: treated as "no join link" (then no staff login either), promptly.
    for odd in (None, 0, ["x"], {"token": good}):
        assert await _refused_fast(live, odd) in ("unauthenticated", "link_invalid"), odd
    _no_errors_logged(caplog)
    # The genuine link still connects.
    ok = RoomClient(live.base_url, token=good)
    live.clients.append(ok)
    await ok.connect()
