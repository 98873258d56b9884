"""The live transcript of one mediation session: every speaker's segments, in one place."""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import AsyncIterator, Callable

from transcript.capture import SpeakerTranscriber
from transcript.queue import RecognitionQueue
from transcript.segment import Segment, Speaker
from transcript.vad import VadSettings

log = logging.getLogger(__name__)

SegmentListener = Callable[[Segment], None]


class Transcript:
    """Collects the segments of all speakers of a session and hands them to listeners.

    Segments arrive in recognition order (roughly the order utterances ended);
    :attr:`segments` keeps them sorted by start time, the order of the written transcript.
    Listeners (callbacks and :meth:`stream` iterators) get each segment once, on the loop, as
    soon as it is recognised.
    """

    def __init__(
        self,
        queue: RecognitionQueue,
        *,
        enabled: bool = True,
        vad_settings: VadSettings | None = None,
    ) -> None:
        self._queue = queue
        self._enabled = enabled
        self._vad_settings = vad_settings
        self._speakers: dict[str, SpeakerTranscriber] = {}
        # Including speakers who left, whose last utterances may still be recognised.
        self._sinks: list[SpeakerTranscriber] = []
        self._segments: list[Segment] = []
        self._listeners: list[SegmentListener] = []
        self._streams: list[asyncio.Queue[Segment | None]] = []
        self._closed = False

    # Speakers

    def add_speaker(self, speaker: Speaker) -> SpeakerTranscriber:
        """Create the FrameSink for ``speaker``'s audio track (attach it to the SFU track).

        A speaker who republishes (reconnect) gets a new sink; the old one is ended.
        """
        if self._closed:
            raise RuntimeError("transcript is closed")
        old = self._speakers.get(speaker.speaker_id)
        if old is not None:
            old.on_end()
        sink = SpeakerTranscriber(
            speaker,
            self._queue,
            self._on_segment,
            enabled=self._enabled,
            vad_settings=self._vad_settings,
        )
        self._speakers[speaker.speaker_id] = sink
        self._sinks.append(sink)
        return sink

    def remove_speaker(self, speaker_id: str) -> None:
        """The speaker left; what they said so far is still recognised."""
        sink = self._speakers.pop(speaker_id, None)
        if sink is not None:
            sink.on_end()

    @property
    def speakers(self) -> list[Speaker]:
        return [sink.speaker for sink in self._speakers.values()]

    # Switching on and off (the mediator's control)

    @property
    def enabled(self) -> bool:
        return self._enabled

    def set_enabled(self, enabled: bool) -> None:
        self._enabled = enabled
        for sink in self._speakers.values():
            sink.set_enabled(enabled)

    # Output

    @property
    def segments(self) -> list[Segment]:
        """Every segment so far, ordered by start time."""
        return list(self._segments)

    def subscribe(self, listener: SegmentListener) -> Callable[[], None]:
        """Call ``listener`` for every new segment; returns the function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def stream(self) -> AsyncIterator[Segment]:
        """Iterate over new segments until the transcript is closed."""
        inbox: asyncio.Queue[Segment | None] = asyncio.Queue()
        self._streams.append(inbox)
        try:
            while (segment := await inbox.get()) is not None:
                yield segment
        finally:
            self._streams.remove(inbox)

    async def drain(self) -> None:
        """Wait until everything heard so far has been delivered."""
        for sink in list(self._sinks):
            await sink.wait_idle()

    async def aclose(self) -> None:
        """End every speaker, wait for their last segments, then end the streams."""
        if self._closed:
            return
        for sink in self._speakers.values():
            sink.on_end()
        await self.drain()
        self._closed = True
        for inbox in self._streams:
            inbox.put_nowait(None)

    def _on_segment(self, segment: Segment) -> None:
        bisect.insort(self._segments, segment, key=lambda s: s.start)
        for listener in list(self._listeners):
            try:
                listener(segment)
            except Exception:
                log.exception("transcript listener failed")
        for inbox in self._streams:
            inbox.put_nowait(segment)
