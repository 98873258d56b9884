"""kill -9 in the middle of a recording, then start-up recovery seals what survived."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from recording import (
    ServerKey,
    SessionRecorder,
    check_chain,
    find_interrupted,
    recover_interrupted,
    verify_folder,
)
from tests.recording.recording_helpers import T0, decode, manifest_of, tracks_of

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def record_then_kill(recordings: Path, keys: Path, seconds: float) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, str(HERE / "crash_writer.py"), str(recordings), str(keys), str(seconds)],
        stdout=subprocess.PIPE, env=env, text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "READY"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert child.returncode == -signal.SIGKILL


async def test_sigkill_then_recovery_seals_as_interrupted(tmp_path: Path, key_dir: Path) -> None:
    recordings = tmp_path / "recordings"
    record_then_kill(recordings, key_dir, seconds=4.0)
    folder = recordings / "s-crash"
    assert (folder / "recording.open").exists() and not (folder / "manifest.json").exists()
    # A crash may also cut an event-log line in half.
    with (folder / "events.jsonl").open("ab") as f:
        f.write(b'{"actor":"p1","hash":"12')

    assert find_interrupted(recordings) == [folder]
    key = ServerKey.load_or_create(key_dir)
    [result] = recover_interrupted(recordings, key)
    assert result.sealed and result.error is None and result.discarded_log_bytes == 24

    manifest = manifest_of(folder)
    assert manifest["interrupted"] is True
    assert manifest["case"] == "c-crash" and manifest["participants"][0]["role"] == "party"
    assert manifest["consents"][0]["payload"]["accepted"] is True
    tracks = {t["media"]: t for t in tracks_of(manifest)}
    assert set(tracks) == {"audio", "video"}
    for media, entry in tracks.items():
        assert entry["stop_reason"] == "interrupted"
        decoded = decode(folder / entry["name"])
        # Everything up to the last flushed cluster (<= 0.5 s before the kill) plays.
        assert decoded.duration >= 3.0, media
        assert entry["end_wallclock"] == pytest.approx(T0 + decoded.times[-1], abs=0.2)
    video = decode(folder / tracks["video"]["name"])
    assert (video.width, video.height) == (640, 480)

    chain = check_chain(folder / "events.jsonl")
    assert chain.events[-1].type == "recording.interrupted"
    assert chain.events[-1].payload["discarded_tail_bytes"] == 24
    report = verify_folder(folder, key.public_key)
    assert report.ok, report.problems
    assert report.interrupted is True
    assert find_interrupted(recordings) == []

    # The session resumes after the restart: its recording continues in a new folder.
    resumed = await SessionRecorder.start(
        recordings, case_id="c-crash", session_id="s-crash", key=key
    )
    assert resumed.folder.name == "s-crash.part2"
    await resumed.seal()
