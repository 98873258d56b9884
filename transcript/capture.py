"""The per-speaker tap: a FrameSink on one participant's published Opus track."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from server.rtc.frame import EncodedFrame
from transcript.decoder import OpusDecoder
from transcript.queue import RecognitionQueue
from transcript.segment import SAMPLE_RATE, Segment, SegmentStatus, Speaker, Utterance
from transcript.vad import SpeechSpan, UtteranceSegmenter, VadSettings

log = logging.getLogger(__name__)

# Frames are collected and decoded in batches this often. Measured: decoding plus voice
# activity detection costs ~0.12 ms per 20 ms frame (~0.6 % of a core per speaker), cheap
# enough for the event loop; batching keeps ``on_frame`` to an append and the loop to one
# callback per interval. The interval adds at most this much to caption latency.
PROCESS_INTERVAL_S = 0.1


class SpeakerTranscriber:
    """Decodes, cuts and submits one speaker's audio; implements ``server.rtc.frame.FrameSink``.

    Only audio frames are looked at (video is never decoded). While disabled, frames are
    ignored entirely, so nothing said in that time can reach the transcript. Utterance times
    are wall-clock seconds: the first frame's ``wallclock`` plus the RTP-timestamp offset.
    """

    def __init__(
        self,
        speaker: Speaker,
        queue: RecognitionQueue,
        on_segment: Callable[[Segment], None],
        *,
        enabled: bool = True,
        vad_settings: VadSettings | None = None,
    ) -> None:
        self.speaker = speaker
        self._queue = queue
        self._on_segment = on_segment
        self._enabled = enabled
        self._vad_settings = vad_settings
        self._decoder = OpusDecoder()
        self._segmenter: UtteranceSegmenter | None = None  # loads the VAD on first audio
        self._anchor_wallclock: float | None = None
        self._inbox: list[EncodedFrame] = []
        self._timer: asyncio.TimerHandle | None = None
        self._ended = False
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def enabled(self) -> bool:
        return self._enabled

    def set_enabled(self, enabled: bool) -> None:
        """Switch transcription on or off; on switching off, speech already heard is finished."""
        if enabled == self._enabled:
            return
        if not enabled:
            self._process()
            self._flush()
        self._enabled = enabled

    @property
    def pending(self) -> int:
        """Utterances submitted and not yet delivered."""
        return self._pending

    async def wait_idle(self) -> None:
        """Wait until every utterance cut so far has been delivered (or skipped)."""
        await self._idle.wait()

    # FrameSink

    def on_frame(self, frame: EncodedFrame) -> None:
        if not self._enabled or self._ended or frame.kind != "audio":
            return
        if frame.codec.lower() != "audio/opus":
            return
        self._inbox.append(frame)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(PROCESS_INTERVAL_S, self._process)

    def on_end(self) -> None:
        if self._ended:
            return
        self._process()
        self._flush()
        self._ended = True

    # Internals, all on the event loop.

    def _process(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        frames, self._inbox = self._inbox, []
        if not frames:
            return
        if self._anchor_wallclock is None:
            self._anchor_wallclock = frames[0].wallclock
        segmenter = self._ensure_segmenter()
        for frame in frames:
            for chunk in self._decoder.decode(frame):
                for span in segmenter.push(chunk.position, chunk.pcm, chunk.discontinuity):
                    self._submit(span)

    def _flush(self) -> None:
        if self._segmenter is not None:
            for span in self._segmenter.flush():
                self._submit(span)

    def _ensure_segmenter(self) -> UtteranceSegmenter:
        if self._segmenter is None:
            self._segmenter = UtteranceSegmenter(self._vad_settings)
        return self._segmenter

    def _submit(self, span: SpeechSpan) -> None:
        assert self._anchor_wallclock is not None
        utterance = Utterance(
            speaker=self.speaker,
            start=self._anchor_wallclock + span.start / SAMPLE_RATE,
            end=self._anchor_wallclock + span.end / SAMPLE_RATE,
            pcm=span.pcm,
            detected_at=time.time(),
        )
        self._pending += 1
        self._idle.clear()
        self._queue.submit(utterance, self._deliver)

    def _deliver(self, segment: Segment) -> None:
        self._pending -= 1
        if self._pending == 0:
            self._idle.set()
        if segment.status is SegmentStatus.FINAL and not segment.text:
            return  # noise or a cough: nothing was said
        self._on_segment(segment)
