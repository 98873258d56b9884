"""Timeline: RTP time places frames; wall-clock only rescues a clock that cannot be trusted."""

from __future__ import annotations

import pytest

from recording.timeline import Timeline


def test_rtp_time_wins_over_arrival_jitter() -> None:
    tl = Timeline()
    assert tl.place(0, 90000, 100.0).pts_ms == 0
    # Arrives 300 ms late (jitter buffer burst) but RTP says 33 ms: RTP is right.
    placed = tl.place(3000, 90000, 100.3)
    assert placed.pts_ms == 33 and placed.gap is None


def test_gap_over_threshold_is_reported_with_wall_clock_bounds() -> None:
    tl = Timeline(gap_threshold_s=1.0)
    for i in range(10):
        tl.place(i * 960, 48000, 100.0 + i * 0.02)
    placed = tl.place(10 * 960 + 96000, 48000, 102.2)  # 2 s later than the next frame was due
    assert placed.gap is not None
    assert placed.gap.start == pytest.approx(100.2)
    assert placed.gap.duration == pytest.approx(2.0, abs=0.001)
    assert tl.end_wallclock == pytest.approx(102.22)


def test_sender_that_stops_its_clock_is_placed_by_wall_clock() -> None:
    tl = Timeline(resync_s=3.0)
    tl.place(0, 90000, 100.0)
    tl.place(3000, 90000, 100.033)
    # Sender paused 10 s without advancing RTP time.
    placed = tl.place(6000, 90000, 110.066)
    assert placed.pts_ms == 10066 and placed.gap is not None
    # And RTP steers again from the new anchor.
    assert tl.place(9000, 90000, 110.2).pts_ms == 10099


def test_timestamps_never_go_backwards() -> None:
    tl = Timeline()
    tl.place(90000, 90000, 100.0)
    tl.place(93000, 90000, 100.033)
    assert tl.place(10, 90000, 100.066).pts_ms > 33  # RTP reset: re-anchored, still increasing
