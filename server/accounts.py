"""Creating staff accounts outside the API (first admin of a fresh installation)."""

from __future__ import annotations

from sqlalchemy import select

from server import audit
from server.config import ConfigError, Settings
from server.db import Database
from server.models import Court, User, UserRole
from server.security.passwords import hash_password


async def create_staff_user(
    settings: Settings, court_name: str, username: str, display_name: str, role: str, password: str
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # a fresh install has no data dir yet
    db = Database(settings.effective_database_url)
    try:
        await db.migrate()
        async with db.session() as s:
            if await s.scalar(select(User).where(User.username == username)):
                raise ConfigError(f"用户已存在 / user {username!r} already exists")
            court = await s.scalar(select(Court).where(Court.name == court_name))
            if court is None:
                court = Court(name=court_name)
                s.add(court)
                await s.flush()
            user = User(
                court_id=court.id,
                username=username,
                display_name=display_name,
                role=UserRole(role),
                password_hash=hash_password(password),
            )
            s.add(user)
            await s.flush()
            audit.record(
                s,
                actor="system:cli",
                action="user.create",
                court_id=court.id,
                target=user.id,
                username=username,
                role=role,
            )
    finally:
        await db.close()
