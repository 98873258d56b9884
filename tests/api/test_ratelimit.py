"""The login limiter: in-process and Redis-backed implementations behave alike, and with
redis_url set the application shares its counters across nodes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.app import create_app
from server.config import Settings
from server.security.ratelimit import LoginLimiter, RateLimiter, RedisRateLimiter, make_limiter
from server.state import STATE_KEY
from tests.conftest import PASSWORD, seed_staff


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[LoginLimiter]:
    if request.param == "memory":
        yield RateLimiter(3, 60)
        return
    url = request.getfixturevalue("redis_url")
    lim = RedisRateLimiter.from_url(url, 3, 60, prefix=f"test:{uuid.uuid4().hex}:")
    yield lim
    await lim.aclose()


async def test_sliding_window(limiter: LoginLimiter) -> None:
    t = 10_000.0
    assert await limiter.retry_after("k", now=t) == 0
    for i in range(3):
        await limiter.hit("k", now=t + i)
    # Three failures at t, t+1, t+2: blocked until the first ages out at t+60.
    assert await limiter.retry_after("k", now=t + 3) == pytest.approx(57, abs=0.01)
    assert await limiter.retry_after("other", now=t + 3) == 0
    assert await limiter.retry_after("k", now=t + 60.5) == 0
    # At t+61 the events at t and t+1 have aged out: one more failure is allowed...
    await limiter.hit("k", now=t + 61)
    assert await limiter.retry_after("k", now=t + 61) == 0
    # ...and the next one blocks until the event at t+2 ages out.
    await limiter.hit("k", now=t + 61.5)
    assert await limiter.retry_after("k", now=t + 61.5) == pytest.approx(0.5, abs=0.01)
    await limiter.reset("k")
    assert await limiter.retry_after("k", now=t + 61) == 0


async def test_below_limit_is_never_blocked(limiter: LoginLimiter) -> None:
    for i in range(2):
        await limiter.hit("k", now=500.0 + i)
        assert await limiter.retry_after("k", now=500.0 + i) == 0


async def test_acquire_counts_atomically_with_the_check(limiter: LoginLimiter) -> None:
    """Parallel acquisitions: exactly the limit are granted, the rest refused uncounted."""
    t = 20_000.0
    attempts = await asyncio.gather(*(limiter.acquire(["k"], now=t) for _ in range(20)))
    assert sum(a.granted for a in attempts) == limiter.max_events
    for a in attempts:
        assert a.granted or a.retry_after == pytest.approx(60, abs=0.01)
    # Refused attempts were not counted: the window frees up when the granted ones age out.
    assert await limiter.retry_after("k", now=t + 60.5) == 0


async def test_acquire_on_several_keys_is_all_or_nothing(limiter: LoginLimiter) -> None:
    t = 30_000.0
    for i in range(3):
        assert (await limiter.acquire(["ip", f"user{i}"], now=t + i)).granted
    # "ip" is full: an attempt on a fresh account is refused and counts against neither key.
    refused = await limiter.acquire(["ip", "user9"], now=t + 3)
    assert not refused.granted and refused.retry_after == pytest.approx(57, abs=0.01)
    assert await limiter.retry_after("user9", now=t + 3) == 0
    assert (await limiter.acquire(["user9"], now=t + 3)).granted
    assert (await limiter.acquire(["user9"], now=t + 3)).granted
    assert await limiter.retry_after("user9", now=t + 3) == 0


async def test_refund_takes_back_one_attempt(limiter: LoginLimiter) -> None:
    t = 40_000.0
    granted = [await limiter.acquire(["k"], now=t) for _ in range(3)]
    assert await limiter.retry_after("k", now=t) > 0
    await limiter.refund(granted[1])
    assert await limiter.retry_after("k", now=t) == 0
    assert (await limiter.acquire(["k"], now=t)).granted
    assert not (await limiter.acquire(["k"], now=t)).granted
    # Refunding a refused attempt, or one whose key was reset meanwhile, changes nothing.
    await limiter.refund(await limiter.acquire(["k"], now=t))
    assert await limiter.retry_after("k", now=t) > 0
    await limiter.reset("k")
    await limiter.refund(granted[0])
    assert await limiter.retry_after("k", now=t) == 0


async def test_redis_keys_expire(redis_url: str) -> None:
    import redis.asyncio as aioredis

    prefix = f"test:{uuid.uuid4().hex}:"
    lim = RedisRateLimiter.from_url(redis_url, 3, 30, prefix=prefix)
    await lim.hit("k")
    await lim.acquire(["a", "b"])
    client = aioredis.from_url(redis_url)
    try:
        for key in ("k", "a", "b"):
            ttl = await client.ttl(prefix + key)
            assert 0 < ttl <= 31
    finally:
        await client.aclose()
        await lim.aclose()


def test_make_limiter_selects_by_settings(tmp_path: Path) -> None:
    assert isinstance(make_limiter(Settings(data_dir=tmp_path)), RateLimiter)
    redis_settings = Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0")
    assert isinstance(make_limiter(redis_settings), RedisRateLimiter)


async def test_app_uses_redis_and_shares_throttling_across_nodes(
    tmp_path: Path, redis_url: str
) -> None:
    """Two application nodes on one database and one Redis: failures on one node throttle
    logins on the other (the in-process limiter could not)."""
    from aiohttp.test_utils import TestClient, TestServer

    secret = uuid.uuid4().hex
    shared = Settings(data_dir=tmp_path / "data", redis_url=redis_url, secret_key=secret)
    app1, app2 = create_app(shared), create_app(shared.model_copy())
    assert isinstance(app1[STATE_KEY].login_limiter, RedisRateLimiter)
    # Start from a clean Redis (other tests use their own prefixes, not the app's).
    import redis.asyncio as aioredis

    r = aioredis.from_url(redis_url)
    for key in await r.keys("shared-court:ratelimit:*"):
        await r.delete(key)
    await r.aclose()
    async with TestClient(TestServer(app1)) as c1, TestClient(TestServer(app2)) as c2:
        await seed_staff(app1)
        h = app1[STATE_KEY].settings.login_max_failures
        for _ in range(h):
            resp = await c1.post(
                "/api/auth/login", json={"username": "judge_a", "password": "wrong-one"}
            )
            assert resp.status == 401
        resp = await c2.post("/api/auth/login", json={"username": "judge_a", "password": PASSWORD})
        assert resp.status == 429
        assert (await resp.json())["error"]["code"] == "rate_limited"


async def test_redis_down_is_a_json_error_not_a_crash(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from tests.conftest import _free_port

    settings = Settings(data_dir=tmp_path / "d", redis_url=f"redis://127.0.0.1:{_free_port()}/0")
    app = create_app(settings)
    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/api/auth/login", json={"username": "a", "password": "b"})
        assert resp.status >= 500
        body = await resp.json()
        assert body["error"]["code"] and "Traceback" not in str(body)

