"""The values that flow out of the transcriber: who spoke, when, and what was recognised."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from numpy.typing import NDArray

SAMPLE_RATE = 16_000
"""Recognisers take 16 kHz mono float32 PCM in [-1, 1]."""

Pcm = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Speaker:
    """Labels supplied by the caller; the transcriber never guesses who is talking."""

    speaker_id: str
    name: str
    role: str  # e.g. 调解员, 申请人, 被申请人


@dataclass(frozen=True, slots=True)
class Utterance:
    """One stretch of speech cut out by voice activity detection, waiting for recognition.

    ``start``/``end`` are wall-clock seconds (``time.time()`` scale) derived from the track's RTP
    timestamps anchored at its first frame's wall clock, the same anchoring the recorder uses,
    so a segment can be located in the recording.
    """

    speaker: Speaker
    start: float
    end: float
    pcm: Pcm = field(repr=False, compare=False)
    # When the end of speech was detected (wall clock), to measure caption latency.
    detected_at: float = 0.0

    @property
    def duration(self) -> float:
        return len(self.pcm) / SAMPLE_RATE


class SegmentStatus(Enum):
    FINAL = "final"
    # The recognition backlog overflowed and this utterance was not recognised; the recording
    # still has it, so the clerk can fill the gap.
    SKIPPED = "skipped"
    # The recogniser raised; the text is empty.
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Segment:
    """A final transcript line for one speaker."""

    speaker: Speaker
    start: float
    end: float
    text: str
    status: SegmentStatus = SegmentStatus.FINAL
    # Wall clock when the segment was delivered; ``delivered_at - end`` is the caption latency.
    delivered_at: float = 0.0

    @property
    def caption_latency(self) -> float:
        return self.delivered_at - self.end
