"""普法 playlists: image items (checked by content), editing, removing, reordering, and the
items' active dates and terminals as the terminal's playlist endpoint honours them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp

from server.court_network import service
from tests.api.world import ok_json
from tests.conftest import StaffClient
from tests.court_network.net import Net

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
WEBP = b"RIFF\x40\x00\x00\x00WEBPVP8 " + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64


def day(offset: int = 0) -> str:
    return (service.local_now() + timedelta(days=offset)).strftime("%Y-%m-%d")


async def add(client: StaffClient, **body: Any) -> dict[str, Any]:
    body.setdefault("kind", "article")
    body.setdefault("title", "普法")
    return await ok_json(await client.post("/api/network/education", json=body), 201)  # type: ignore[no-any-return]


async def upload(client: StaffClient, item_id: str, data: bytes, name: str) -> Any:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name)
    return await client.post(f"/api/network/education/{item_id}/media", data=form)


async def playlist(n: Net, other: bool = False) -> list[dict[str, Any]]:
    headers = n.other_terminal if other else n.tauth
    return await ok_json(  # type: ignore[no-any-return]
        await n.terminal.get("/api/network/terminal/education", headers=headers)
    )


async def test_images_are_accepted_by_content(h2: Any) -> None:
    _h, n = h2
    for data, name, ctype in (
        (PNG, "海报.png", "image/png"),
        (JPEG, "photo.JPG", "image/jpeg"),
        (WEBP, "card.webp", "image/webp"),
    ):
        item = await add(n.clerk, kind="image", title=name, duration_seconds=10, all_terminals=True)
        out = await ok_json(await upload(n.clerk, item["id"], data, name))
        assert out["media_type"] == ctype and out["media_size"] == len(data)
    shown = await playlist(n)
    assert [(p["kind"], p["media_type"], p["duration_seconds"]) for p in shown] == [
        ("image", "image/png", 10),
        ("image", "image/jpeg", 10),
        ("image", "image/webp", 10),
    ]
    media = await n.terminal.get(shown[0]["media_url"])
    assert media.status == 200 and media.headers["Content-Type"] == "image/png"
    assert await media.read() == PNG


async def test_the_content_decides_not_the_name(h2: Any) -> None:
    _h, n = h2
    video = await add(n.clerk, kind="video", title="视频", all_terminals=True)
    image = await add(n.clerk, kind="image", title="图片", all_terminals=True)
    # A PNG named .mp4 is no video: refused for the video item…
    resp = await upload(n.clerk, video["id"], PNG, "clip.mp4")
    assert resp.status == 415 and (await resp.json())["error"]["code"] == "file_type_not_allowed"
    # …and for the image item its name disagrees with its content: refused, nothing stored.
    resp = await upload(n.clerk, image["id"], PNG, "clip.mp4")
    assert resp.status == 415 and (await resp.json())["error"]["code"] == "file_type_mismatch"
    # An MP4 named .png is no image.
    resp = await upload(n.clerk, image["id"], MP4, "poster.png")
    assert resp.status == 415 and (await resp.json())["error"]["code"] == "file_type_not_allowed"
    # Text pretending to be an image.
    resp = await upload(n.clerk, image["id"], b"<svg onload=alert(1)>", "x.png")
    assert resp.status == 415
    items = await ok_json(await n.clerk.get("/api/network/education"))
    assert all(it["media_sha256"] == "" for it in items)
    # Media-less video and image items have nothing to show: not in the playlist.
    assert await playlist(n) == []
    # An article takes no file.
    article = await add(n.clerk, title="文章")
    resp = await upload(n.clerk, article["id"], PNG, "a.png")
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "not_video"


async def test_an_image_over_the_limit_is_refused(h2: Any) -> None:
    _h, n = h2
    image = await add(n.clerk, kind="image", title="大图")
    big = PNG + b"\x00" * (10 * 1024 * 1024)
    resp = await upload(n.clerk, image["id"], big, "big.png")
    assert resp.status == 413 and (await resp.json())["error"]["code"] == "file_too_large"


async def test_edit_remove_and_reorder(h2: Any) -> None:
    h, n = h2
    a = await add(n.clerk, title="一", all_terminals=True)
    b = await add(n.clerk, title="二", all_terminals=True)
    c = await add(n.clerk, title="三", all_terminals=True)
    # new items go after the last one
    assert [a["position"], b["position"], c["position"]] == [0, 1, 2]
    assert [p["title"] for p in await playlist(n)] == ["一", "二", "三"]

    edited = await ok_json(
        await n.clerk.patch(
            f"/api/network/education/{b['id']}",
            json={"title": "二（修订）", "duration_seconds": 30, "body": "新正文"},
        )
    )
    assert (edited["title"], edited["duration_seconds"], edited["body"]) == (
        "二（修订）",
        30,
        "新正文",
    )
    bad = await n.clerk.patch(f"/api/network/education/{b['id']}", json={"kind": "video"})
    assert bad.status == 400  # the kind is fixed
    bad = await n.clerk.patch(f"/api/network/education/{b['id']}", json={"title": ""})
    assert bad.status == 400

    order = await ok_json(
        await n.clerk.request(
            "PUT", "/api/network/education/order", json={"item_ids": [c["id"], a["id"], b["id"]]}
        )
    )
    assert [(it["title"], it["position"]) for it in order] == [
        ("三", 0),
        ("一", 1),
        ("二（修订）", 2),
    ]
    assert [p["title"] for p in await playlist(n)] == ["三", "一", "二（修订）"]
    listed = await ok_json(await n.clerk.get("/api/network/education"))
    assert [it["title"] for it in listed] == ["三", "一", "二（修订）"]
    # an order that misses an item (or repeats one) is refused
    for ids in ([c["id"], a["id"]], [c["id"], a["id"], a["id"]]):
        resp = await n.clerk.request("PUT", "/api/network/education/order", json={"item_ids": ids})
        assert resp.status == 409
    # a single item moves by PATCH
    await ok_json(await n.clerk.patch(f"/api/network/education/{b['id']}", json={"position": 0}))
    assert (await playlist(n))[0]["title"] == "二（修订）"

    # remove (its terminal schedules go with it)
    await ok_json(
        await n.clerk.post(
            "/api/network/education/schedules",
            json={"item_id": a["id"], "terminal_id": n.terminal_id, "starts_on": day(),
                  "ends_on": day(1)},
        ),
        201,
    )
    resp = await n.clerk.request("DELETE", f"/api/network/education/{a['id']}")
    assert resp.status == 204
    assert "一" not in [p["title"] for p in await playlist(n)]
    assert a["id"] not in [it["id"] for it in await ok_json(await n.clerk.get("/api/network/education"))]
    schedules = await ok_json(await n.clerk.get("/api/network/education/schedules"))
    assert all(s["item_id"] != a["id"] for s in schedules)
    resp = await n.clerk.request("DELETE", f"/api/network/education/{a['id']}")
    assert resp.status == 404

    # another court sees nothing of it and can change nothing
    other = await h.login("clerk_b")
    assert (await other.patch(f"/api/network/education/{b['id']}", json={"title": "x"})).status == 404
    assert (await other.request("DELETE", f"/api/network/education/{b['id']}")).status == 404
    assert await ok_json(await other.get("/api/network/education")) == []
    # a mediator may read but not write
    med = await h.login("mediator_a")
    assert (await med.request("DELETE", f"/api/network/education/{b['id']}")).status == 403


async def test_item_dates_and_terminals_are_honoured(h2: Any) -> None:
    _h, n = h2
    await add(n.clerk, title="常年", all_terminals=True)
    await add(n.clerk, title="今天起", all_terminals=True, starts_on=day(), ends_on=day(3))
    await add(n.clerk, title="明天起", all_terminals=True, starts_on=day(1))
    await add(n.clerk, title="已过期", all_terminals=True, ends_on=day(-1))
    await add(n.clerk, title="停用", all_terminals=True, active=False)
    only_here = await add(n.clerk, title="本终端")
    await add(n.clerk, title="无处播放")  # neither every terminal nor scheduled anywhere
    await ok_json(
        await n.clerk.post(
            "/api/network/education/schedules",
            json={"item_id": only_here["id"], "terminal_id": n.terminal_id,
                  "starts_on": day(), "ends_on": day()},
        ),
        201,
    )
    assert [p["title"] for p in await playlist(n)] == ["常年", "今天起", "本终端"]
    assert [p["title"] for p in await playlist(n, other=True)] == ["常年", "今天起"]

    bad = await n.clerk.post(
        "/api/network/education",
        json={"kind": "article", "title": "反", "starts_on": day(2), "ends_on": day(1)},
    )
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid_dates"
    bad = await n.clerk.post(
        "/api/network/education", json={"kind": "article", "title": "坏", "starts_on": "2026-02-30"}
    )
    assert bad.status == 400

    # schedule by editing: tomorrow on → gone today; clearing the bound brings it back
    items = {it["title"]: it for it in await ok_json(await n.clerk.get("/api/network/education"))}
    path = f"/api/network/education/{items['常年']['id']}"
    await ok_json(await n.clerk.patch(path, json={"starts_on": day(1)}))
    assert "常年" not in [p["title"] for p in await playlist(n)]
    bad = await n.clerk.patch(path, json={"ends_on": day()})  # before its start
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid_dates"
    back = await ok_json(await n.clerk.patch(path, json={"starts_on": None}))
    assert back["starts_on"] is None
    assert "常年" in [p["title"] for p in await playlist(n)]
    # deactivate, then restrict to this terminal only
    await ok_json(await n.clerk.patch(path, json={"active": False}))
    assert "常年" not in [p["title"] for p in await playlist(n)]
    await ok_json(await n.clerk.patch(path, json={"active": True, "all_terminals": False}))
    assert "常年" not in [p["title"] for p in await playlist(n, other=True)]

    # removing the terminal's schedule takes the item off that terminal
    schedules = await ok_json(await n.clerk.get("/api/network/education/schedules"))
    sid = next(s["id"] for s in schedules if s["item_id"] == only_here["id"])
    resp = await n.clerk.request("DELETE", f"/api/network/education/schedules/{sid}")
    assert resp.status == 204
    assert "本终端" not in [p["title"] for p in await playlist(n)]
    resp = await n.clerk.request("DELETE", f"/api/network/education/schedules/{sid}")
    assert resp.status == 404


async def test_a_terminal_of_another_court_gets_nothing(h2: Any) -> None:
    h, n = h2
    await add(n.clerk, title="甲院普法", all_terminals=True)
    from server.court.routes.terminals import new_device_key
    from server.models import Terminal
    from server.security.passwords import hash_password
    from server.state import STATE_KEY
    from tests.api.world import terminal_token

    prefix, key = new_device_key()
    async with h.app[STATE_KEY].db.session() as s:
        s.add(Terminal(court_id=h.seed.court_b, name="乙院终端", key_prefix=prefix,
                       key_hash=hash_password(key)))
    token = await terminal_token(n.terminal, key)
    got = await ok_json(
        await n.terminal.get(
            "/api/network/terminal/education", headers={"Authorization": f"Bearer {token}"}
        )
    )
    assert got == []
