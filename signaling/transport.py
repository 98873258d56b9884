"""The live room's socket.io transport: who is on which socket, and how an event gets in and out.

`SocketTransport` owns the socket.io server and the identity each socket authenticated as. It
accepts and refuses connections, and runs every client event through one wrapper: one argument
only, an authenticated socket, the throttle, the size limit, only the socket that joined acts
for its participant, a parsed payload; whatever goes wrong becomes an error ack. It sends
events, disconnects sockets (now or a moment later) and closes every client transport at
shutdown.

It knows nothing of rooms: whether a socket is the one that joined, and what a disconnect
means for a room, it asks the orchestration (`signaling.service`) through two callables. The
boundary is there because the live room will later run in a media worker process per core,
reached by something other than socket.io; the orchestration then gets another transport, and
keeps its rules.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import socketio

from server.rtc.errors import MediaError
from server.state import AppState
from signaling import protocol as p
from signaling.connections import ConnectionGuard
from signaling.identity import Identity, authenticate
from signaling.protocol import SignalingError
from signaling.throttle import EventThrottle

log = logging.getLogger(__name__)

SocketServer: TypeAlias = socketio.AsyncServer
# Is `sid` the socket that joined for this identity's participant?
JoinedCheck: TypeAlias = Callable[[str, Identity], bool]
# An authenticated socket went away (sid, identity, socket.io's reason).
GoneHandler: TypeAlias = Callable[[str, Identity, Any], Awaitable[None]]


def socket_server(app: Any, redis_url: str | None) -> SocketServer:
    """Mount socket.io on the aiohttp app; a Redis manager when scale-out is configured."""
    manager = None
    if redis_url:
        manager = socketio.AsyncRedisManager(redis_url)
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        # Larger than any valid event so oversized ones get an error ack instead of a dropped
        # connection; beyond this engine.io closes the transport.
        max_http_buffer_size=1_000_000,
        ping_interval=10,
        ping_timeout=10,
    )
    sio.attach(app)
    return sio


class SocketTransport:
    def __init__(
        self, state: AppState, sio: SocketServer, *, joined: JoinedCheck, gone: GoneHandler
    ) -> None:
        self.state = state
        self.sio = sio
        self._joined = joined
        self._gone = gone
        self._sids: dict[str, Identity] = {}
        settings = state.settings
        self.guard = ConnectionGuard(
            sio,
            join_timeout_s=settings.socket_join_timeout_seconds,
            per_address=settings.max_sockets_per_address,
        )
        self.throttle = EventThrottle(settings.event_burst, settings.events_per_second)
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("*", self._on_unknown)

    # --- who is on which socket ---------------------------------------------------------------
    def identities(self) -> list[tuple[str, Identity]]:
        """Every authenticated socket and its identity (a copy)."""
        return list(self._sids.items())

    def forget(self, sid: str) -> None:
        """`sid` no longer acts for anyone (it is about to be disconnected)."""
        self._sids.pop(sid, None)

    # --- events in ------------------------------------------------------------------------------
    def on(self, name: str, model: type[p.Event], fn: Callable[..., Awaitable[Any]]) -> None:
        """Handle client event `name`: its payload parsed as `model`, then `fn(sid, ident, ev)`."""
        self.sio.on(name, self._wrap(name, model, fn))

    def _wrap(
        self, name: str, model: type[p.Event], fn: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[dict[str, Any]]]:
        async def handler(sid: str, *args: Any) -> dict[str, Any]:
            try:
                if len(args) > 1:
                    # socket.io lets a client send several arguments; every event takes one.
                    raise SignalingError(
                        "invalid_payload", "事件只接受一个参数 / an event takes one argument"
                    )
                data = args[0] if args else None
                ident = self._sids.get(sid)
                if ident is None:
                    raise SignalingError("unauthenticated", "未认证的连接 / not authenticated")
                if not self.throttle.allow(f"{ident.session_id}:{ident.participant_id}"):
                    raise SignalingError(
                        "rate_limited", "操作过于频繁，请稍后再试 / too many events: slow down"
                    )
                if len(json.dumps(data, default=str)) > p.MAX_EVENT_BYTES:
                    raise SignalingError("payload_too_large", "事件数据过大 / payload too large")
                # Only the socket that joined acts for its participant: another socket of the
                # same link (opened earlier, or never joined) may not chat or replace media.
                if name != "join" and not self._joined(sid, ident):
                    raise SignalingError("not_joined", "请先加入 / join first")
                payload = p.parse(model, data)
                result = await fn(sid, ident, payload)
                return {"ok": True, **(result or {})}
            except SignalingError as exc:
                return exc.ack()
            except MediaError as exc:
                log.info("media error on %s from %s: %s", name, sid, exc)
                return SignalingError(
                    "media_error", f"媒体协商失败 / negotiation failed: {exc}"
                ).ack()
            except Exception:
                log.exception("signaling handler %s failed", name)
                return SignalingError("internal", "服务器内部错误 / internal server error").ack()

        return handler

    async def _on_unknown(self, event: str, sid: str, data: Any = None) -> dict[str, Any]:
        return SignalingError("unknown_event", f"未知事件 / unknown event: {event[:40]}").ack()

    async def _on_connect(self, sid: str, *args: Any) -> Any:
        # socket.io calls this with (environ, auth); a client *event* named "connect" arrives
        # here too, with whatever arguments it sent.
        environ = args[0] if args else None
        auth = args[1] if len(args) > 1 else None
        if sid in self._sids or not isinstance(environ, dict) or len(args) > 2:
            # A client *event* named "connect" (python-socketio dispatches it to this handler
            # too): not a connection. An error ack, and nothing changes.
            return SignalingError("unknown_event", "未知事件 / unknown event: connect").ack()
        request = environ.get("aiohttp.request")
        try:
            ident = await authenticate(self.state, request, auth)
        except SignalingError as exc:
            self.guard.refused(sid)
            # The browser receives {"message": …, "data": {"code": …}} in its connect_error.
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": exc.code}
            ) from exc
        self._sids[sid] = ident

    async def _on_disconnect(self, sid: str, *args: Any) -> Any:
        reason = args[0] if args else None
        if self.sio.manager.is_connected(sid, "/"):
            # A client event named "disconnect" on a live socket, not its end: the seat stays.
            return SignalingError("unknown_event", "未知事件 / unknown event: disconnect").ack()
        ident = self._sids.pop(sid, None)
        if ident is None:
            return
        await self._gone(sid, ident, reason)

    # --- events out -----------------------------------------------------------------------------
    async def emit(self, event: str, data: Any, sid: str | None) -> None:
        if sid is not None:
            await self.sio.emit(event, data, to=sid)

    async def enter_session(self, sid: str, session_id: str) -> None:
        """Put `sid` in the session's broadcast group (see `emit_to_session`)."""
        await self.sio.enter_room(sid, f"session:{session_id}")

    async def emit_to_session(self, event: str, data: Any, session_id: str) -> None:
        """Send one event to every socket that entered the session."""
        await self.sio.emit(event, data, room=f"session:{session_id}")

    async def disconnect(self, sid: str) -> None:
        await self.sio.disconnect(sid)

    async def disconnect_later(self, sids: list[str], delay: float) -> None:
        await asyncio.sleep(delay)
        for sid in sids:
            await self.sio.disconnect(sid)

    async def close_all(self) -> None:
        """Close every client's transport now (at shutdown)."""
        for sock in list(self.sio.eio.sockets.values()):
            try:
                # Queue the close without waiting for the client's side of it.
                await sock.close(wait=False)
            except Exception:
                log.warning("closing a client connection at shutdown failed", exc_info=True)
