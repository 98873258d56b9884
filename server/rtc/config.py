"""Media settings of a room: ICE servers, limits."""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """Settings a `MediaRoom` applies to every server peer.

    `ice_servers` are aiortc's `RTCIceServer(urls=..., username=..., credential=...)`: STUN for
    server-reflexive candidates, TURN for participants behind symmetric NAT.
    """

    ice_servers: tuple[RTCIceServer, ...] = ()
    # None: unlimited. Counts participants, connected or not.
    max_participants: int | None = None
    # Caps the REMB the server sends to each video publisher; None: no cap.
    max_video_bitrate_bps: int | None = None
    # At most one PLI per published track per interval.
    keyframe_request_interval_s: float = 0.5
    active_speaker_interval_s: float = 0.3

    def rtc_configuration(self) -> RTCConfiguration:
        # One transport for every track: renegotiation then never needs new ICE/DTLS.
        return RTCConfiguration(
            iceServers=list(self.ice_servers) or None,
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
        )
