"""Active speaker detection from RFC 6464 audio levels, i.e. from RTP header extensions only.

Each published audio track gets an `AudioLevelSink`; the detector compares smoothed loudness
periodically and reports a change only with hysteresis, so the UI does not flicker between two
people talking over each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from .frame import EncodedFrame

# -dBov: 127 is digital silence; speech is typically 20..50.
SILENCE_DBOV = 127


class AudioLevelSink:
    """FrameSink keeping an exponentially smoothed loudness (127 - dBov) of one participant."""

    def __init__(self, participant_id: str, smoothing: float = 0.15) -> None:
        self.participant_id = participant_id
        self.loudness = 0.0
        self.last_heard = 0.0
        self._alpha = smoothing

    def on_frame(self, frame: EncodedFrame) -> None:
        if frame.audio_level is None:
            return
        loudness = float(SILENCE_DBOV - frame.audio_level)
        self.loudness += self._alpha * (loudness - self.loudness)
        self.last_heard = frame.wallclock

    def on_end(self) -> None:
        self.loudness = 0.0


class ActiveSpeakerDetector:
    """Chooses the loudest participant above a speech threshold, with hysteresis.

    `on_change(participant_id | None)` is called on the event loop when the speaker changes.
    """

    def __init__(
        self,
        on_change: Callable[[str | None], None],
        *,
        interval_s: float = 0.3,
        speech_threshold_dbov: int = 60,
        switch_margin_db: float = 4.0,
        stale_after_s: float = 1.0,
    ) -> None:
        self._on_change = on_change
        self._interval = interval_s
        # Loudness above which a participant counts as speaking.
        self._threshold = float(SILENCE_DBOV - speech_threshold_dbov)
        self._margin = switch_margin_db
        self._stale_after = stale_after_s
        self._sinks: dict[str, AudioLevelSink] = {}
        self._task: asyncio.Task[None] | None = None
        self.active_speaker: str | None = None

    def sink_for(self, participant_id: str) -> AudioLevelSink:
        """The sink to attach to `participant_id`'s published audio track."""
        sink = self._sinks.get(participant_id)
        if sink is None:
            sink = self._sinks[participant_id] = AudioLevelSink(participant_id)
        return sink

    def forget(self, participant_id: str) -> None:
        self._sinks.pop(participant_id, None)
        if self.active_speaker == participant_id:
            self._set(None)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def evaluate(self, now: float | None = None) -> str | None:
        """Re-evaluate and return the active speaker (also called by the periodic task)."""
        now = time.time() if now is None else now
        speaking = {
            pid: sink.loudness
            for pid, sink in self._sinks.items()
            if now - sink.last_heard <= self._stale_after and sink.loudness >= self._threshold
        }
        current = self.active_speaker
        if not speaking:
            self._set(None)
            return None
        loudest = max(speaking, key=speaking.__getitem__)
        if current not in speaking or speaking[loudest] >= speaking[current] + self._margin:
            self._set(loudest)
        return self.active_speaker

    def _set(self, participant_id: str | None) -> None:
        if participant_id != self.active_speaker:
            self.active_speaker = participant_id
            self._on_change(participant_id)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.evaluate()
