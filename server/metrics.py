"""Prometheus metrics, one registry per application (tests run several apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rooms = Gauge("shared_court_rooms", "Live rooms", registry=self.registry)
        self.participants = Gauge(
            "shared_court_participants", "Connected participants", registry=self.registry
        )
        self.tracks = Gauge("shared_court_tracks", "Published tracks", registry=self.registry)
        self.forwarded_bytes = Counter(
            "shared_court_forwarded_bytes",
            "Media payload bytes forwarded to subscribers",
            registry=self.registry,
        )
        self.bitrate = Gauge(
            "shared_court_bitrate_bps", "Current forwarded bitrate", registry=self.registry
        )
        self.recording_bytes = Counter(
            "shared_court_recording_bytes", "Bytes written to recordings", registry=self.registry
        )
        self.http_requests = Counter(
            "shared_court_http_requests",
            "API requests by status class",
            ["status"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
