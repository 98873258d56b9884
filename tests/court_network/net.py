"""Helpers for the network tests: a small network of shared courts, mediators and a terminal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from signaling.client import RoomClient
from tests.api.world import create_terminal, ok_json, terminal_token, unique
from tests.conftest import Harness, StaffClient


@dataclass
class Net:
    admin: StaffClient
    clerk: StaffClient
    judge: StaffClient
    area_east: str
    area_west: str
    village: str  # shared court in area east, with the terminal
    village2: str  # another shared court in area east (no terminal)
    marriage: str  # 婚调委 in area west
    terminal_id: str
    terminal: TestClient[Any, Any]  # anon client; use `tauth` headers
    tauth: dict[str, str]
    other_terminal: dict[str, str]  # a terminal of the second village


async def build_net(h: Harness) -> Net:
    admin = await h.login("admin_a")
    clerk = await h.login("clerk_a")
    judge = await h.login("judge_a")
    east = await ok_json(
        await admin.post("/api/network/areas", json={"name": unique("东乡"), "population": 20000}),
        201,
    )
    west = await ok_json(
        await admin.post("/api/network/areas", json={"name": unique("西乡"), "population": 50000}),
        201,
    )
    village = await ok_json(
        await admin.post(
            "/api/network/shared-courts",
            json={
                "name": unique("桃源村共享法庭"),
                "kind": "village",
                "area_id": east["id"],
                "director_name": "陈主任",
                "director_phone": "13800000001",
            },
        ),
        201,
    )
    village2 = await ok_json(
        await admin.post(
            "/api/network/shared-courts",
            json={"name": unique("李家村共享法庭"), "kind": "village", "area_id": east["id"]},
        ),
        201,
    )
    marriage = await ok_json(
        await admin.post(
            "/api/network/shared-courts",
            json={
                "name": unique("婚调委共享法庭"),
                "kind": "marriage_family",
                "area_id": west["id"],
            },
        ),
        201,
    )
    tid, key = await create_terminal(admin)
    await ok_json(
        await admin.post(
            f"/api/network/shared-courts/{village['id']}/terminals", json={"terminal_id": tid}
        )
    )
    tid2, key2 = await create_terminal(admin)
    await ok_json(
        await admin.post(
            f"/api/network/shared-courts/{village2['id']}/terminals", json={"terminal_id": tid2}
        )
    )
    anon = await h.anon()
    token = await terminal_token(anon, key)
    token2 = await terminal_token(anon, key2)
    return Net(
        admin,
        clerk,
        judge,
        east["id"],
        west["id"],
        village["id"],
        village2["id"],
        marriage["id"],
        tid,
        anon,
        {"Authorization": f"Bearer {token}"},
        {"Authorization": f"Bearer {token2}"},
    )


async def profile(client: StaffClient, user_id: str, **body: Any) -> Any:
    body.setdefault("kind", "industry")
    return await ok_json(
        await client.request("PUT", f"/api/network/mediators/{user_id}", json=body)
    )


def intake_body(**kw: Any) -> dict[str, Any]:
    body = {
        "case_type": "marriage_family",
        "applicant_name": "张三",
        "applicant_phone": "13900001111",
        "respondent_name": "李四",
        "respondent_phone": "13900002222",
        "claim": "请求调解婚后财产分割",
        "facts": "双方于2020年结婚",
    }
    body.update(kw)
    return body


async def end_in_room(h: Harness, token: str, outcome: str) -> None:
    """The judge joins the live room with their link, starts the session and ends it with an
    outcome, as from the console (socket.io, the default configuration)."""
    judge = RoomClient(str(h.server.make_url("/")).rstrip("/"), token=token)
    try:
        await judge.connect()
        await judge.join(consent=True)
        await judge.call("start_session")
        await judge.call(
            "end_session",
            {"outcome": outcome, "note": "调解结束", "no_agreement_reason": "当场履行完毕"},
        )
    finally:
        await judge.close()


async def mediator_token(client: StaffClient, session: dict[str, Any]) -> str:
    """The mediator's join token of a session (from a staff-issued link)."""
    participant = next(p for p in session["participants"] if p["kind"] == "mediator")
    invite = await ok_json(
        await client.post(
            f"/api/sessions/{session['id']}/invites", json={"participant_id": participant["id"]}
        ),
        201,
    )
    return str(invite["url"]).rsplit("/join/", 1)[1]
