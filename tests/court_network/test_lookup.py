"""The progress lookup's rate limits (#17): per-number back-off that never locks out the party
with the right phone, per-address budgets behind a trusted proxy, the village terminal's own
budget, and `Retry-After` on every 429. Real server, in-memory and Redis-backed limiters."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from server.config import Settings
from server.security.ratelimit import Backoff, LoginLimiter, RateLimiter, RedisRateLimiter
from server.state import STATE_KEY
from tests.api.world import ok_json
from tests.conftest import Harness
from tests.court_network.net import build_net, intake_body

LOOKUP = "/api/network/lookup"
TERMINAL_LOOKUP = "/api/network/terminal/lookup"
RIGHT = "13900001111"  # intake_body's applicant phone


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The harness's settings, with `trusted_proxies` (the test client is the proxy at
    127.0.0.1) unless a test parametrizes `settings` indirectly with its own overrides;
    `{"redis": True}` selects the Redis-backed limiter on a flushed database."""
    update: dict[str, Any] = {"trusted_proxies": ["127.0.0.1"]}
    update.update(getattr(request, "param", {}))
    if update.pop("redis", False):
        import redis

        url = request.getfixturevalue("redis_url")
        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()
        update["redis_url"] = url
    return settings.model_copy(update=update)


def at(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def new_intake(n: Any) -> str:
    i = await ok_json(
        await n.clerk.post("/api/network/intakes", json=intake_body(shared_court_id=n.village)), 201
    )
    return str(i["number"])


async def assert_429(resp: Any, code: str = "rate_limited") -> int:
    assert resp.status == 429, await resp.text()
    retry = resp.headers.get("Retry-After")
    assert retry is not None and retry.isdigit() and int(retry) >= 1, retry
    err = (await resp.json())["error"]
    assert err["code"] == code
    zh, en = err["message"].split(" / ")
    assert f"请 {retry} 秒后再试" in zh and f"retry in {retry} s" in en
    return int(retry)


@pytest.mark.parametrize(
    "settings", [{}, {"redis": True}], indirect=True, ids=["memory", "redis"]
)
async def test_wrong_phones_from_many_addresses_do_not_lock_out_the_party(
    harness: Harness,
) -> None:
    """Before: wrong phones counted per number too, so a handful of them from anywhere
    answered the rightful party 429 for the rest of the window."""
    h = harness
    n = await build_net(h)
    number = await new_intake(n)
    anon = await h.anon()
    free = h.app[STATE_KEY].settings.lookup_number_free_failures
    statuses = []
    for k in range(8):  # eight guessers, one wrong phone each
        resp = await anon.post(
            LOOKUP, json={"number": number, "phone": f"1380000{k:04d}"}, headers=at(f"203.0.113.{k}")
        )
        statuses.append(resp.status)
        if resp.status == 429:
            await assert_429(resp)
    # The first wrong phones are plain misses; then the number backs off for wrong phones.
    assert statuses == [404] * (free + 1) + [429] * (8 - free - 1)
    # The party, from a fresh address and from one that guessed wrong, is answered at once.
    for address in ("198.51.100.9", "203.0.113.0"):
        ok = await ok_json(
            await anon.post(LOOKUP, json={"number": number, "phone": RIGHT}, headers=at(address))
        )
        assert ok["number"] == number and ok["status"] == "received"
    # A terminal too (the terminal route shares the number's back-off).
    resp = await anon.post(
        TERMINAL_LOOKUP, json={"number": number, "phone": "138-0000-9999"}, headers=n.tauth
    )
    await assert_429(resp)
    ok = await ok_json(
        await anon.post(TERMINAL_LOOKUP, json={"number": number, "phone": RIGHT}, headers=n.tauth)
    )
    assert ok["number"] == number


async def test_backoff_is_the_same_for_unknown_and_known_numbers(harness: Harness) -> None:
    h = harness
    n = await build_net(h)
    known = await new_intake(n)
    unknown = "TJ20990101000000"
    anon = await h.anon()

    async def tries(number: str, base: int) -> list[tuple[int, str | None, Any]]:
        out = []
        for k in range(7):
            resp = await anon.post(
                LOOKUP,
                json={"number": number, "phone": f"1370000{k:04d}"},
                headers=at(f"192.0.2.{base + k}"),
            )
            out.append((resp.status, resp.headers.get("Retry-After"), await resp.json()))
        return out

    seen_known = await tries(known, 0)
    seen_unknown = await tries(unknown, 100)
    assert seen_known == seen_unknown
    assert {s for s, _, _ in seen_known} == {404, 429}


async def test_forwarded_for_gives_each_client_behind_the_proxy_its_own_budget(
    harness: Harness,
) -> None:
    h = harness
    anon = await h.anon()
    budget = h.app[STATE_KEY].settings.login_max_failures

    async def miss(address: str, k: int) -> Any:
        # A different unknown number each time: only the address's budget is in play.
        return await anon.post(
            LOOKUP, json={"number": f"TJX{address}-{k}", "phone": RIGHT}, headers=at(address)
        )

    for k in range(budget):
        assert (await miss("198.51.100.1", k)).status == 404
    retry = await assert_429(await miss("198.51.100.1", budget))
    assert retry <= h.app[STATE_KEY].settings.login_window_seconds
    # Another villager behind the same proxy still has all of theirs.
    for k in range(budget):
        assert (await miss("198.51.100.2", k)).status == 404
    await assert_429(await miss("198.51.100.2", budget))


@pytest.mark.parametrize("settings", [{"trusted_proxies": []}], indirect=True)
async def test_forwarded_for_is_ignored_without_trusted_proxies(harness: Harness) -> None:
    h = harness
    anon = await h.anon()
    budget = h.app[STATE_KEY].settings.login_max_failures
    for k in range(budget):
        resp = await anon.post(
            LOOKUP, json={"number": f"TJY{k}", "phone": RIGHT}, headers=at(f"198.51.100.{k}")
        )
        assert resp.status == 404
    # A new header is no new budget: the peer's address is the client.
    await assert_429(
        await anon.post(LOOKUP, json={"number": "TJY-last", "phone": RIGHT}, headers=at("192.0.2.1"))
    )


@pytest.mark.parametrize("settings", [{"lookup_terminal_attempts": 12}], indirect=True)
async def test_village_terminal_has_its_own_larger_budget(harness: Harness) -> None:
    h = harness
    n = await build_net(h)
    number = await new_intake(n)
    anon = await h.anon()
    budget = h.app[STATE_KEY].settings.login_max_failures
    # Many villagers, one device and address: more misses than an address may make.
    for k in range(12):
        resp = await anon.post(
            TERMINAL_LOOKUP, json={"number": f"TJZ{k}", "phone": RIGHT}, headers=n.tauth
        )
        assert resp.status == 404, k
    resp = await anon.post(TERMINAL_LOOKUP, json={"number": number, "phone": RIGHT}, headers=n.tauth)
    await assert_429(resp)
    assert "终端" in (await resp.json())["error"]["message"]
    # Counted per terminal, not against the address it shares: the address's budget is whole,
    # and another terminal's too.
    for k in range(budget):
        assert (await anon.post(LOOKUP, json={"number": f"TJW{k}", "phone": RIGHT})).status == 404
    await assert_429(await anon.post(LOOKUP, json={"number": "TJW", "phone": RIGHT}))
    ok = await ok_json(
        await anon.post(
            TERMINAL_LOOKUP, json={"number": number, "phone": RIGHT}, headers=n.other_terminal
        )
    )
    assert ok["number"] == number
    # The terminal route wants a terminal.
    resp = await anon.post(TERMINAL_LOOKUP, json={"number": number, "phone": RIGHT})
    assert resp.status == 401


async def test_a_match_is_not_counted(harness: Harness) -> None:
    h = harness
    n = await build_net(h)
    number = await new_intake(n)
    anon = await h.anon()
    for _ in range(3 * h.app[STATE_KEY].settings.login_max_failures):
        await ok_json(await anon.post(LOOKUP, json={"number": number, "phone": "139 0000 1111"}))


# --- the limiter's back-off and per-key limits, both backends ----------------------------------
@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> Any:
    policy = Backoff(free=2, base=10, cap=60)
    if request.param == "memory":
        yield RateLimiter(3, 60, policy)
        return
    url = request.getfixturevalue("redis_url")
    lim = RedisRateLimiter.from_url(url, 3, 60, prefix=f"test:{uuid.uuid4().hex}:", backoff=policy)
    yield lim
    await lim.aclose()


async def test_backoff_grows_caps_and_is_forgotten(limiter: LoginLimiter) -> None:
    t = 1000.0
    waits = []
    for _ in range(7):
        s = await limiter.strike("no:1", now=t)
        waits.append((s.before, s.after))
    assert waits == [
        (0, 0), (0, 0), (0, 10), (10, 20), (20, 40), (40, 60), (60, 60)
    ]
    assert await limiter.backoff_wait("no:1", now=t + 15) == 45
    assert await limiter.backoff_wait("no:2", now=t) == 0
    # Quiet for the cap: forgotten, the next failures are free again.
    assert (await limiter.strike("no:1", now=t + 61)) == type(s)(0, 0)
    await limiter.reset("no:1")
    assert await limiter.backoff_wait("no:1", now=t + 61) == 0


async def test_acquire_with_per_key_limits(limiter: LoginLimiter) -> None:
    t = 1000.0
    for _ in range(5):
        assert (await limiter.acquire(["terminal"], now=t, limits=[5])).granted
    refused = await limiter.acquire(["terminal"], now=t + 1, limits=[5])
    assert not refused.granted and refused.retry_after == pytest.approx(59)
    # The default limit (3) still applies to keys without one.
    for _ in range(3):
        assert (await limiter.acquire(["ip"], now=t)).granted
    assert not (await limiter.acquire(["ip"], now=t)).granted
    with pytest.raises(ValueError):
        await limiter.acquire(["a", "b"], now=t, limits=[1])


async def test_online_intake_spam_is_told_when_to_retry(h2: Any) -> None:
    """A raised 429 (the online intake's per-address limit) carries Retry-After too; before,
    only the lookup, which returned its refusal, did."""
    h, n = h2
    anon = await h.anon()
    statuses = []
    for _ in range(8):
        resp = await anon.post(
            "/api/network/intakes/online", json=intake_body(shared_court_id=n.village)
        )
        statuses.append(resp.status)
        if resp.status == 429:
            assert int(resp.headers["Retry-After"]) >= 1
            assert "秒后再试" in (await resp.json())["error"]["message"]
            break
    assert statuses[0] == 201 and statuses[-1] == 429
