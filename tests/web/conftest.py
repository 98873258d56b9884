"""Fixtures for browser tests of the web client: a real server process and headless Chromium.

Chromium is used from /usr/bin/chromium (never downloaded). Without it the tests fail when
CI=true and are skipped otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web_client"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # Chromium offers 127.0.0.1 too (the server offers only 127.0.0.1: ice_addresses).
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("shared-court")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "server.cli"]


def _ensure_built() -> None:
    """The server serves web_client/dist; build it when missing (npm ci + vite build)."""
    if (WEB / "dist" / "index.html").exists() and os.environ.get("WEB_REBUILD") != "1":
        return
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("web_client/dist is not built and npm is not installed")
    if not (WEB / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    subprocess.run([npm, "run", "build"], cwd=WEB, check=True)


def token_payload(link: str) -> dict[str, Any]:
    """Decode the (signed, not encrypted) payload of a join link: invite id, participant id."""
    token = link.rsplit("/", 1)[-1]
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


@dataclass
class Server:
    base_url: str
    demo: dict[str, Any]
    data_dir: Path
    log_path: Path

    def fresh_session(self) -> dict[str, Any]:
        """A new demo session of the running server (for tests that must not share one)."""
        return _seed_demo(self.data_dir, self.base_url)


def _seed_demo(data_dir: Path, base: str) -> dict[str, Any]:
    """`shared-court demo` is idempotent: each run schedules a new session (now) with fresh links."""
    out = subprocess.run(
        [*_cli(), "demo", "--data-dir", str(data_dir), "--json", "--base-url", base],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    ).stdout
    return json.loads(out[out.index("{") :])


def require_browser() -> None:
    """Chromium, Playwright and a built web client, or skip (fail on CI)."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"Chromium not found at {CHROMIUM}")
    try:
        import playwright  # noqa: F401
    except ImportError:
        _unavailable("playwright (Python) is not installed: pip install playwright")
    _ensure_built()


@contextmanager
def running_server(
    data_dir: Path, log_name: str = "web-server.log", env: dict[str, str] | None = None
) -> Iterator[Server]:
    """A real server process on a free loopback port over a demo-seeded data dir, stopped on
    exit. `env`: extra environment (settings as SHARED_COURT_*)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    demo = _seed_demo(data_dir, base)
    # Kept after the run (test-output/ is gitignored) for diagnosing failures in CI.
    log_path = ROOT / "test-output" / log_name
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [*_cli(), "serve", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, **(env or {})),
    )
    # Generous: a loaded CI machine can take long to import the server (a healthy one: ~2 s).
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            log.close()
            raise RuntimeError("server did not start:\n" + log_path.read_text()[-4000:])
        time.sleep(0.2)
    try:
        yield Server(base, demo, data_dir, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_browser()
    # The shipped defaults (identity check required): the tests verify a party's identity or
    # give the mediator's written reason when admitting an unverified one.
    with running_server(tmp_path_factory.mktemp("webdata")) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        plain_new_context = b.new_context

        def new_context(*args: Any, **kw: Any) -> Any:
            # Every page the tests open reports what the Content-Security-Policy refused.
            ctx = plain_new_context(*args, **kw)
            ctx.on("console", _note_csp_violation)
            return ctx

        b.new_context = new_context  # type: ignore[method-assign]
        try:
            yield b
        finally:
            b.close()


CSP_VIOLATIONS: list[str] = []


def _note_csp_violation(msg: Any) -> None:
    text = str(msg.text)
    if "Content Security Policy" in text:
        CSP_VIOLATIONS.append(text)


@pytest.fixture(autouse=True)
def no_csp_violations() -> Iterator[None]:
    """The app's pages work under its Content-Security-Policy: nothing they need is refused."""
    CSP_VIOLATIONS.clear()
    yield
    assert not CSP_VIOLATIONS, CSP_VIOLATIONS[:5]


@pytest.fixture
def fresh(server: Server) -> dict[str, Any]:
    """A session of its own: links of a session that another test ended answer 410."""
    return server.fresh_session()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
