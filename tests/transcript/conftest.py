"""Fixtures for the transcription tests: the real model, assembled once per test run."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from transcript import FasterWhisperRecognizer, RecognitionQueue, ensure_model


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "speech: needs espeak-ng to synthesise test speech")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if shutil.which("espeak-ng") is None:
        skip = pytest.mark.skip(reason="espeak-ng is not installed (apt-get install espeak-ng)")
        for item in items:
            if "transcript" in str(item.path) and "speech" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_model(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def recognizer(model_dir: Path) -> FasterWhisperRecognizer:
    return FasterWhisperRecognizer(model_dir, cpu_threads=1, workers=1)


@pytest.fixture
async def queue(recognizer: FasterWhisperRecognizer) -> AsyncIterator[RecognitionQueue]:
    q = RecognitionQueue(recognizer)
    yield q
    await q.aclose()
