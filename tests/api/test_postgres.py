"""Migrations and a schedule/join flow on a real PostgreSQL server.

Uses SHARED_COURT_TEST_POSTGRES_URL when set (a server where the role may CREATE DATABASE);
otherwise starts a throwaway cluster from Debian's postgresql binaries on a free port (as the
postgres user when running as root) and removes it afterwards; otherwise skips with the reason
(fails instead when CI=true).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from server.app import create_app
from server.config import Settings
from server.db import alembic_config
from server.state import STATE_KEY
from tests.api.world import (
    create_case,
    create_session,
    create_terminal,
    issue_invite,
    ok_json,
    terminal_token,
)
from tests.conftest import Harness, _free_port, seed_staff, skip_or_fail

ENV_URL = "SHARED_COURT_TEST_POSTGRES_URL"


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    if os.environ.get(ENV_URL):
        url = os.environ[ENV_URL]
        if url.startswith("postgresql://"):
            url = "postgresql+asyncpg://" + url[len("postgresql://") :]
        yield url
        return
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        skip_or_fail(f"no PostgreSQL: set {ENV_URL} or install the postgresql package")
    bindir = Path(found[-1]).parent
    if os.geteuid() == 0:
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            skip_or_fail("running as root and there is no 'postgres' user to run the server")
    workdir = Path(tempfile.mkdtemp(prefix="sc-pg-"))
    if os.geteuid() == 0:
        os.chown(workdir, pw.pw_uid, pw.pw_gid)
    data = workdir / "data"
    port = _free_port()
    subprocess.run(
        _as_postgres(
            [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
             "-E", "UTF8", "--locale=C", "--no-sync"]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = str(bindir / "pg_ctl")
    started = subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-o", options, "-l", str(workdir / "log"),
                      "-w", "-t", "60", "start"]),
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        log = (workdir / "log").read_text() if (workdir / "log").exists() else ""
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {started.stderr} {log}")
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
async def postgres_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh, empty database per test, dropped afterwards."""
    import asyncpg

    plain = postgres_admin_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    name = f"sc_test_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncpg.connect(plain)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"cannot connect to PostgreSQL at {postgres_admin_url}: {exc}")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.PostgresError as exc:
        await conn.close()
        pytest.fail(f"the test role must be allowed to CREATE DATABASE: {exc}")
    base, _, _ = postgres_admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


@pytest.fixture
async def pg_harness(tmp_path: Path, postgres_url: str) -> AsyncIterator[Harness]:
    settings = Settings(
        data_dir=tmp_path / "data", public_url="http://court.test", database_url=postgres_url
    )
    app = create_app(settings)
    server = TestServer(app)
    await server.start_server()  # runs the migrations
    h = Harness(app, server, await seed_staff(app))
    yield h
    for c in h._clients:
        await c.close()
    await server.close()


async def test_migrations_and_append_only_trigger(pg_harness: Harness) -> None:
    db = pg_harness.app[STATE_KEY].db
    assert db.engine.dialect.name == "postgresql"
    await pg_harness.login("clerk_a")
    async with db.session() as s:
        version = await s.scalar(text("SELECT version_num FROM alembic_version"))
        assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert await s.scalar(text("SELECT count(*) FROM audit_events")) >= 1
    for stmt in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.session() as s:
                await s.execute(text(stmt))
    # Migrating again is a no-op.
    await db.migrate()


async def test_schedule_and_join_flow_on_postgres(pg_harness: Harness) -> None:
    h = pg_harness
    admin = await h.login("admin_a")
    clerk = await h.login("clerk_a")
    # Names at their maximum lengths must fit the columns they are copied into.
    terminal_id, device_key = await create_terminal(admin, name="村" * 200)
    await ok_json(
        await admin.patch(f"/api/terminals/{terminal_id}", json={"operator_name": "陈" * 100})
    )
    case = await create_case(clerk)
    cst = timezone(timedelta(hours=8))
    at = datetime.now(UTC).astimezone(cst)
    session = await create_session(
        clerk,
        case["id"],
        h.seed.users["judge_a"],
        at=at,
        terminal_id=terminal_id,
        clerk_id=h.seed.users["clerk_a"],
    )
    fetched = await ok_json(await clerk.get(f"/api/sessions/{session['id']}"))
    assert datetime.fromisoformat(fetched["scheduled_at"]) == at
    link = await issue_invite(clerk, session)
    anon = await h.anon()
    joined = await ok_json(await anon.get(f"/api/join/{link['token']}"))
    assert joined["participant"]["display_name"] == "张三"
    token = await terminal_token(anon, device_key)
    items = await ok_json(
        await anon.get("/api/terminal/schedule", headers={"Authorization": f"Bearer {token}"})
    )
    assert [i["session"]["id"] for i in items] == [session["id"]]
    await ok_json(await clerk.post(f"/api/invites/{link['invite']['id']}/revoke"))
    resp = await anon.get(f"/api/join/{link['token']}")
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "link_revoked"
    # Conflicts and bad input are client errors here too.
    resp = await clerk.post(
        "/api/cases", json={"case_number": case["case_number"], "case_type": "labour"}
    )
    assert resp.status == 409
    resp = await clerk.post(
        "/api/cases", json={"case_number": "NUL\u0000", "case_type": "labour"}
    )
    assert resp.status == 400, await resp.text()
    resp = await clerk.get("/api/cases", params={"q": "\u0000"})
    assert resp.status == 400, await resp.text()
    resp = await clerk.get("/api/cases/%00")
    assert resp.status == 404, await resp.text()
    resp = await clerk.get("/api/cases", params={"offset": str(2**63)})
    assert resp.status == 400
    events = await ok_json(await clerk.get("/api/audit", params={"session_id": session["id"]}))
    assert {"session.schedule", "invite.issue", "invite.open", "invite.revoke"} <= {
        e["action"] for e in events
    }
