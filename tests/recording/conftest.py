"""Fixtures for the recording tests: a signing key and real encoded media, encoded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from recording import ServerKey
from recording.synthetic import synthetic_audio, synthetic_video
from server.rtc.frame import EncodedFrame
from tests.recording.recording_helpers import T0


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def key(key_dir: Path) -> ServerKey:
    return ServerKey.load_or_create(key_dir)


@pytest.fixture(scope="session")
def video_4s() -> list[EncodedFrame]:
    return synthetic_video(4.0, start_wallclock=T0)


@pytest.fixture(scope="session")
def audio_4s() -> list[EncodedFrame]:
    return synthetic_audio(4.0, start_wallclock=T0)
