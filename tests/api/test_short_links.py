"""Short join links (/j/<code>): the same link as the signed token, with its expiry and
revocation; the QR code carries the short one; unknown codes are rate-limited."""

from __future__ import annotations

from typing import Any

from tests.api.world import build_world, issue_invite, ok_json
from tests.conftest import Harness


async def test_a_short_link_opens_the_same_join_link(harness: Harness) -> None:
    w = await build_world(harness)
    link = w.invite_a
    short = link["short_url"]
    assert short is not None and short.endswith("/j/" + link["invite"]["short_code"])
    code = link["invite"]["short_code"]
    assert len(code) == 8 and not set(code) & set("01ilo")
    anon = await harness.anon()
    resp = await anon.get(f"/j/{code}", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == f"/join/{link['token']}"
    assert resp.headers["Cache-Control"] == "no-store"
    # upper case, as typed from a printed invitation
    assert (await anon.get(f"/j/{code.upper()}", allow_redirects=False)).headers[
        "Location"
    ] == f"/join/{link['token']}"
    # followed, the token opens the session like the long link
    info = await ok_json(await anon.get(f"/api/join/{link['token']}"))
    assert info["session"]["id"] == w.session_a["id"]
    # each link has its own code
    other = await issue_invite(w.clerk, w.session_a)
    assert other["invite"]["short_code"] != code
    listed = await ok_json(await w.clerk.get(f"/api/sessions/{w.session_a['id']}/invites"))
    assert {i["short_code"] for i in listed} >= {code, other["invite"]["short_code"]}


async def test_a_revoked_short_link_is_refused_like_the_long_one(harness: Harness) -> None:
    w = await build_world(harness)
    link = w.invite_a
    await ok_json(await w.clerk.post(f"/api/invites/{link['invite']['id']}/revoke"))
    anon = await harness.anon()
    resp = await anon.get(f"/j/{link['invite']['short_code']}", allow_redirects=False)
    assert resp.status == 302  # to the join page, which explains
    token = resp.headers["Location"].rsplit("/", 1)[1]
    refused = await anon.get(f"/api/join/{token}")
    assert refused.status in (401, 403, 410)
    assert (await refused.json())["error"]["code"] == "link_revoked"


async def test_the_qr_code_carries_the_short_link(harness: Harness) -> None:
    w = await build_world(harness)
    svg = await w.clerk.get(f"/api/invites/{w.invite_a['invite']['id']}/qr.svg")
    assert svg.status == 200
    body = await svg.text()
    # Modules of 0.8 mm and a border of 2 on each side: the short URL fits a version-3/4 code
    # (≤ 33 modules across), which a phone scans at arm's length; the ~300-character long link
    # needed version 13 (69 modules).
    import re

    width = re.search(r'width="([0-9.]+)mm"', body)
    assert width is not None
    modules = round(float(width.group(1)) / 0.8) - 4
    assert modules <= 33, modules
    assert len(w.invite_a["short_url"]) < 60 < len(w.invite_a["url"])


async def test_unknown_codes_are_rate_limited(harness: Harness) -> None:
    anon = await harness.anon()
    statuses: list[int] = []
    for i in range(12):
        resp = await anon.get(f"/j/zzzzzz{i:02d}"[:10], allow_redirects=False)
        statuses.append(resp.status)
        if resp.status == 429:
            assert int(resp.headers["Retry-After"]) >= 1
            break
    assert statuses[0] == 302 and statuses[-1] == 429
    first: Any = await anon.get("/j/zzzzzzzz", allow_redirects=False)
    assert first.status == 429
