"""Fixtures for the transcription tests: the real model, assembled once per test run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from transcript import FasterWhisperRecognizer, RecognitionQueue


@pytest.fixture(scope="session")
def model_dir(asr_model_dir: Path) -> Path:
    return asr_model_dir


@pytest.fixture(scope="session")
def recognizer(model_dir: Path) -> FasterWhisperRecognizer:
    return FasterWhisperRecognizer(model_dir, cpu_threads=1, workers=1)


@pytest.fixture
async def queue(recognizer: FasterWhisperRecognizer) -> AsyncIterator[RecognitionQueue]:
    q = RecognitionQueue(recognizer)
    yield q
    await q.aclose()
