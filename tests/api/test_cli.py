"""The `shared-court` command line, run as a real subprocess."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.config import Settings

SECRET = "s3cr3t-signing-key-do-not-print"
PG_PASSWORD = "pgP4ssw0rd-do-not-print"
REDIS_PASSWORD = "r3disPw-do-not-print"


def cli() -> list[str]:
    script = Path(sys.executable).parent / "shared-court"
    return [str(script)] if script.exists() else [sys.executable, "-m", "server.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHARED_COURT_")}
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli(), *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {proc.stderr!r}"
    assert lines[0].startswith("shared-court: ")
    assert "Traceback" not in proc.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- demo -------------------------------------------------------------------------------------
def _demo(tmp_path: Path) -> dict[str, Any]:
    proc = run(["demo", "--json", "--data-dir", "data"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert isinstance(out, dict)
    return out


async def test_demo_json_is_complete_idempotent_and_usable(tmp_path: Path) -> None:
    first = _demo(tmp_path)
    for key in ("session_id", "mediator_link", "party_links", "terminal_link", "clerk"):
        assert first[key], key
    assert set(first["clerk"]) >= {"url", "username", "password"}
    assert len(first["party_links"]) == 2
    assert all(p["url"].startswith("http") and p["name"] for p in first["party_links"])
    second = _demo(tmp_path)
    assert second["session_id"] != first["session_id"]
    # Same court, staff, case and terminal: the second run reused them.
    with sqlite3.connect(tmp_path / "data" / "shared-court.db") as conn:
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("courts", "users", "cases", "terminals", "mediation_sessions")
        }
    assert counts == {
        "courts": 1,
        "users": 3,
        "cases": 1,
        "terminals": 1,
        "mediation_sessions": 2,
    }
    # The printed links and credentials work against a server on that data directory.
    app = create_app(Settings(data_dir=tmp_path / "data"))
    async with TestClient(TestServer(app)) as client:
        for link, kind in [
            (second["mediator_link"], "mediator"),
            (second["terminal_link"], "terminal"),
            (second["party_links"][0]["url"], "party"),
        ]:
            token = link.rsplit("/join/", 1)[1]
            resp = await client.get(f"/api/join/{token}")
            assert resp.status == 200, await resp.text()
            body = await resp.json()
            assert body["participant"]["kind"] == kind
            assert body["session"]["id"] == second["session_id"]
        resp = await client.post(
            "/api/auth/login",
            json={
                "username": second["clerk"]["username"],
                "password": second["clerk"]["password"],
            },
        )
        assert resp.status == 200
        resp = await client.post(
            "/api/terminal/login", json={"device_key": second["terminal"]["device_key"]}
        )
        assert resp.status == 200
        # The first run's device key was replaced by the second run's.
        resp = await client.post(
            "/api/terminal/login", json={"device_key": first["terminal"]["device_key"]}
        )
        assert resp.status == 401


def test_demo_with_unreachable_database_fails_in_one_line(tmp_path: Path) -> None:
    proc = run(
        ["demo", "--json", "--data-dir", "data"],
        tmp_path,
        SHARED_COURT_DATABASE_URL=f"postgresql+asyncpg://u:{PG_PASSWORD}@127.0.0.1:{free_port()}/x",
    )
    one_line_error(proc)
    assert proc.stdout == ""


# --- config -----------------------------------------------------------------------------------
def test_config_show_masks_secrets(tmp_path: Path) -> None:
    toml = tmp_path / "court.toml"
    toml.write_text(
        'public_url = "https://court.example/"\n'
        "[[ice_servers]]\n"
        'urls = ["turn:turn.example:3478"]\n'
        'username = "turnuser"\n'
        'credential = "turn-cred-do-not-print"\n'
    )
    proc = run(
        ["config", "--show", "--config", str(toml)],
        tmp_path,
        SHARED_COURT_SECRET_KEY=SECRET,
        SHARED_COURT_DATABASE_URL=f"postgresql+asyncpg://court:{PG_PASSWORD}@db.example:5432/court",
        SHARED_COURT_REDIS_URL=f"redis://:{REDIS_PASSWORD}@cache.example:6379/0",
        SHARED_COURT_PORT="9090",
    )
    assert proc.returncode == 0, proc.stderr
    for secret in (SECRET, PG_PASSWORD, REDIS_PASSWORD, "turn-cred-do-not-print"):
        assert secret not in proc.stdout and secret not in proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["secret_key"] == "********"
    assert shown["database_url"] == "postgresql+asyncpg://court:********@db.example:5432/court"
    assert shown["redis_url"] == "redis://:********@cache.example:6379/0"
    assert shown["ice_servers"][0]["credential"] == "********"
    assert shown["ice_servers"][0]["username"] == "turnuser"
    assert shown["port"] == 9090
    assert shown["public_url"] == "https://court.example"
    # No secret key configured: it says so instead of printing the generated one.
    proc = run(["config", "--show", "--data-dir", "d"], tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["secret_key"] == "(generated)"
    assert json.loads(proc.stdout)["database_url"].startswith("sqlite+aiosqlite:///")


def test_bad_configuration_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    for args, env, mention in [
        (["config", "--show"], {"SHARED_COURT_PORT": "not-a-port"}, "port"),
        (["serve", "--config", str(tmp_path / "missing.toml")], {}, "missing.toml"),
    ]:
        proc = run(args, tmp_path, **env)
        line = one_line_error(proc)
        assert mention in line, (args, env, line)
        assert proc.stdout == ""


@pytest.mark.parametrize(
    ("args", "env", "toml", "mention"),
    [
        (["config", "--show"], {"SHARED_COURT_PORT": "70000"}, None, "port"),
        (["config", "--show"], {"SHARED_COURT_JOIN_LINK_TTL_HOURS": "-1"}, None, "ttl"),
        (["config", "--show"], {}, "port = [unclosed\n", "invalid TOML"),
        (["config", "--show"], {}, 'no_such_setting = "x"\n', "no_such_setting"),
        (["serve"], {"SHARED_COURT_LOGIN_MAX_FAILURES": "0"}, None, "login_max_failures"),
        (["demo"], {"SHARED_COURT_REDIS_URL": "x", "SHARED_COURT_PORT": "-1"}, None, "port"),
    ],
)
def test_bad_configuration_in_process(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    toml: str | None,
    mention: str,
) -> None:
    """The same entry point as the console script, without a process start per case."""
    from server.cli import main

    for key in [k for k in os.environ if k.startswith("SHARED_COURT_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    if toml is not None:
        path = tmp_path / "c.toml"
        path.write_text(toml)
        args = [*args, "--config", str(path)]
    assert main(args) != 0
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shared-court: "), err
    assert mention in lines[0]


def test_user_command(tmp_path: Path) -> None:
    args = [
        "user",
        "--data-dir",
        "data",
        "--court",
        "某某区人民法院",
        "--username",
        "admin1",
        "--display-name",
        "管理员",
        "--role",
        "admin",
        "--password-env",
        "NEW_PW",
    ]
    proc = run(args, tmp_path, NEW_PW="a-good-long-password")
    assert proc.returncode == 0, proc.stderr
    assert "admin1" in proc.stdout
    with sqlite3.connect(tmp_path / "data" / "shared-court.db") as conn:
        role = conn.execute("SELECT role FROM users WHERE username='admin1'").fetchone()
        audit = conn.execute("SELECT actor FROM audit_events WHERE action='user.create'").fetchall()
    assert role == ("admin",) and audit == [("system:cli",)]
    assert "already exists" in one_line_error(run(args, tmp_path, NEW_PW="a-good-long-password"))


def test_user_command_rejects_short_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.cli import main

    monkeypatch.setenv("NEW_PW", "short")
    args = ["user", "--data-dir", str(tmp_path / "d"), "--court", "c", "--username", "abc"]
    args += ["--display-name", "x", "--role", "clerk", "--password-env", "NEW_PW"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "8" in err[0]
    assert not (tmp_path / "d" / "shared-court.db").exists()


# --- serve ------------------------------------------------------------------------------------
def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_answers_healthz(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*cli(), "serve", "--port", str(port), "--data-dir", "data"],
        cwd=tmp_path,
        env=clean_env(SHARED_COURT_LOG_LEVEL="WARNING"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        status, body = 0, b""
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.1)
        assert status == 200, body
        assert json.loads(body)["status"] == "ok"
        status, body = _get(f"http://127.0.0.1:{port}/api/openapi.json")
        assert status == 200 and json.loads(body)["openapi"].startswith("3.1")
        status, body = _get(f"http://127.0.0.1:{port}/api/cases")
        assert status == 401 and json.loads(body)["error"]["code"] == "unauthenticated"
        # A second server on the same port fails with a one-line reason.
        clash = run(["serve", "--port", str(port), "--data-dir", "data2"], tmp_path)
        assert clash.returncode != 0
        assert clash.stderr.strip().splitlines()[-1].startswith("shared-court: ")
        assert "Traceback" not in clash.stderr
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, -15), proc.stderr
