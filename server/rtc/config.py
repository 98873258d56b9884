"""Media settings of a room: ICE servers, limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer, RTCIceTransportPolicy


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """Settings a `MediaRoom` applies to every server peer.

    `ice_servers` are aiortc's `RTCIceServer(urls=..., username=..., credential=...)`: STUN for
    server-reflexive candidates, TURN for participants behind symmetric NAT.
    """

    ice_servers: tuple[RTCIceServer, ...] = ()
    # "relay": the server peer uses TURN-relayed candidates only (a media server that sits
    # behind a NAT with no port forwarding); "all" (default) also its own addresses.
    ice_transport_policy: Literal["all", "relay"] = "all"
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
            iceTransportPolicy=RTCIceTransportPolicy(self.ice_transport_policy),
        )
