"""The aiohttp application: API, health, metrics, OpenAPI and (when built) the web client."""

from __future__ import annotations

import asyncio
import html
import logging
import os
from pathlib import Path
from typing import Any

from aiohttp import web

from server import allocator, heap
from server.agreements import routes as agreements
from server.archive import routes as recordings
from server.background import cancel_and_wait
from server.config import ConfigError, Settings
from server.court.routes import audit_log, auth, cases, courts, join, sessions, terminals
from server.court_network import routes as network
from server.data_dir import make_private
from server.db import Database
from server.http import client_address
from server.http.errors import error_middleware
from server.http.framework import Api, openapi_document
from server.http.limits import body_guard
from server.http.web_security import security_headers
from server.metrics import Metrics
from server.rtc.host_addresses import HostAddressError, limit_host_addresses
from server.security.ratelimit import make_limiter
from server.security.tokens import TokenSigner
from server.state import STATE_KEY, AppState
from server.transcripts import routes as transcripts

log = logging.getLogger(__name__)
VERSION = "0.1.0"
SIGNALING_KEY: web.AppKey[Any] = web.AppKey("signaling", object)
# The built web client; SHARED_COURT_WEB_DIST serves another build (a package's, or a test's).
WEB_DIST = Path(
    os.environ.get("SHARED_COURT_WEB_DIST")
    or Path(__file__).resolve().parent.parent / "web_client" / "dist"
)
# JSON bodies are small; media never goes through HTTP uploads here.
MAX_BODY_BYTES = 1024 * 1024


def all_routes() -> Api:
    api = Api()
    for module in (auth, courts, cases, terminals, sessions, join, audit_log, recordings,
                   transcripts, network, agreements):
        api.routes.extend(module.api.routes)
    return api


def openapi_spec() -> dict[str, Any]:
    return openapi_document(all_routes(), "Shared Court API (共享法庭)", VERSION)


async def healthz(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        async with state.db.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
    except Exception:
        log.exception("health check: database unreachable")
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok", "version": VERSION})


async def metrics_view(request: web.Request) -> web.Response:
    body = request.app[STATE_KEY].metrics.render()
    return web.Response(
        body=body,
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


async def recording_public_key(request: web.Request) -> web.Response:
    """The Ed25519 public key that seals recordings, for anyone who verifies a record."""
    from signaling.features.recording import RECORDING

    recording = request.app[STATE_KEY].part(RECORDING)
    return web.Response(
        body=recording.key.public_pem(),
        content_type="application/x-pem-file",
        headers={"Content-Disposition": 'attachment; filename="shared-court-seal.pem"'},
    )


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(openapi_spec())


async def api_docs(request: web.Request) -> web.Response:
    """A plain, dependency-free reference page generated from the same OpenAPI document."""
    spec = openapi_spec()
    rows = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op['summary'])}</td><td>{html.escape(op['tags'][0])}</td>"
                f"<td>{html.escape(op.get('description', ''))}</td></tr>"
            )
    page = (
        "<!doctype html><meta charset=utf-8><title>共享法庭 API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:2px 8px;border-bottom:1px solid #ddd}"
        "</style><h1>共享法庭 API / Shared Court API</h1>"
        "<p>机器可读规范 / machine-readable spec: <a href=/api/openapi.json>/api/openapi.json</a>"
        " · 信令协议 / signaling: docs/signaling.md</p>"
        "<table><tr><th>Method</th><th>Path</th><th>Summary</th><th>Tag</th><th>Auth</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    return web.Response(text=page, content_type="text/html")


@web.middleware
async def count_requests(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    if request.path.startswith("/api/"):
        request.app[STATE_KEY].metrics.http_requests.labels(f"{response.status // 100}xx").inc()
    return response


async def _spa_index(request: web.Request) -> web.StreamResponse:
    index = WEB_DIST / "index.html"
    if not index.exists():
        return web.Response(
            status=503,
            content_type="text/html",
            text="<!doctype html><meta charset=utf-8><p>网页客户端尚未构建 / web client not built."
            " Run the README's install command.</p>",
        )
    return web.FileResponse(index, headers={"Cache-Control": "no-cache"})


def create_app(settings: Settings) -> web.Application:
    if settings.ice_addresses:
        # Process-wide (aioice has one address lookup); an unknown entry fails start-up here.
        try:
            limit_host_addresses(settings.ice_addresses)
        except HostAddressError as exc:
            raise ConfigError(f"配置无效 / invalid configuration: {exc}") from exc
    make_private(settings.data_dir, settings.effective_recordings_dir)
    app = web.Application(
        # body_guard sits inside error_middleware: a body sent too slowly is answered as an
        # API error (408) and the connection closed (server/http/limits.py).
        middlewares=[
            client_address.middleware(client_address.parse_trusted(settings.trusted_proxies)),
            count_requests,
            security_headers,
            error_middleware,
            body_guard(settings),
        ],
        client_max_size=MAX_BODY_BYTES,
    )
    db = Database(settings.effective_database_url)
    app[STATE_KEY] = AppState(
        settings=settings,
        db=db,
        signer=TokenSigner(settings.ensure_secret()),
        login_limiter=make_limiter(settings),
        metrics=Metrics(),
    )

    trimming: list[asyncio.Task[None]] = []

    async def on_startup(app: web.Application) -> None:
        await db.migrate()
        await recover_at_startup(app[STATE_KEY], recording.key)
        if allocator.running() == "system":  # jemalloc returns its own free memory
            trimming.append(asyncio.ensure_future(heap.trim_periodically()))

    async def on_cleanup(app: web.Application) -> None:
        for task in trimming:
            await cancel_and_wait(task)
        await app[STATE_KEY].login_limiter.aclose()
        await db.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    from signaling.service import attach

    state = app[STATE_KEY]
    service = app[SIGNALING_KEY] = attach(app, state)
    from server.transcripts.live import LIVE_CORRECTIONS
    from signaling.features.agreement import AGREEMENTS, AgreementFeature
    from signaling.features.court_network import CourtNetworkFeature
    from signaling.features.identity_check import IDENTITY_CHECK, IdentityCheck
    from signaling.features.recording import RECORDING, LiveRecording, recover_at_startup
    from signaling.features.transcription import LiveTranscript

    # The room's features, in the order they run at every moment of a room: the identity rule
    # is set before anything records a join; recording seals a session before the agreement
    # adds its documents to the sealed folder; the court network moves the intake last.
    identity_check = state.attach(
        IDENTITY_CHECK,
        IdentityCheck(state, service, required=settings.identity_check_required),
    )
    recording = state.attach(RECORDING, LiveRecording(state, service))
    agreements = state.attach(AGREEMENTS, AgreementFeature(state, service))
    live_transcript = LiveTranscript(state, service)
    state.attach(LIVE_CORRECTIONS, live_transcript)
    for feature in (
        identity_check, recording, agreements, live_transcript, CourtNetworkFeature(state)
    ):
        service.add_feature(feature)
    app.on_shutdown.append(lambda _app: live_transcript.aclose())
    from server.archive.service import attach as attach_retrieval

    attach_retrieval(app)  # composite-video jobs and the retention sweeper
    from server.court_network.setup import setup_network

    setup_network(app, state)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/api/keys/recording.pem", recording_public_key)
    app.router.add_get("/api/docs", api_docs)
    all_routes().register(app)
    if (WEB_DIST / "assets").is_dir():
        app.router.add_static("/assets", WEB_DIST / "assets")
    # Client-side routes (join links, consoles) all load the single-page app.
    for prefix in (
        "/",
        "/join/{tail:.*}",
        "/console{tail:.*}",
        "/terminal{tail:.*}",
        "/clerk{tail:.*}",
        "/login{tail:.*}",
    ):
        app.router.add_get(prefix, _spa_index)
    return app
