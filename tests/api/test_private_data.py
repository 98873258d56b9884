"""The data directory (database with webhook secrets, keys, recordings, documents) is readable by
the server's own user only, and every page carries a Content-Security-Policy."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from server.data_dir import make_private
from tests.conftest import Harness


def _open_modes(root: Path) -> list[str]:
    return [
        f"{p} {stat.filemode(p.stat().st_mode)}"
        for p in (root, *root.rglob("*"))
        if not p.is_symlink() and p.stat().st_mode & 0o077
    ]


def test_an_open_data_dir_is_tightened_and_new_files_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        data = tmp_path / "data"
        (data / "recordings" / "case-1").mkdir(parents=True)
        (data / "court.db").write_text("secrets")
        (data / "recordings" / "case-1" / "video.webm").write_bytes(b"x")
        assert _open_modes(data)
        make_private(data)
        assert _open_modes(data) == []
        (data / "new.db-wal").write_text("y")
        (data / "recordings" / "case-2").mkdir()
        assert stat.S_IMODE((data / "new.db-wal").stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "recordings" / "case-2").stat().st_mode) == 0o700
    finally:
        os.umask(old)


async def test_the_running_servers_files_are_private(harness: Harness) -> None:
    from server.state import STATE_KEY

    settings = harness.app[STATE_KEY].settings
    assert _open_modes(settings.data_dir) == []
    assert _open_modes(settings.effective_recordings_dir) == []


async def test_pages_carry_a_content_security_policy(harness: Harness) -> None:
    client = await harness.anon()
    for path in ("/", "/healthz", "/api/verify/agreement/" + "0" * 64):
        resp = await client.get(path)
        csp = resp.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "object-src 'none'" in csp, path
        assert "frame-ancestors 'none'" in csp, path


def test_access_log_lines_carry_no_tokens() -> None:
    from server.http.web_security import redact

    token = "eyJhbGciOiJIUzI1NiIsInR5cCI6ImpvaW4ifQ.eyJpbnYiOiJhYmMiLCJleHAiOjF9.c2lnbmF0dXJlLXZhbHVl"
    assert token not in redact(f"/join/{token}")
    assert redact(f"/api/join/{token}/agreements/agreement/pdf").startswith("/api/join/<redacted>")
    assert redact("/api/recordings/download/x?token=abc&sig=def") == (
        "/api/recordings/download/x?token=<redacted>&sig=<redacted>"
    )
    assert redact("/api/sessions/0123456789abcdef/invites") == "/api/sessions/0123456789abcdef/invites"


async def test_the_served_access_log_is_redacted(
    harness: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import aiohttp

    from server.app import create_app
    from server.config import load_settings
    from server.http.limits import start
    from tests.conftest import _free_port

    settings = load_settings(environ={}, data_dir=tmp_path / "d", port=_free_port())
    app = create_app(settings)
    runner = await start(app, settings, host="127.0.0.1")
    token = "eyJhbGciOiJIUzI1NiIsInR5cCI6ImpvaW4ifQ.eyJpbnYiOiJhYmMiLCJleHAiOjF9.c2lnbmF0dXJlLXZhbHVl"
    try:
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{settings.port}/api/join/{token}") as resp:
                    assert resp.status == 401
            lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    finally:
        await runner.cleanup()
    assert any("/api/join/<redacted>" in line for line in lines), lines
    assert not any(token in line for line in lines)
