"""`shared-court demo`: seed a court, staff, a case, a terminal and a session starting now."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server import audit
from server.config import Settings
from server.court.routes.terminals import new_device_key
from server.court_network.files import stored_path
from server.court_network.models import EducationItem
from server.court_network.routes.education import VIDEO_KIND
from server.db import Database
from server.invites import invite_token, issue_invite, join_url
from server.models import (
    Case,
    CaseType,
    Court,
    ParticipantKind,
    Party,
    PartyRole,
    Terminal,
    User,
    UserRole,
)
from server.scheduling import schedule_session
from server.security.passwords import hash_password
from server.security.tokens import TokenSigner

COURT_NAME = "示范基层人民法院（演示）"
DEMO_USERS = {
    # username: (display name, role, password) — demo data only, printed on purpose.
    "admin": ("系统管理员", UserRole.admin, "demo-admin-2026"),
    "judge": ("王法官", UserRole.judge, "demo-judge-2026"),
    "clerk": ("李书记员", UserRole.clerk, "demo-clerk-2026"),
}
CASE_NUMBER = "（2026）浙0110民诉前调0001号"
EDU_ARTICLE = (
    "遇到物业纠纷，可以先与物业公司协商；协商不成的，可以到村（社区）共享法庭申请诉前调解，"
    "由调解员和法官在线帮助双方达成协议。调解协议经司法确认后具有强制执行力。"
)


def demo_png(width: int = 640, height: int = 360) -> bytes:
    """A small poster (PNG, drawn here: no image library, nothing downloaded)."""
    rows = []
    for y in range(height):
        row = bytearray([0])  # filter: none
        for x in range(width):
            band = height // 3 < y < 2 * height // 3 and width // 8 < x < 7 * width // 8
            if band:
                row += bytes((250, 200, 60))
            else:
                row += bytes((31 + x * 60 // width, 58 + y * 60 // height, 96 + x * 80 // width))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def demo_clip(seconds: float = 2.0, fps: int = 10, width: int = 320, height: int = 180) -> bytes:
    """A short WebM (VP8) clip, encoded here with PyAV: a bar crossing the court's blue."""
    import av
    import numpy as np

    buf = io.BytesIO()
    out = av.open(buf, mode="w", format="webm")
    try:
        stream = out.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 200_000
        frames = max(1, round(seconds * fps))
        for i in range(frames):
            img = np.zeros((height, width, 3), np.uint8)
            img[:, :] = (31, 58, 96)
            x = i * (width - 24) // max(1, frames - 1)
            img[height // 2 - 20 : height // 2 + 20, x : x + 24] = (250, 200, 60)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    finally:
        out.close()
    return buf.getvalue()


def _store_medium(data_dir: Path, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    path = stored_path(data_dir, VIDEO_KIND, sha)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".demo-{sha}")
        tmp.write_bytes(data)
        tmp.replace(path)
    return sha


async def _seed_education(db: AsyncSession, court: Court, data_dir: Path) -> None:
    """A short 普法 playlist on every terminal of the court (once): a clip, a poster, an
    article; the kiosk plays it while idle."""
    if await db.scalar(select(EducationItem.id).where(EducationItem.court_id == court.id)):
        return
    clip, poster = demo_clip(), demo_png()
    items = [
        EducationItem(
            kind="video",
            title="调解小课堂：什么是诉前调解",
            media_sha256=_store_medium(data_dir, clip),
            media_type="video/webm",
            media_size=len(clip),
        ),
        EducationItem(
            kind="image",
            title="普法海报：民法典与您同行",
            duration_seconds=10,
            media_sha256=_store_medium(data_dir, poster),
            media_type="image/png",
            media_size=len(poster),
        ),
        EducationItem(kind="article", title="物业纠纷怎么办", body=EDU_ARTICLE, duration_seconds=20),
    ]
    for pos, item in enumerate(items):
        item.court_id, item.position, item.all_terminals = court.id, pos, True
        item.created_by = "system"
        db.add(item)
    await db.flush()


@dataclass
class DemoResult:
    session_id: str
    mediator_link: str
    party_links: list[dict[str, str]]
    terminal_link: str
    terminal_url: str
    terminal_device_key: str
    console_url: str
    clerk: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "mediator_link": self.mediator_link,
            "party_links": self.party_links,
            "terminal_link": self.terminal_link,
            "terminal": {"url": self.terminal_url, "device_key": self.terminal_device_key},
            "console_url": self.console_url,
            "clerk": self.clerk,
        }


async def _get_or_create_user(db: AsyncSession, court: Court, username: str) -> User:
    display, role, password = DEMO_USERS[username]
    user = await db.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(
            court_id=court.id,
            username=username,
            display_name=display,
            role=role,
            password_hash=hash_password(password),
        )
        db.add(user)
        await db.flush()
    return user


async def seed_demo(settings: Settings, base_url: str | None = None) -> DemoResult:
    base = (base_url or settings.effective_public_url).rstrip("/")
    db = Database(settings.effective_database_url)
    signer = TokenSigner(settings.ensure_secret())
    try:
        await db.migrate()
        async with db.session() as s:
            court = await s.scalar(select(Court).where(Court.name == COURT_NAME))
            if court is None:
                court = Court(name=COURT_NAME, region="浙江省杭州市")
                s.add(court)
                await s.flush()
            users = {u: await _get_or_create_user(s, court, u) for u in DEMO_USERS}
            case = await s.scalar(
                select(Case).where(Case.court_id == court.id, Case.case_number == CASE_NUMBER)
            )
            if case is None:
                case = Case(
                    court_id=court.id,
                    case_number=CASE_NUMBER,
                    case_type=CaseType.property_management,
                    title="物业服务合同纠纷",
                    description="物业公司主张业主拖欠物业费三千元，业主认为服务不到位。",
                    mediator_id=users["judge"].id,
                    created_by=users["clerk"].id,
                )
                s.add(case)
                await s.flush()
                s.add_all(
                    [
                        Party(
                            case_id=case.id,
                            name="张三",
                            role=PartyRole.applicant,
                            phone="13800000001",
                        ),
                        Party(
                            case_id=case.id,
                            name="某某物业服务有限公司",
                            role=PartyRole.respondent,
                            phone="13800000002",
                            is_organisation=True,
                        ),
                    ]
                )
                await s.flush()
                await s.refresh(case, ["parties"])
            prefix, device_key = new_device_key()
            terminal = await s.scalar(
                select(Terminal).where(
                    Terminal.court_id == court.id, Terminal.name == "径山镇共享法庭"
                )
            )
            if terminal is None:
                terminal = Terminal(
                    court_id=court.id,
                    name="径山镇共享法庭",
                    location="径山镇村民服务中心二楼",
                    operator_name="陈主任",
                    key_prefix=prefix,
                    key_hash=hash_password(device_key),
                )
                s.add(terminal)
            else:
                # The key is only ever shown once, so each demo run issues a fresh one.
                terminal.key_prefix = prefix
                terminal.key_hash = hash_password(device_key)
            await s.flush()
            await _seed_education(s, court, settings.data_dir)
            session = await schedule_session(
                s,
                case=case,
                scheduled_at=datetime.now(UTC),
                mediator=users["judge"],
                parties=list(case.parties),
                clerk=users["clerk"],
                terminal=terminal,
                created_by=users["clerk"].id,
            )
            links: dict[str, str] = {}
            party_links: list[dict[str, str]] = []
            for participant in session.participants:
                if participant.kind == ParticipantKind.clerk:
                    continue
                invite = await issue_invite(
                    s, participant, settings.join_link_ttl_hours, users["clerk"].id
                )
                url = join_url(base, invite_token(signer, invite))
                if participant.kind == ParticipantKind.party:
                    party_links.append(
                        {
                            "name": participant.display_name,
                            "role": participant.role_label,
                            "url": url,
                        }
                    )
                else:
                    links[participant.kind.value] = url
            audit.record(
                s,
                actor="system",
                action="demo.seed",
                court_id=court.id,
                target=session.id,
                session_id=session.id,
            )
            return DemoResult(
                session_id=session.id,
                mediator_link=links["mediator"],
                party_links=party_links,
                terminal_link=links["terminal"],
                terminal_url=f"{base}/terminal",
                terminal_device_key=device_key,
                console_url=f"{base}/console",
                clerk={
                    "url": f"{base}/clerk",
                    "username": "clerk",
                    "password": DEMO_USERS["clerk"][2],
                },
            )
    finally:
        await db.close()


def format_demo(result: DemoResult) -> str:
    lines = [
        "共享法庭演示数据已就绪 / Shared Court demo is ready",
        f"  会话 / session: {result.session_id}",
        f"  法官调解台 / judge console: {result.console_url}  (judge / {DEMO_USERS['judge'][2]})",
        f"  法官加入链接 / mediator join link: {result.mediator_link}",
    ]
    for p in result.party_links:
        lines.append(f"  {p['role']} {p['name']}: {p['url']}")
    lines += [
        f"  村终端加入链接 / terminal join link: {result.terminal_link}",
        f"  村终端页面 / terminal kiosk: {result.terminal_url}  (device key {result.terminal_device_key})",
        f"  书记员页面 / clerk page: {result.clerk['url']}  "
        f"({result.clerk['username']} / {result.clerk['password']})",
    ]
    return "\n".join(lines)
