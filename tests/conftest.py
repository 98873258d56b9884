"""Shared fixtures: a real application on a temporary SQLite file, seeded courts and staff."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.config import Settings
from server.models import Court, User, UserRole
from server.rtc.host_addresses import limit_host_addresses
from server.security.passwords import hash_password
from server.state import STATE_KEY

PASSWORD = "correct-horse-battery"

# Every test's media stays on loopback: in-process peers (server and clients) gather only
# 127.0.0.1, and every server, probe and bench process a test starts inherits the setting.
LOOPBACK = "127.0.0.1"
os.environ["SHARED_COURT_ICE_ADDRESSES"] = LOOPBACK
limit_host_addresses([LOOPBACK])


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at minimal cost: the same code paths at a fraction of the CPU time.

    Verification reads the cost from the stored hash, so hashes made here verify quickly too.
    """
    from argon2 import PasswordHasher

    from server.security import passwords

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("not-a-real-password"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The shipped defaults (identity check required included); tests admit unverified parties
    # with a written override reason, as the court rules demand.
    return Settings(
        data_dir=tmp_path / "data",
        public_url="http://court.test",
        ice_addresses=[LOOPBACK],
        # Webhook tests deliver to a receiver on 127.0.0.1.
        webhook_allow_private_targets=True,
    )


@dataclass
class Seed:
    court_a: str
    court_b: str
    users: dict[str, str]  # username -> id


async def seed_staff(app: web.Application) -> Seed:
    """Two courts; court A has every role, court B a judge and a clerk (for isolation tests)."""
    state = app[STATE_KEY]
    users: dict[str, str] = {}
    async with state.db.session() as s:
        a = Court(name="甲法院 Court A")
        b = Court(name="乙法院 Court B")
        s.add_all([a, b])
        await s.flush()
        staff = [
            ("admin_a", a, UserRole.admin),
            ("judge_a", a, UserRole.judge),
            ("clerk_a", a, UserRole.clerk),
            ("mediator_a", a, UserRole.mediator),
            ("mediator_a2", a, UserRole.mediator),
            ("admin_b", b, UserRole.admin),
            ("judge_b", b, UserRole.judge),
            ("clerk_b", b, UserRole.clerk),
        ]
        pw = hash_password(PASSWORD)
        for username, court, role in staff:
            u = User(
                court_id=court.id,
                username=username,
                display_name=username,
                role=role,
                password_hash=pw,
            )
            s.add(u)
            await s.flush()
            users[username] = u.id
        return Seed(a.id, b.id, users)


class StaffClient:
    """An HTTP client logged in as one staff user; adds the CSRF header like the web client."""

    def __init__(self, client: TestClient[Any, Any], csrf: str) -> None:
        self.client = client
        self.csrf = csrf

    async def request(self, method: str, path: str, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}))
        headers.setdefault("X-CSRF-Token", self.csrf)
        return await self.client.request(method, path, headers=headers, **kw)

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Any:
        return await self.request("POST", path, **kw)

    async def patch(self, path: str, **kw: Any) -> Any:
        return await self.request("PATCH", path, **kw)


@dataclass
class Harness:
    app: web.Application
    server: TestServer
    seed: Seed

    async def anon(self) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(self.server)
        await client.start_server()
        self._clients.append(client)
        return client

    async def login(self, username: str, password: str = PASSWORD) -> StaffClient:
        client = await self.anon()
        resp = await client.post(
            "/api/auth/login", json={"username": username, "password": password}
        )
        assert resp.status == 200, await resp.text()
        return StaffClient(client, (await resp.json())["csrf_token"])

    def __post_init__(self) -> None:
        self._clients: list[TestClient[Any, Any]] = []


@pytest.fixture
async def harness(settings: Settings) -> AsyncIterator[Harness]:
    app = create_app(settings)
    server = TestServer(app)
    await server.start_server()
    h = Harness(app, server, await seed_staff(app))
    yield h
    for c in h._clients:
        await c.close()
    await server.close()


# --- external services started by the tests themselves ---------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def skip_or_fail(reason: str) -> None:
    """Skip with a visible reason locally; on CI (CI=true) a missing service is a failure."""
    import os

    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


REDIS_SERVER = Path("/usr/bin/redis-server")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway redis-server on a free port, in a temp dir, without persistence."""
    import shutil
    import subprocess
    import time

    binary = REDIS_SERVER if REDIS_SERVER.exists() else shutil.which("redis-server")
    if binary is None:
        skip_or_fail("redis-server not installed (apt-get install redis-server)")
    workdir = tmp_path_factory.mktemp("redis")
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(workdir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on port {port}")
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "speech: needs espeak-ng to synthesise test speech")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if shutil.which("espeak-ng") is None:
        skip = pytest.mark.skip(reason="espeak-ng is not installed (apt-get install espeak-ng)")
        for item in items:
            if "speech" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def asr_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Whisper base model, assembled from its PyPI parts once for the whole run."""
    from transcript import ensure_model

    return ensure_model(tmp_path_factory.mktemp("asr-data"))
