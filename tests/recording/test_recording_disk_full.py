"""A disk that refuses writes: the recorder stops cleanly, the file plays, the server is told.

Two real ways to make writes fail, no mocks:
- a tiny tmpfs mounted for the test (needs root with CAP_SYS_ADMIN; skipped otherwise),
  which gives a genuine ENOSPC;
- RLIMIT_FSIZE in a child process, which works for any user and gives EFBIG.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from recording import RecordingFailure, ServerKey, SessionRecorder, verify_folder
from server.rtc.frame import EncodedFrame
from tests.recording.recording_helpers import decode, feed, tracks_of

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        # Lazy: a failed test may still hold files open there; never leave the mount behind.
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path, leave: int) -> Path:
    stats = os.statvfs(disk)
    filler = disk / "filler.bin"
    filler.write_bytes(b"\0" * max(stats.f_bavail * stats.f_frsize - leave, 0))
    return filler


async def test_enospc_on_tmpfs_stops_track_and_session_goes_on(
    tiny_disk: Path, key: ServerKey, video_4s: list[EncodedFrame]
) -> None:
    failures: list[RecordingFailure] = []
    rec = await SessionRecorder.start(
        tiny_disk, case_id="c", session_id="full", key=key, on_failure=failures.append
    )
    await rec.add_participant("p1", name="张三", role="party")
    filler = fill(tiny_disk, leave=80_000)
    video = rec.open_track("p1", "video")
    assert video is not None
    feed(video, video_4s)  # ~300 kB of video into ~80 kB of room
    info = await video.wait_closed()
    assert info is not None and info.stop_reason == "disk_full"
    assert video.failure is not None and video.failure.errno == errno.ENOSPC
    assert ("track", "disk_full", "p1.video.s01.webm") in {
        (f.scope, f.reason, f.file) for f in failures
    }
    feed(video, video_4s[:5])  # the SFU keeps delivering: ignored, nothing raised

    written = decode(tiny_disk / "full" / "p1.video.s01.webm")
    assert written.width == 640 and 0 < len(written.times) < len(video_4s)

    # The session goes on; once room is made the seal describes the failure.
    filler.unlink()
    await rec.log_event("note", "clerk", {"text": "磁盘已清理"})
    manifest = await rec.seal()
    [entry] = tracks_of(manifest)
    assert entry["stop_reason"] == "disk_full" and entry["frames"] == info.frames
    assert verify_folder(rec.folder, key.public_key).ok


def test_file_size_limit_stops_track_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(HERE / "fsize_writer.py"), str(tmp_path), "60000"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["failures"] == [["track", "io_error", errno.EFBIG, "p1.video.s01.webm"]]
    assert outcome["stop_reason"] == "io_error"
    written = decode(tmp_path / "p1.video.s01.webm")
    assert written.width == 640 and len(written.times) > 0
    assert len(written.times) <= outcome["frames"]
