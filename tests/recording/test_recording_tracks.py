"""Track recording end to end: real VP8/H.264/Opus frames in, files decoded back with PyAV."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import av
import pytest

from recording import RecorderOptions, ServerKey, SessionRecorder, TrackRecorder, verify_folder
from recording.synthetic import interleave, synthetic_audio, synthetic_video
from server.rtc.frame import EncodedFrame
from tests.recording.recording_helpers import T0, decode, feed, tracks_of


async def start(tmp_path: Path, key: ServerKey, **kw: object) -> SessionRecorder:
    return await SessionRecorder.start(
        tmp_path / "rec", case_id="(2024)京0105民初123号", session_id="s-1", key=key, **kw  # type: ignore[arg-type]
    )


async def test_vp8_and_opus_decode_with_duration_and_sync(
    tmp_path: Path, key: ServerKey, video_4s: list[EncodedFrame], audio_4s: list[EncodedFrame]
) -> None:
    rec = await start(tmp_path, key)
    await rec.add_participant("p1", name="张三", role="party")
    video = rec.open_track("p1", "video")
    audio = rec.open_track("p1", "audio")
    assert video is not None and audio is not None
    for frame in interleave(video_4s, audio_4s):
        (video if frame.kind == "video" else audio).on_frame(frame)
    manifest = await rec.seal()

    assert video.path is not None and video.path.name == "p1.video.s01.webm"
    assert audio.path is not None and audio.path.name == "p1.audio.s01.webm"
    v, a = decode(video.path), decode(audio.path)
    assert (v.width, v.height) == (640, 480)
    assert len(v.times) == len(video_4s)
    assert v.duration == pytest.approx(4.0, abs=0.5)
    assert a.duration == pytest.approx(4.0, abs=0.5)

    entries = {t["media"]: t for t in tracks_of(manifest)}
    assert entries["video"]["role"] == "party" and entries["video"]["segment"] == 1
    assert entries["video"]["width"] == 640 and entries["video"]["codec"] == "video/VP8"
    start_v, start_a = entries["video"]["start_wallclock"], entries["audio"]["start_wallclock"]
    assert abs(start_v - start_a) < 0.1
    assert abs((start_v + v.times[0]) - (start_a + a.times[0])) < 0.1
    assert entries["video"]["end_wallclock"] == pytest.approx(T0 + 4.0, abs=0.5)
    assert entries["video"]["gaps"] == [] and entries["audio"]["gaps"] == []
    # The wall-clock start travels in the file itself too.
    with av.open(str(video.path)) as c:
        assert float(c.metadata["SHARED_COURT_START_WALLCLOCK"]) == pytest.approx(start_v)
        assert c.metadata["SHARED_COURT_PARTICIPANT"] == "p1"
    assert manifest["participants"][0] == {"id": "p1", "name": "张三", "role": "party", "joins": 1}
    assert manifest["interrupted"] is False
    assert verify_folder(rec.folder, key.public_key).ok


async def test_two_second_mute_stays_a_gap(tmp_path: Path, key: ServerKey) -> None:
    mutes = [(1.0, 3.0)]
    rec = await start(tmp_path, key)
    video, audio = rec.open_track("p1", "video"), rec.open_track("p1", "audio")
    assert video is not None and audio is not None
    feed(video, synthetic_video(5.0, start_wallclock=T0, mutes=mutes))
    feed(audio, synthetic_audio(5.0, start_wallclock=T0, mutes=mutes))
    manifest = await rec.seal()

    for recorder in (video, audio):
        assert recorder.path is not None
        times = decode(recorder.path).times
        hole = max(b - a for a, b in itertools.pairwise(times))
        assert hole == pytest.approx(2.0, abs=0.1), recorder.path.name
        assert times[-1] == pytest.approx(5.0, abs=0.5)
    for entry in tracks_of(manifest):
        [gap] = entry["gaps"]
        assert gap["start"] == pytest.approx(T0 + 1.0, abs=0.1)
        assert gap["end"] == pytest.approx(T0 + 3.0, abs=0.1)
        assert gap["duration"] == pytest.approx(2.0, abs=0.1)


async def test_reconnect_starts_new_segment(
    tmp_path: Path, key: ServerKey, video_4s: list[EncodedFrame]
) -> None:
    rec = await start(tmp_path, key)
    first = rec.open_track("p1", "video")
    assert first is not None
    feed(first, video_4s[:60])
    first.on_end()  # publisher's peer connection dropped
    second = rec.open_track("p1", "video")  # same participant, new peer connection
    assert second is not None
    later = [dataclasses.replace(f, wallclock=f.wallclock + 10) for f in video_4s]
    feed(second, later)
    manifest = await rec.seal()

    segments = sorted((t["segment"], t["name"]) for t in tracks_of(manifest))
    assert segments == [(1, "p1.video.s01.webm"), (2, "p1.video.s02.webm")]
    assert decode(rec.folder / "p1.video.s02.webm").duration == pytest.approx(4.0, abs=0.5)
    stopped = [e for e in (rec.folder / "events.jsonl").read_text().splitlines()
               if "recording.track_stopped" in e]
    assert len(stopped) == 2


async def test_h264_goes_to_matroska(tmp_path: Path, key: ServerKey) -> None:
    rec = await start(tmp_path, key)
    video = rec.open_track("p2", "video")
    assert video is not None
    feed(video, synthetic_video(1.5, start_wallclock=T0, codec="video/H264"))
    manifest = await rec.seal()
    assert video.path is not None and video.path.suffix == ".mkv"
    decoded = decode(video.path)
    assert (decoded.width, decoded.height) == (640, 480)
    assert decoded.duration == pytest.approx(1.5, abs=0.5)
    assert tracks_of(manifest)[0]["codec"] == "video/H264"


async def test_video_starts_at_keyframe_and_asks_for_one(
    tmp_path: Path, video_4s: list[EncodedFrame]
) -> None:
    asked: list[float] = []
    tail = [f for f in video_4s if f.wallclock >= T0 + 0.5]  # joined mid-GOP
    assert not tail[0].keyframe
    recorder = TrackRecorder(tmp_path, "late", "video", request_keyframe=lambda: asked.append(1))
    feed(recorder, tail)
    recorder.on_end()
    info = await recorder.wait_closed()
    assert info is not None and asked
    first_key = next(f for f in tail if f.keyframe)
    assert info.start_wallclock == first_key.wallclock
    assert info.frames == len(tail) - tail.index(first_key)
    assert decode(tmp_path / "late.webm").times[0] == 0.0


async def test_caucus_is_recorded_only_when_the_session_says_so(
    tmp_path: Path, key: ServerKey, audio_4s: list[EncodedFrame]
) -> None:
    plain = await SessionRecorder.start(tmp_path, case_id="c", session_id="plain", key=key)
    assert plain.open_track("p1", "audio", caucus_group="g1") is None
    await plain.seal()

    rec = await SessionRecorder.start(
        tmp_path, case_id="c", session_id="caucus", key=key, record_caucus=True
    )
    await rec.log_caucus_change(group="g1", members=["p1", "m1"], by="m1")
    sink = rec.open_track("p1", "audio", caucus_group="g1")
    assert sink is not None
    feed(sink, audio_4s)
    manifest = await rec.seal()
    [entry] = tracks_of(manifest)
    assert entry["caucus"] is True and entry["caucus_group"] == "g1"
    assert entry["name"] == "p1.audio.s01.caucus-g1.webm"
    assert manifest["record_caucus"] is True
    assert manifest["caucus_changes"][0]["payload"]["members"] == ["m1", "p1"]


async def test_full_queue_drops_instead_of_blocking(
    tmp_path: Path, video_4s: list[EncodedFrame]
) -> None:
    recorder = TrackRecorder(
        tmp_path, "small", "video", options=RecorderOptions(queue_limit=10, drain_interval_s=5)
    )
    feed(recorder, video_4s)  # far more than the queue takes before the writer wakes
    recorder.on_end()
    info = await recorder.wait_closed()
    assert info is not None
    assert info.frames + info.dropped_frames <= len(video_4s)
    assert info.dropped_frames > 0
    assert decode(tmp_path / "small.webm").width == 640


async def test_a_closed_segment_lets_go_of_its_muxer(
    tmp_path: Path, key: ServerKey, video_4s: list[EncodedFrame], audio_4s: list[EncodedFrame]
) -> None:
    """Found by bench/soak.py: the session keeps every segment's recorder until the seal, and
    each closed one kept its muxer (and, for audio, an opened Opus encoder context), so a
    session with a caucus every few minutes grew by eight segments' worth each time."""
    rec = await start(tmp_path, key)
    await rec.add_participant("p1", name="张三", role="party")
    for _ in range(3):  # a reconnect or a caucus starts the next segment
        video = rec.open_track("p1", "video")
        audio = rec.open_track("p1", "audio")
        assert video is not None and audio is not None
        feed(video, video_4s[:30])
        feed(audio, audio_4s[:50])
        for recorder in (video, audio):
            recorder.on_end()
            await recorder.wait_closed()
            assert recorder._writer is None  # what the session still holds is small
    manifest = await rec.seal()
    assert len(tracks_of(manifest)) == 6
    assert verify_folder(rec.folder, key.public_key).ok
