"""Child process for the crash test: records, says READY, then waits to be killed with SIGKILL.

Usage: python crash_writer.py RECORDINGS_DIR KEYS_DIR SECONDS
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from recording import ServerKey, SessionRecorder
from recording.synthetic import interleave, synthetic_audio, synthetic_video

T0 = 1_700_000_000.0


async def main(recordings: Path, keys: Path, seconds: float) -> None:
    key = ServerKey.load_or_create(keys)
    video_frames = synthetic_video(seconds, start_wallclock=T0)
    audio_frames = synthetic_audio(seconds, start_wallclock=T0)
    rec = await SessionRecorder.start(recordings, case_id="c-crash", session_id="s-crash", key=key)
    await rec.add_participant("p1", name="张三", role="party")
    await rec.log_consent("p1", accepted=True)
    video, audio = rec.open_track("p1", "video"), rec.open_track("p1", "audio")
    assert video is not None and audio is not None
    for frame in interleave(video_frames, audio_frames):
        (video if frame.kind == "video" else audio).on_frame(frame)
    for _ in range(500):  # the writer threads drain every 50 ms
        if not (video.queued or audio.queued):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # the writer thread's last drain and its flush
    print("READY", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])))
