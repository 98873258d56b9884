"""Engine.io connections that do not become room members are closed.

Every connection holds a file descriptor and some memory, and opening one costs a client
nothing: a script can open thousands, never authenticate (or be refused and stay), and take the
server to its descriptor limit. So a connection must join its room within
``socket_join_timeout_seconds``, a refused one is closed as soon as its refusal is sent, and one
address holds at most ``max_sockets_per_address`` (generous: a village behind one NAT address
shares it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import socketio

log = logging.getLogger(__name__)

NAMESPACE = "/"
# Long enough for the refusal (connect_error) to reach the client before the transport closes.
REFUSAL_GRACE_S = 0.5


def _address(environ: dict[str, Any]) -> str:
    request = environ.get("aiohttp.request")
    remote = getattr(request, "remote", None) or environ.get("REMOTE_ADDR") or ""
    return str(remote)


class ConnectionGuard:
    def __init__(
        self, sio: socketio.AsyncServer, *, join_timeout_s: float, per_address: int
    ) -> None:
        self.sio = sio
        self.join_timeout_s = join_timeout_s
        self.per_address = per_address
        self._by_address: dict[str, set[str]] = {}
        self._address_of: dict[str, str] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        eio = sio.eio
        self._connect = eio.handlers["connect"]
        self._disconnect = eio.handlers["disconnect"]
        eio.on("connect", self._on_eio_connect)
        eio.on("disconnect", self._on_eio_disconnect)

    @property
    def open_connections(self) -> int:
        return len(self._address_of)

    def connections_from(self, address: str) -> int:
        """Open connections counted against one client address."""
        return len(self._by_address.get(address, ()))

    async def _on_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        address = _address(environ)
        held = self._by_address.setdefault(address, set())
        if len(held) >= self.per_address:
            log.warning("refusing a connection from %s: %d already open", address, len(held))
            if not held:
                self._by_address.pop(address, None)
            return False
        held.add(eio_sid)
        self._address_of[eio_sid] = address
        self._arm(eio_sid)
        return await self._connect(eio_sid, environ)

    async def _on_eio_disconnect(self, eio_sid: str, reason: Any = None) -> Any:
        self._forget(eio_sid)
        return await self._disconnect(eio_sid, reason)

    def _forget(self, eio_sid: str) -> None:
        timer = self._timers.pop(eio_sid, None)
        if timer is not None:
            timer.cancel()
        address = self._address_of.pop(eio_sid, None)
        if address is not None:
            held = self._by_address.get(address)
            if held is not None:
                held.discard(eio_sid)
                if not held:
                    del self._by_address[address]

    def _arm(self, eio_sid: str) -> None:
        loop = asyncio.get_running_loop()
        self._timers[eio_sid] = loop.call_later(
            self.join_timeout_s, self._close_soon, eio_sid, "no join in time", 0.0
        )

    def _eio_sid(self, sid: str) -> str | None:
        eio_sid: str | None = self.sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        return eio_sid

    def joined(self, sid: str) -> None:
        """The socket joined its room: it may stay."""
        eio_sid = self._eio_sid(sid)
        timer = self._timers.pop(eio_sid, None) if eio_sid else None
        if timer is not None:
            timer.cancel()

    def left(self, sid: str) -> None:
        """The socket left its room but stays open: it must join again in time."""
        eio_sid = self._eio_sid(sid)
        if eio_sid is not None and eio_sid in self._address_of and eio_sid not in self._timers:
            self._arm(eio_sid)

    def refused(self, sid: str) -> None:
        """The socket.io connect was refused: close the transport under it too."""
        eio_sid = self._eio_sid(sid)
        if eio_sid is not None:
            self._close_soon(eio_sid, "refused", REFUSAL_GRACE_S)

    def _close_soon(self, eio_sid: str, why: str, delay: float) -> None:
        timer = self._timers.pop(eio_sid, None)
        if timer is not None:
            timer.cancel()
        if eio_sid not in self._address_of:
            return

        async def close() -> None:
            if delay:
                await asyncio.sleep(delay)
            log.info("closing connection %s: %s", eio_sid, why)
            with contextlib.suppress(Exception):
                await self.sio.eio.disconnect(eio_sid)

        task = asyncio.ensure_future(close())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
