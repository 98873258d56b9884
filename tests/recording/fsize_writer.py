"""Child process for the file-size-limit test: records under RLIMIT_FSIZE, prints the outcome.

Usage: python fsize_writer.py FOLDER LIMIT_BYTES
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys
from pathlib import Path

from recording import RecordingFailure, TrackRecorder
from recording.synthetic import synthetic_video

T0 = 1_700_000_000.0


async def main(folder: Path, limit: int) -> None:
    frames = synthetic_video(4.0, start_wallclock=T0)
    failures: list[RecordingFailure] = []
    # Past the limit, write() fails with EFBIG instead of the process being killed.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    recorder = TrackRecorder(folder, "p1.video.s01", "video", on_failure=failures.append)
    for frame in frames:
        recorder.on_frame(frame)
        await asyncio.sleep(0)
    info = await recorder.wait_closed()
    await asyncio.sleep(0.05)  # let the failure callback run on the loop
    recorder.on_frame(frames[0])  # must be a cheap no-op now, not an exception
    print(json.dumps({
        "failures": [[f.scope, f.reason, f.errno, f.file] for f in failures],
        "frames": info.frames if info else None, "stop_reason": info.stop_reason if info else None,
    }))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
