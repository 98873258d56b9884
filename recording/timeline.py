"""Where each frame of a track sits in time, so silences and outages stay visible in the file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch with no media (mute, network outage), in wall-clock seconds since the epoch."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_json(self) -> dict[str, float]:
        return {"start": round(self.start, 3), "end": round(self.end, 3),
                "duration": round(self.duration, 3)}


@dataclass(frozen=True, slots=True)
class Placement:
    pts_ms: int
    gap: Gap | None


class Timeline:
    """Maps a track's RTP timestamps to file timestamps in milliseconds from its first frame.

    RTP time is the sender's capture clock: it keeps counting through a mute or an outage and is
    immune to network jitter, so it is the primary source. Wall-clock (arrival) time is the
    fallback for when RTP time cannot be trusted: it went backwards (sender restarted its clock)
    or it disagrees with arrival time by more than ``resync_s`` (a sender that stops its clock
    while paused). The threshold is wide because a jitter buffer may release a few seconds of
    late frames in a burst, which must not shift the track.
    """

    def __init__(self, *, gap_threshold_s: float = 1.0, resync_s: float = 3.0) -> None:
        self._gap_ms = int(gap_threshold_s * 1000)
        self._resync_ms = int(resync_s * 1000)
        self.start_wallclock: float | None = None
        self._anchor_rtp = 0
        self._anchor_pts = 0
        self._last_rtp = 0
        self._last_pts = 0
        # The usual spacing of frames, used to say where a gap starts (after the last frame ends).
        self._interval_ms = 0

    def place(self, rtp_timestamp: int, clock_rate: int, wallclock: float) -> Placement:
        if self.start_wallclock is None:
            self.start_wallclock = wallclock
            self._anchor_rtp = self._last_rtp = rtp_timestamp
            return Placement(0, None)
        pts_rtp = self._anchor_pts + round(
            (rtp_timestamp - self._anchor_rtp) * 1000 / clock_rate
        )
        pts_wall = round((wallclock - self.start_wallclock) * 1000)
        if rtp_timestamp < self._last_rtp or abs(pts_rtp - pts_wall) > self._resync_ms:
            pts = max(pts_wall, self._last_pts + 1)
            self._anchor_rtp, self._anchor_pts = rtp_timestamp, pts
        else:
            pts = max(pts_rtp, self._last_pts + 1)
        step = pts - self._last_pts
        gap = None
        if step > self._gap_ms:
            gap = Gap(
                start=self.start_wallclock + (self._last_pts + self._interval_ms) / 1000,
                end=self.start_wallclock + pts / 1000,
            )
        else:
            self._interval_ms = step
        self._last_pts, self._last_rtp = pts, rtp_timestamp
        return Placement(pts, gap)

    @property
    def end_wallclock(self) -> float | None:
        """When the last placed frame ends."""
        if self.start_wallclock is None:
            return None
        return self.start_wallclock + (self._last_pts + self._interval_ms) / 1000
