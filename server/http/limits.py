"""How the server is served, and what it tolerates from slow or stalled clients (slowloris).

aiohttp closes a connection that stays idle past its keep-alive timeout, but it has no
separate limit on how long a client may take to send a request head, and none at all on the
body: a client trickling one byte a second held a request, and whatever the handler had
checked out (a database connection), for as long as it liked. Here:

- the request head must be complete within `http_header_timeout_seconds` of its first byte
  (a new connection: of being accepted), else 408 and the connection is closed;
- a body's first byte must arrive within the same time after the head, and from
  `http_body_rate_grace_seconds` on the body must average `http_body_min_rate_bytes` per
  second, else the handler's read fails, the client gets 408 and the connection is closed;
- idle keep-alive connections close after `http_keepalive_timeout_seconds`.

`serve` (the CLI) and `start` (tests) use the same runner, so tests exercise what runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestHandler

from server.config import Settings
from server.http.errors import ApiError
from server.http.web_security import RedactingAccessLogger

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The head guard reads two attributes of aiohttp's RequestHandler: the future that start()
# awaits while no complete request head is queued, and that queue. Should a future aiohttp
# rename them, the guard switches itself off (the keep-alive timeout still applies) and
# tests/court_network/test_upload_hardening.py fails, rather than every connection breaking.
_HEAD_GUARD_SUPPORTED = {"_waiter", "_messages"} <= set(RequestHandler.__slots__)
_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 17\r\n\r\nrequest timed out"
)


class _HeadTimeoutHandler(RequestHandler):
    def __init__(self, manager: web.Server, *, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._sc_head_timeout = head_timeout
        self._sc_head_timer: asyncio.TimerHandle | None = None
        self._sc_head_started = False

    def _awaiting_head(self) -> bool:
        waiter = self._waiter
        return waiter is not None and not waiter.done() and not self._messages

    def _arm(self) -> None:
        if self._sc_head_timer is None:
            self._sc_head_timer = self._loop.call_later(self._sc_head_timeout, self._expired)

    def _disarm(self) -> None:
        if self._sc_head_timer is not None:
            self._sc_head_timer.cancel()
            self._sc_head_timer = None
        self._sc_head_started = False

    def _expired(self) -> None:
        self._sc_head_timer = None
        if not self._awaiting_head():
            return
        if self._sc_head_started and self.transport is not None:
            # Only a client that began a request gets an answer; a silent one is just closed.
            self.transport.write(_REQUEST_TIMEOUT)
        log.info("closing a connection that did not send a request head in time")
        self.force_close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # A fresh connection that never sends a request costs a socket for nothing.
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._messages or (self._waiter is not None and self._waiter.done()):
            self._disarm()  # a complete head is queued: the body limits take over
        elif self._awaiting_head():
            self._sc_head_started = True
            self._arm()  # counted from the first byte, never extended by further bytes

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class _GuardedServer(web.Server):
    def __init__(self, *args: Any, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sc_head_timeout = head_timeout

    def __call__(self) -> RequestHandler:
        return _HeadTimeoutHandler(
            self, head_timeout=self._sc_head_timeout, loop=self._loop, **self._kwargs
        )


class GuardedAppRunner(web.AppRunner):
    """An AppRunner whose connections enforce the request-head timeout."""

    def __init__(self, app: web.Application, *, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._sc_head_timeout = head_timeout

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        if not _HEAD_GUARD_SUPPORTED:
            log.warning("aiohttp internals changed: request-head timeout not enforced")
            return server
        return _GuardedServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            head_timeout=self._sc_head_timeout,
            **server._kwargs,
        )


async def start(
    app: web.Application,
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    shutdown_timeout: float = 3.0,
    handle_signals: bool = False,
) -> GuardedAppRunner:
    """Start the app on a TCP port with the limits of `settings`; `runner.cleanup()` stops it."""
    runner = GuardedAppRunner(
        app,
        head_timeout=settings.http_header_timeout_seconds,
        keepalive_timeout=settings.http_keepalive_timeout_seconds,
        access_log_class=RedactingAccessLogger,
        shutdown_timeout=shutdown_timeout,
        handle_signals=handle_signals,
    )
    await runner.setup()
    try:
        site = web.TCPSite(
            runner, settings.host if host is None else host, settings.port if port is None else port
        )
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def serve(
    app: web.Application,
    settings: Settings,
    *,
    ready: Callable[[], None],
    shutdown_timeout: float,
) -> None:
    """Serve until SIGINT/SIGTERM, as aiohttp's run_app does (which cannot take our runner)."""

    async def main() -> None:
        runner = await start(
            app, settings, shutdown_timeout=shutdown_timeout, handle_signals=True
        )
        try:
            ready()
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    task = loop.create_task(main())
    try:
        loop.run_until_complete(task)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not task.done():
                task.cancel()
                with suppress(asyncio.CancelledError):
                    loop.run_until_complete(task)
        finally:
            rest = asyncio.all_tasks(loop)
            for t in rest:
                t.cancel()
            loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            asyncio.set_event_loop(None)
            loop.close()


# --- request bodies ------------------------------------------------------------------------------
class BodyTooSlow(TimeoutError):
    """Set on a request's body stream when the client sends it too slowly.

    A TimeoutError so that aiohttp, draining the unread rest of the body after the response,
    gives up at once and closes the connection instead of logging an unhandled error."""


class _BodyWatch:
    """Checks a body's progress at the earliest moments a limit could be crossed."""

    def __init__(self, reader: StreamReader, first_byte: float, grace: float, rate: int) -> None:
        self._reader = reader
        self._first_byte = first_byte
        self._grace = grace
        self._rate = rate
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self.reason: str | None = None

    def begin(self) -> None:
        self._schedule()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self) -> None:
        got = self._reader.total_bytes
        due = [self._first_byte] if got == 0 else []
        if self._rate > 0:
            # `got` only grows, so the average cannot fall below the rate before this.
            due.append(max(self._grace, got / self._rate))
        if due:
            self._timer = self._loop.call_at(self._start + min(due) + 1e-3, self._check)

    def _check(self) -> None:
        self._timer = None
        if self._reader.is_eof():
            return  # the whole body is here, read or not
        elapsed = self._loop.time() - self._start
        got = self._reader.total_bytes
        if got == 0 and elapsed >= self._first_byte:
            self.reason = "请求体未按时开始发送 / request body did not start in time"
        elif self._rate > 0 and elapsed >= self._grace and got < self._rate * elapsed:
            self.reason = (
                f"请求体发送过慢 / request body too slow (under {self._rate} bytes/s)"
            )
        if self.reason is None:
            self._schedule()
            return
        log.info("cutting off a slow request body: %d bytes in %.1f s", got, elapsed)
        self._fail()

    def _fail(self) -> None:
        assert self.reason is not None
        self._reader.set_exception(BodyTooSlow(self.reason))
        # set_exception wakes only a read waiting now. A read woken a moment earlier by data
        # checks for the exception only on entry and then waits again: repeat until the
        # handler is done (stop()).
        self._timer = self._loop.call_later(0.05, self._fail)


def body_guard(settings: Settings) -> Middleware:
    """Middleware: fail the body reads of a request whose body arrives too slowly (408).

    Place it inside error_middleware: it answers with the API's error body itself."""
    first_byte = settings.http_header_timeout_seconds
    grace = settings.http_body_rate_grace_seconds
    rate = settings.http_body_min_rate_bytes

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        content = request.content
        if not request.body_exists or content.is_eof():
            return await handler(request)
        watch = _BodyWatch(content, first_byte, grace, rate)
        watch.begin()
        try:
            return await handler(request)
        except Exception:
            if watch.reason is None:
                raise
            # Whatever the handler made of the failed read, the body is the cause.
            err = ApiError(408, "request_timeout", watch.reason)
            response = web.json_response(err.body(), status=408)
            response.force_close()
            return response
        finally:
            watch.stop()

    return guard
