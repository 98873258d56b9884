"""Crash test: a real `shared-court serve` process is killed with SIGKILL mid-recording.

After a restart the recording is sealed as interrupted: the files decode, the manifest and the
event log say so, `verify` passes (API, library and CLI), and one changed byte is caught and
named.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from recording import verify_folder
from tests.recording.recording_helpers import decode

CLI = [sys.executable, "-m", "server.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, port: int, log: Path) -> None:
        self.data_dir, self.port, self.log = data_dir, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*CLI, "serve", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
                 "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "LOG_LEVEL": "INFO"},
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        pytest.fail("server did not come up: " + self.log.read_text()[-3000:])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data", free_port(), tmp_path / "server.log")
    yield srv
    srv.kill(signal.SIGTERM)


def probe(url: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([*CLI, "probe", url, "--seconds", "90", *extra],
                                stdout=out, stderr=subprocess.STDOUT)


def media_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.webm"))


async def clerk_api(base: str, clerk: dict[str, str]) -> tuple[aiohttp.ClientSession, str]:
    # unsafe=True: keep cookies from an IP-address host (127.0.0.1).
    session = aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    resp = await session.post("/api/auth/login", json={
        "username": clerk["username"], "password": clerk["password"]})
    assert resp.status == 200, await resp.text()
    return session, (await resp.json())["csrf_token"]


async def check_api(base: str, clerk: dict[str, str], folder: Path, tracks: int) -> None:
    """The clerk sees the recording through the API as interrupted; the server verifies it."""
    api, csrf = await clerk_api(base, clerk)
    async with api:
        resp = await api.get("/api/recordings")
        listed = await resp.json()
        assert resp.status == 200, listed
        (row,) = [r for s in listed for r in s["recordings"]]
        assert row["status"] == "interrupted" and row["folder"] == folder.name
        detail = await (await api.get(f"/api/recordings/{row['id']}")).json()
        assert detail["manifest"]["interrupted"] is True
        assert len(detail["manifest"]["tracks"]) == tracks
        resp = await api.post(f"/api/recordings/{row['id']}/verify",
                              headers={"X-CSRF-Token": csrf})
        checked = await resp.json()
        assert resp.status == 200 and checked["ok"] and checked["signer_trusted"], checked
        assert checked["interrupted"] is True


@pytest.mark.timeout(300)
def test_sigkill_mid_recording_then_restart(server: Server, tmp_path: Path) -> None:
    demo = subprocess.run(
        [*CLI, "demo", "--json", "--base-url", server.base, "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    links: dict[str, Any] = json.loads(demo.stdout)
    server.start()
    probes = [
        probe(links["mediator_link"], tmp_path / "mediator.log", "--admit-all",
              "--start-recording"),
        probe(links["party_links"][0]["url"], tmp_path / "party.log"),
    ]
    recordings = server.data_dir / "recordings"
    try:
        # Wait until both participants' video is being written, then let it run a little.
        deadline = time.monotonic() + 120
        folder: Path | None = None
        while time.monotonic() < deadline:
            folders = [p for p in recordings.iterdir() if p.is_dir()] if recordings.is_dir() else []
            if folders:
                folder = folders[0]
                videos = [p for p in media_files(folder) if ".video." in p.name]
                if len(videos) >= 2 and all(p.stat().st_size > 30_000 for p in videos):
                    break
            time.sleep(0.5)
        else:
            logs = "".join((tmp_path / n).read_text()[-1500:] for n in
                           ("server.log", "mediator.log", "party.log"))
            pytest.fail("media never reached the recorder:\n" + logs)
        time.sleep(3.0)
        assert folder is not None and (folder / "recording.open").exists()
        server.kill(signal.SIGKILL)
    finally:
        for p in probes:
            p.terminate()
        for p in probes:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    assert not (folder / "manifest.json").exists(), "killed before any seal"

    server.start()  # start-up recovery seals the cut-off recording
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["interrupted"] is True
    assert not (folder / "recording.open").exists()
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert events[-1]["type"] == "recording.interrupted"
    tracks = [f for f in manifest["files"] if f["kind"] == "track"]
    assert {t["media"] for t in tracks} == {"video", "audio"}
    assert all(t["stop_reason"] == "interrupted" for t in tracks)
    for t in tracks:
        decoded = decode(folder / t["name"])
        assert decoded.duration > 1.0, t["name"]
        if t["media"] == "video":
            assert (decoded.width, decoded.height) == (t["width"], t["height"])
    report = verify_folder(folder)
    assert report.ok, report.problems

    asyncio.run(check_api(server.base, links["clerk"], folder, len(tracks)))

    def cli_verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "verify", str(folder), "--data-dir", str(server.data_dir)],
            capture_output=True, text=True, timeout=120,
        )

    ok = cli_verify()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    victim = next(folder / t["name"] for t in tracks if t["media"] == "video")
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 3] ^= 0x01
    victim.write_bytes(bytes(raw))
    bad = cli_verify()
    assert bad.returncode != 0
    assert victim.name in bad.stdout
