"""Headless participant: publishes synthetic (or file) media, receives and measures remote tracks.

Used by the `shared-court probe` command, the tests and the benchmark. It is transport-agnostic:
the client's own offer goes out through the `send_offer` callable (socket.io, WebSocket, or a
direct call into `MediaRoom` in the same process), and the server's renegotiation offers come in
through `handle_remote_offer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.sdp import SessionDescription

from .aiortc_seam.receiver import ReceiverTap, TappedFrame
from .aiortc_seam.transport import receive_media_inline
from .keyframes import vp8_dimensions
from .publication import publisher_of_track_id
from .synthetic import MovingPatternTrack, ToneTrack

logger = logging.getLogger(__name__)

SendOffer = Callable[[RTCSessionDescription], Awaitable[RTCSessionDescription]]
VideoCodec = Literal["VP8", "H264"]


@dataclass(slots=True)
class RemoteTrackStats:
    """What arrived on one remote track. `frames` are decoded frames, or complete encoded
    frames when the client runs with `decode=False`."""

    track_id: str
    kind: str
    publisher_id: str | None
    frames: int = 0
    width: int | None = None
    height: int | None = None
    first_frame_at: float | None = None
    last_frame_at: float | None = None
    subscribed_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class ClientStats:
    """Snapshot from aiortc's getStats: outbound bitrate since the previous snapshot, RTT from
    the server's receiver reports, and RTP packets received per remote track id."""

    outbound_bitrate_bps: float
    round_trip_time_s: float | None
    packets_received: dict[str, int]


@dataclass(slots=True)
class _Receiving:
    """What one receiver's frames are counted as: the server may reuse the m-line (and so this
    receiver, whose track id aiortc never changes) for another published track."""

    stats: RemoteTrackStats


class MediaClient:
    """An aiortc peer acting as one participant.

    ``video``: "VP8" (default), "H264" or None; ``audio``: publish a tone; ``media_file``: publish
    a file through aiortc's MediaPlayer instead of the synthetic sources. ``decode=False`` counts
    encoded frames through the receiver tap instead of decoding (cheap, for large benchmarks).
    """

    def __init__(
        self,
        participant_id: str,
        send_offer: SendOffer,
        *,
        video: VideoCodec | None = "VP8",
        audio: bool = True,
        silent: bool = False,
        fps: float = 30.0,
        media_file: str | None = None,
        decode: bool = True,
        ice_servers: tuple[RTCIceServer, ...] = (),
    ) -> None:
        self.participant_id = participant_id
        self._send_offer = send_offer
        self._video_codec = video
        self._publish_audio = audio
        self._silent = silent
        self._fps = fps
        self._media_file = media_file
        self._decode = decode
        self.pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=list(ice_servers) or None, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE
            )
        )
        self.remote: dict[str, RemoteTrackStats] = {}
        self._receiving: dict[MediaStreamTrack, _Receiving] = {}
        self._consumers: set[asyncio.Task[None]] = set()
        self._taps: list[ReceiverTap] = []
        self._lock = asyncio.Lock()
        self._last_bytes_sent: tuple[float, int] | None = None
        self._player: MediaPlayer | None = None
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state_change)

    def _on_connection_state_change(self) -> None:
        if self.pc.connectionState == "connected":
            receive_media_inline(self.pc)

    # ---- signaling ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """Add local media, offer it to the server through `send_offer`, apply the answer."""
        async with self._lock:
            video_track, audio_track = self._local_tracks()
            if video_track is not None:
                transceiver = self.pc.addTransceiver(video_track, direction="sendonly")
                if self._video_codec == "H264":
                    caps = RTCRtpSender.getCapabilities("video").codecs
                    transceiver.setCodecPreferences(
                        [c for c in caps if c.mimeType in ("video/H264", "video/rtx")]
                    )
            if audio_track is not None:
                self.pc.addTransceiver(audio_track, direction="sendonly")
            if video_track is None and audio_track is None:
                # An offer needs an m-line to set up the transport. Receive-only sections also
                # let a server that answers with media (e.g. a MediaRelay baseline) send at once;
                # our MediaRoom forwards on transceivers it offers itself.
                self.pc.addTransceiver("audio", direction="recvonly")
                self.pc.addTransceiver("video", direction="recvonly")
            await self.pc.setLocalDescription(await self.pc.createOffer())
            answer = await self._send_offer(self.pc.localDescription)
            await self.pc.setRemoteDescription(answer)

    async def handle_remote_offer(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        """Answer an offer the server made (renegotiation after subscription changes)."""
        async with self._lock:
            await self.pc.setRemoteDescription(offer)
            self._follow_reused_m_lines(offer.sdp)
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            return self.pc.localDescription

    async def close(self) -> None:
        for task in list(self._consumers):
            task.cancel()
        for task in list(self._consumers):
            with contextlib.suppress(asyncio.CancelledError, MediaStreamError):
                await task
        await self.pc.close()

    # ---- measurements ------------------------------------------------------------------------

    @property
    def connection_state(self) -> str:
        return str(self.pc.connectionState)

    def tracks_from(self, publisher_id: str, kind: str | None = None) -> list[RemoteTrackStats]:
        return [
            s
            for s in self.remote.values()
            if s.publisher_id == publisher_id and (kind is None or s.kind == kind)
        ]

    def frames_from(self, publisher_id: str, kind: str | None = None) -> int:
        """Frames received from one publisher (all its tracks of `kind`)."""
        return sum(s.frames for s in self.tracks_from(publisher_id, kind))

    async def wait_for_frames(
        self, publisher_id: str, kind: str, count: int, timeout_s: float = 20.0
    ) -> None:
        """Wait until `count` more frames of `kind` from `publisher_id` than now have arrived."""
        target = self.frames_from(publisher_id, kind) + count
        deadline = time.monotonic() + timeout_s
        while self.frames_from(publisher_id, kind) < target:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.participant_id}: {self.frames_from(publisher_id, kind)}/{target} "
                    f"{kind} frames from {publisher_id} after {timeout_s}s"
                )
            await asyncio.sleep(0.05)

    async def get_stats(self) -> ClientStats:
        bytes_sent = 0
        rtt: float | None = None
        for sender in self.pc.getSenders():
            if sender.track is None:
                continue
            for stat in (await sender.getStats()).values():
                if stat.type == "outbound-rtp":
                    bytes_sent += stat.bytesSent
                elif stat.type == "remote-inbound-rtp" and stat.roundTripTime is not None:
                    rtt = stat.roundTripTime if rtt is None else max(rtt, stat.roundTripTime)
        now = time.monotonic()
        bitrate = 0.0
        if self._last_bytes_sent is not None and now > self._last_bytes_sent[0]:
            last_time, last_bytes = self._last_bytes_sent
            bitrate = (bytes_sent - last_bytes) * 8 / (now - last_time)
        self._last_bytes_sent = (now, bytes_sent)
        packets: dict[str, int] = {}
        for transceiver in self.pc.getTransceivers():
            receiving = self._receiving.get(transceiver.receiver.track)
            if receiving is None:
                continue
            track_id = receiving.stats.track_id
            for stat in (await transceiver.receiver.getStats()).values():
                if stat.type == "inbound-rtp":
                    packets[track_id] = packets.get(track_id, 0) + stat.packetsReceived
        return ClientStats(bitrate, rtt, packets)

    # ---- internals ---------------------------------------------------------------------------

    def _local_tracks(self) -> tuple[MediaStreamTrack | None, MediaStreamTrack | None]:
        if self._media_file is not None:
            self._player = MediaPlayer(self._media_file)
            video = self._player.video if self._video_codec else None
            audio = self._player.audio if self._publish_audio else None
            return video, audio
        video = MovingPatternTrack(fps=self._fps) if self._video_codec else None
        audio = ToneTrack(amplitude=0.0 if self._silent else 0.3) if self._publish_audio else None
        return video, audio

    def _remote_stats(self, track_id: str, kind: str) -> RemoteTrackStats:
        stats = RemoteTrackStats(
            track_id=track_id, kind=kind, publisher_id=publisher_of_track_id(track_id)
        )
        self.remote[track_id] = stats
        return stats

    def _on_track(self, track: MediaStreamTrack) -> None:
        receiving = _Receiving(self._remote_stats(track.id, track.kind))
        self._receiving[track] = receiving
        if self._decode:
            task = asyncio.ensure_future(self._consume(track, receiving))
            self._consumers.add(task)
            task.add_done_callback(self._consumers.discard)
            return
        receiver = self._receiver_of(track)
        if receiver is not None:
            self._taps.append(
                ReceiverTap(
                    receiver, lambda f: self._count_encoded(receiving.stats, f), lambda: None
                )
            )

    def _follow_reused_m_lines(self, sdp: str) -> None:
        # aiortc fires "track" once per transceiver; a new msid on a known m-line is another
        # published track on it (a reconnect, or another participant after one left).
        msid_by_mid = {
            m.rtp.muxId: m.msid.split()[1]
            for m in SessionDescription.parse(sdp).media
            if m.msid and len(m.msid.split()) == 2 and m.direction in ("sendonly", "sendrecv")
        }
        for transceiver in self.pc.getTransceivers():
            receiving = self._receiving.get(transceiver.receiver.track)
            track_id = msid_by_mid.get(transceiver.mid or "")
            if receiving is None or track_id is None or track_id == receiving.stats.track_id:
                continue
            receiving.stats = self._remote_stats(track_id, receiving.stats.kind)

    def _receiver_of(self, track: MediaStreamTrack) -> RTCRtpReceiver | None:
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver.track is track:
                return transceiver.receiver
        return None

    @staticmethod
    def _count_encoded(stats: RemoteTrackStats, frame: TappedFrame) -> None:
        now = time.monotonic()
        stats.frames += 1
        stats.first_frame_at = stats.first_frame_at or now
        stats.last_frame_at = now
        if frame.codec.mimeType.lower() == "video/vp8":
            size = vp8_dimensions(frame.data)
            if size is not None:
                stats.width, stats.height = size

    @staticmethod
    async def _consume(track: MediaStreamTrack, receiving: _Receiving) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                stats = receiving.stats
                now = time.monotonic()
                stats.frames += 1
                stats.first_frame_at = stats.first_frame_at or now
                stats.last_frame_at = now
                width = getattr(frame, "width", None)
                if isinstance(width, int):
                    stats.width = width
                    stats.height = int(getattr(frame, "height", 0))
