"""The speech-recognition engine seam: 16 kHz mono PCM in, text out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from transcript.segment import Pcm


@runtime_checkable
class SpeechRecognizer(Protocol):
    """A blocking, thread-safe recogniser; the transcriber calls it from worker threads only.

    ``recognize`` must return Simplified Chinese with punctuation, or ``""`` when nothing was
    said. It may be called from up to ``max_concurrency`` threads at once.
    """

    @property
    def max_concurrency(self) -> int: ...

    def recognize(self, pcm: Pcm) -> str: ...
