"""Logins against hostile clients: parallel guessing cannot outrun the limit, refused logins
cannot exhaust the database pool, and a garbage session cookie costs no database query.

Every application here runs on a deliberately small pool (3 connections, 10 s timeout), so a
request that holds one connection while waiting for a second shows up as a stall or a 500.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher
from sqlalchemy import event, select

import server.db
from server.app import create_app
from server.config import Settings
from server.models import AuditEvent
from server.security import passwords
from server.state import STATE_KEY
from tests.api import test_postgres
from tests.api.world import create_terminal
from tests.conftest import Harness, seed_staff

# Reuse the PostgreSQL fixtures (a throw-away cluster, a fresh database per test).
postgres_admin_url = test_postgres.postgres_admin_url
postgres_url = test_postgres.postgres_url

POOL = {"pool_size": 3, "max_overflow": 0, "pool_timeout": 10}
PARALLEL = 40
# Well above what a healthy server needs, well below the pool timeout a stall would cost.
PROMPT_S = 5.0
GARBAGE_COOKIES = ["x", "garbage!", "a" * 42, "a" * 44, "é" * 43, "../" * 15, "'; --" * 9]


class CountingHasher(PasswordHasher):
    """The tests' cheap argon2id, counting verifications (one per evaluated password/key)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verifications += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(passwords, "_hasher", counting)
    return counting


@pytest.fixture
def small_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = server.db.create_async_engine

    def small(url: str, **kw: Any) -> Any:
        return real(url, **{**kw, **POOL})

    monkeypatch.setattr(server.db, "create_async_engine", small)
    yield


async def _clear_redis(url: str) -> None:
    import redis.asyncio as aioredis

    r = aioredis.from_url(url)
    try:
        for key in await r.keys("shared-court:ratelimit:*"):
            await r.delete(key)
    finally:
        await r.aclose()


async def _harness(settings: Settings) -> AsyncIterator[Harness]:
    app = create_app(settings)
    assert app[STATE_KEY].db.engine.pool.size() == POOL["pool_size"]  # type: ignore[attr-defined]
    srv = TestServer(app)
    await srv.start_server()
    h = Harness(app, srv, await seed_staff(app))
    try:
        yield h
    finally:
        for c in h._clients:
            await c.close()
        await srv.close()


@pytest.fixture(params=["memory", "redis"])
async def limited(
    request: pytest.FixtureRequest, settings: Settings, small_pool: None
) -> AsyncIterator[Harness]:
    """A small-pool application with the in-process limiter, or with the Redis one."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        await _clear_redis(url)
        settings = settings.model_copy(update={"redis_url": url})
    async for h in _harness(settings):
        yield h


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Empty (SQLite in the data directory) or a fresh PostgreSQL database."""
    # Resolved in a plain fixture: an async one cannot pull in another async fixture.
    return str(request.getfixturevalue("postgres_url")) if request.param == "postgres" else ""


@pytest.fixture
async def pooled(tmp_path: Path, database_url: str, small_pool: None) -> AsyncIterator[Harness]:
    """A small-pool application on SQLite, or on PostgreSQL."""
    settings = Settings(
        data_dir=tmp_path / "data", public_url="http://court.test", database_url=database_url
    )
    async for h in _harness(settings):
        yield h


async def _audit_count(h: Harness, action: str) -> int:
    async with h.app[STATE_KEY].db.session() as s:
        rows = await s.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return len(list(rows))


def _check_refusals(statuses: list[tuple[int, dict[str, Any], str | None]], limit: int) -> int:
    """Every answer is a 401 (evaluated, wrong) or a 429 (refused unevaluated, with
    Retry-After), never a 500; returns the number of 401s."""
    counts: dict[int, int] = {}
    for status, body, retry_after in statuses:
        counts[status] = counts.get(status, 0) + 1
        if status == 429:
            assert body["error"]["code"] == "rate_limited"
            assert retry_after is not None and int(retry_after) >= 1
    assert set(counts) <= {401, 429}, counts
    assert counts.get(401, 0) <= limit, counts
    assert counts.get(429, 0) >= len(statuses) - limit, counts
    return counts.get(401, 0)


async def _post(client: Any, path: str, body: dict[str, Any]) -> tuple[int, Any, str | None]:
    resp = await client.post(path, json=body)
    return resp.status, await resp.json(), resp.headers.get("Retry-After")


# --- (a)/(d) the limit holds under parallel attempts --------------------------------------------
async def test_parallel_failed_logins_evaluate_at_most_the_limit(
    limited: Harness, hasher: CountingHasher
) -> None:
    h = limited
    limit = h.app[STATE_KEY].login_limiter.max_events
    anon = await h.anon()
    results = await asyncio.gather(
        *(
            _post(anon, "/api/auth/login", {"username": "judge_a", "password": f"wrong-{i}"})
            for i in range(PARALLEL)
        )
    )
    failed = _check_refusals(list(results), limit)
    assert hasher.verifications == failed
    assert await _audit_count(h, "login.failed") == failed
    assert await _audit_count(h, "login.throttled") == PARALLEL - failed
    # Still throttled: even the right password is not evaluated now.
    status, _, retry_after = await _post(
        anon, "/api/auth/login", {"username": "judge_a", "password": "correct-horse-battery"}
    )
    assert status == 429 and retry_after is not None
    assert hasher.verifications == failed


async def test_parallel_bad_device_keys_evaluate_at_most_the_limit(
    limited: Harness, hasher: CountingHasher
) -> None:
    h = limited
    admin = await h.login("admin_a")
    _, device_key = await create_terminal(admin)
    prefix = device_key.split(".", 1)[0]
    limit = h.app[STATE_KEY].login_limiter.max_events
    anon = await h.anon()
    before = hasher.verifications
    results = await asyncio.gather(
        *(
            _post(anon, "/api/terminal/login", {"device_key": f"{prefix}.wrong-secret-{i}"})
            for i in range(PARALLEL)
        )
    )
    failed = _check_refusals(list(results), limit)
    assert hasher.verifications - before == failed
    assert await _audit_count(h, "terminal.login_failed") == failed
    status, _, retry_after = await _post(anon, "/api/terminal/login", {"device_key": device_key})
    assert status == 429 and retry_after is not None


async def test_successful_logins_do_not_use_up_the_address_limit(limited: Harness) -> None:
    """Attempts are counted before the password is checked; a success takes its count back,
    so colleagues behind one address can log in any number of times."""
    h = limited
    limit = h.app[STATE_KEY].login_limiter.max_events
    admin = await h.login("admin_a")
    _, device_key = await create_terminal(admin)
    anon = await h.anon()
    for _ in range(limit + 2):
        await h.login("clerk_a")
        status, body, _ = await _post(anon, "/api/terminal/login", {"device_key": device_key})
        assert status == 200, body


# --- (b) refused logins cannot exhaust the pool -------------------------------------------------
async def test_login_storm_leaves_the_pool_usable(pooled: Harness) -> None:
    h = pooled
    clerk = await h.login("clerk_a")
    anon = await h.anon()

    async def storm_request(i: int) -> int:
        cookie = {"sc_session": GARBAGE_COOKIES[i % len(GARBAGE_COOKIES)]}
        if i % 3 == 2:
            resp = await anon.get("/api/auth/me", cookies=cookie)
        else:
            body = {"username": "judge_a", "password": f"wrong-{i}"}
            resp = await anon.post("/api/auth/login", json=body, cookies=cookie if i % 2 else {})
        await resp.read()
        return resp.status

    async def timed(coro: Any) -> tuple[int, float]:
        start = time.monotonic()
        resp = await coro
        await resp.read()
        return resp.status, time.monotonic() - start

    for _round in range(2):
        storm = asyncio.gather(*(storm_request(i) for i in range(60)))
        await asyncio.sleep(0.05)
        health, me = await asyncio.gather(
            timed(clerk.client.get("/healthz")), timed(clerk.get("/api/auth/me"))
        )
        statuses = await storm
        assert health[0] == 200 and health[1] < PROMPT_S, health
        assert me[0] == 200 and me[1] < PROMPT_S, me
        assert set(statuses) <= {401, 429}, sorted(statuses)


# --- (c) garbage cookies cost nothing -------------------------------------------------------------
async def test_garbage_cookie_costs_no_query(limited: Harness) -> None:
    h = limited
    engine = h.app[STATE_KEY].db.engine.sync_engine
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    anon = await h.anon()
    event.listen(engine, "before_cursor_execute", count)
    try:
        for value in GARBAGE_COOKIES:
            resp = await anon.get("/api/auth/me", cookies={"sc_session": value})
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "unauthenticated"
        assert statements == []
        # A token of the issued shape is looked up (and refused); a real one still works.
        resp = await anon.get("/api/auth/me", cookies={"sc_session": "A" * 43})
        assert resp.status == 401
        assert statements
    finally:
        event.remove(engine, "before_cursor_execute", count)
    clerk = await h.login("clerk_a")
    assert (await clerk.get("/api/auth/me")).status == 200
