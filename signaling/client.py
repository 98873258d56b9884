"""A participant over the real signaling protocol: socket.io events + one aiortc peer.

The probe command, the tests and the benchmarks all join rooms through this class, exactly as a
browser does (join link → socket.io → lobby → offer/answer with the server peer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import socketio
from aiortc import RTCIceServer, RTCSessionDescription

from server.rtc.client import MediaClient, VideoCodec

log = logging.getLogger(__name__)


class SignalingFailure(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def split_join_url(url: str) -> tuple[str, str]:
    """`http://host:port/join/<token>` → (`http://host:port`, token)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if "/join/" not in path:
        raise ValueError("不是加入链接 / not a join link: expected …/join/<token>")
    return f"{parts.scheme}://{parts.netloc}", path.rsplit("/join/", 1)[1]


class RoomClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        session_id: str | None = None,
        cookies: dict[str, str] | None = None,
        video: VideoCodec | None = "VP8",
        audio: bool = True,
        media_file: str | None = None,
        decode: bool = True,
        fps: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session_id = session_id
        self.cookies = cookies or {}
        self._media_opts: dict[str, Any] = {
            "video": video,
            "audio": audio,
            "media_file": media_file,
            "decode": decode,
            "fps": fps,
        }
        self.sio = socketio.AsyncClient(reconnection=False)
        self.media: MediaClient | None = None
        self.participant_id: str | None = None
        self.state: dict[str, Any] = {}
        self.chat: list[dict[str, Any]] = []
        self.events: list[tuple[str, Any]] = []
        # Every participant ever seen, so departed publishers keep their names in reports.
        self.names: dict[str, str] = {}
        self.ice_servers: tuple[RTCIceServer, ...] = ()
        self._changed = asyncio.Event()
        for name in (
            "admitted",
            "denied",
            "removed",
            "returned_to_lobby",
            "session_started",
            "session_ended",
            "muted",
            "media_failed",
            "replaced",
            "active_speaker",
            "caption",
        ):
            self.sio.on(name, self._recorder(name))
        self.sio.on("room_state", self._on_state)
        self.sio.on("offer", self._on_offer)
        self.sio.on("chat", self._on_chat)
        self.sio.on("disconnect", self._recorder("disconnect"))
        self._connect_error: Any = None
        self.sio.on("connect_error", self._on_connect_error)

    # --- connection ---------------------------------------------------------------------------
    async def fetch_join_info(self) -> dict[str, Any]:
        assert self.token
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.base_url}/api/join/{self.token}") as resp,
        ):
            body: dict[str, Any] = await resp.json()
            if resp.status != 200:
                err = body.get("error", {})
                raise SignalingFailure(err.get("code", str(resp.status)), err.get("message", ""))
        self.ice_servers = tuple(
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in body.get("ice_servers", [])
        )
        return body

    async def connect(self) -> None:
        auth: dict[str, str] = {}
        if self.token:
            auth["token"] = self.token
        if self.session_id:
            auth["session_id"] = self.session_id
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            await self.sio.connect(
                self.base_url, auth=auth, headers=headers, transports=["websocket"], wait_timeout=10
            )
        except socketio.exceptions.ConnectionError as exc:
            for _ in range(50):  # the connect_error handler runs as a separate task
                if self._connect_error is not None:
                    break
                await asyncio.sleep(0.01)
            detail = self._connect_error
            if isinstance(detail, dict):
                data = detail.get("data")
                code = data.get("code") if isinstance(data, dict) else None
                raise SignalingFailure(str(code or "refused"), str(detail.get("message"))) from exc
            raise SignalingFailure("connect_failed", str(exc)) from exc

    async def call(
        self, event: str, data: dict[str, Any] | None = None, timeout: float = 15.0
    ) -> dict[str, Any]:
        """Emit an event and wait for its ack; raises SignalingFailure on an error ack."""
        ack = await self.sio.call(event, data or {}, timeout=timeout)
        if not isinstance(ack, dict) or not ack.get("ok"):
            err = ack.get("error", {}) if isinstance(ack, dict) else {}
            raise SignalingFailure(err.get("code", "bad_ack"), err.get("message", str(ack)))
        return ack

    async def join(self, consent: bool = True) -> dict[str, Any]:
        ack = await self.call("join", {"consent": consent})
        self.state = ack["room"]
        self.participant_id = self.state["you"]["participant_id"]
        self._changed.set()
        return self.state

    async def start_media(self, factory: Callable[..., MediaClient] = MediaClient) -> None:
        """Create the peer connection and send its offer. `factory` builds the MediaClient
        (benchmarks pass one that replays pre-encoded media)."""
        assert self.participant_id
        self.media = factory(
            self.participant_id, self._send_offer, ice_servers=self.ice_servers, **self._media_opts
        )
        await self.media.connect()

    async def close(self) -> None:
        if self.media is not None:
            await self.media.close()
        if self.sio.connected:
            await self.sio.disconnect()

    # --- state helpers ------------------------------------------------------------------------
    @property
    def presence(self) -> str | None:
        you = self.state.get("you")
        return you.get("presence") if isinstance(you, dict) else None

    def participant(self, pid: str) -> dict[str, Any] | None:
        for part in self.state.get("participants", []):
            if part["participant_id"] == pid:
                return dict(part)
        return None

    def lobby(self) -> list[dict[str, Any]]:
        return [p for p in self.state.get("participants", []) if p["presence"] == "lobby"]

    async def wait_until(
        self, predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out waiting for {what}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.25))
            except TimeoutError:
                pass

    def saw(self, event: str) -> bool:
        return any(name == event for name, _ in self.events)

    # --- handlers -----------------------------------------------------------------------------
    def _recorder(self, name: str) -> Callable[..., Any]:
        async def handler(data: Any = None) -> None:
            self.events.append((name, data))
            self._changed.set()

        return handler

    async def _on_connect_error(self, data: Any = None) -> None:
        # The server's refusal reason ({code, message}) arrives here, not in the exception.
        self._connect_error = data

    async def _on_state(self, data: dict[str, Any]) -> None:
        self.state = data
        for part in data.get("participants", []):
            self.names[part["participant_id"]] = part["display_name"]
        self._changed.set()

    async def _on_chat(self, data: dict[str, Any]) -> None:
        self.chat.append(data)
        self._changed.set()

    async def _send_offer(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        ack = await self.call("offer", {"sdp": offer.sdp, "type": offer.type})
        return RTCSessionDescription(sdp=ack["sdp"], type=ack["type"])

    async def _on_offer(self, data: dict[str, Any]) -> None:
        if self.media is None:
            return
        try:
            answer = await self.media.handle_remote_offer(
                RTCSessionDescription(sdp=data["sdp"], type="offer")
            )
            await self.sio.emit("answer", {"sdp": answer.sdp, "type": answer.type})
        except Exception:
            log.exception("could not answer the server's offer")
