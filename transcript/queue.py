"""Running recognition off the event loop, with a bounded backlog.

One queue serves every speaker of every session in a server process, because one loaded model
serves them all and the CPU is the shared limit. Utterances are recognised first come, first
served by ``recognizer.max_concurrency`` worker threads. CTranslate2 releases the GIL while it
computes, so the event loop keeps running media while a worker recognises.

Backlog policy: when the CPU cannot keep up, utterances wait and captions fall behind, then
catch up when people pause. The wait is bounded by the seconds of audio queued but not yet
started (``max_backlog_s``). Past the bound the *oldest* waiting utterance is given up and
delivered as a :attr:`SegmentStatus.SKIPPED` segment with its times and no text: live captions
favour what is being said now, and the clerk fills the gap from the recording.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from transcript.recognizer import SpeechRecognizer
from transcript.segment import Segment, SegmentStatus, Utterance

log = logging.getLogger(__name__)

SegmentCallback = Callable[[Segment], None]

DEFAULT_MAX_BACKLOG_S = 120.0


@dataclass(slots=True)
class _Job:
    utterance: Utterance
    deliver: SegmentCallback


@dataclass(frozen=True, slots=True)
class QueueStats:
    waiting: int
    running: int
    backlog_s: float
    recognised: int
    skipped: int
    failed: int


class RecognitionQueue:
    """Schedules utterances onto a :class:`SpeechRecognizer` without blocking the loop.

    Create and use it on the event loop thread; ``submit`` returns at once and the segment is
    delivered later, on the loop, through the callback given with the utterance.
    """

    def __init__(
        self,
        recognizer: SpeechRecognizer,
        *,
        max_backlog_s: float = DEFAULT_MAX_BACKLOG_S,
    ) -> None:
        if max_backlog_s <= 0:
            raise ValueError("max_backlog_s must be positive")
        self.recognizer = recognizer
        self.max_backlog_s = max_backlog_s
        self._executor = ThreadPoolExecutor(
            max_workers=recognizer.max_concurrency, thread_name_prefix="asr"
        )
        self._waiting: deque[_Job] = deque()
        self._backlog_s = 0.0
        self._running: set[asyncio.Future[str]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._recognised = self._skipped = self._failed = 0

    @property
    def stats(self) -> QueueStats:
        return QueueStats(
            waiting=len(self._waiting),
            running=len(self._running),
            backlog_s=self._backlog_s,
            recognised=self._recognised,
            skipped=self._skipped,
            failed=self._failed,
        )

    def submit(self, utterance: Utterance, deliver: SegmentCallback) -> None:
        """Queue ``utterance``; ``deliver`` gets its :class:`Segment` on the event loop."""
        if self._closed:
            raise RuntimeError("recognition queue is closed")
        self._waiting.append(_Job(utterance, deliver))
        self._backlog_s += utterance.duration
        self._idle.clear()
        while self._backlog_s > self.max_backlog_s and len(self._waiting) > 1:
            self._skip(self._waiting.popleft())
        self._start_jobs()

    async def drain(self) -> None:
        """Wait until every submitted utterance has been delivered."""
        await self._idle.wait()

    async def aclose(self) -> None:
        """Finish what was submitted, then stop the worker threads."""
        self._closed = True
        await self.drain()
        self._executor.shutdown(wait=False)

    def _start_jobs(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting and len(self._running) < self.recognizer.max_concurrency:
            job = self._waiting.popleft()
            self._backlog_s = max(0.0, self._backlog_s - job.utterance.duration)
            future = loop.run_in_executor(
                self._executor, self.recognizer.recognize, job.utterance.pcm
            )
            self._running.add(future)
            future.add_done_callback(partial(self._finished, job=job))
        if not self._waiting and not self._running:
            self._idle.set()

    def _finished(self, future: asyncio.Future[str], *, job: _Job) -> None:
        self._running.discard(future)
        status = SegmentStatus.FINAL
        text = ""
        if future.cancelled():
            status = SegmentStatus.FAILED
        elif (error := future.exception()) is not None:
            log.error("speech recognition failed", exc_info=error)
            status = SegmentStatus.FAILED
        else:
            text = future.result()
        if status is SegmentStatus.FINAL:
            self._recognised += 1
        else:
            self._failed += 1
        self._deliver(job, text, status)
        self._start_jobs()

    def _skip(self, job: _Job) -> None:
        self._backlog_s = max(0.0, self._backlog_s - job.utterance.duration)
        self._skipped += 1
        log.warning(
            "recognition backlog over %.0f s: skipping a %.1f s utterance of %s",
            self.max_backlog_s,
            job.utterance.duration,
            job.utterance.speaker.speaker_id,
        )
        self._deliver(job, "", SegmentStatus.SKIPPED)

    @staticmethod
    def _deliver(job: _Job, text: str, status: SegmentStatus) -> None:
        u = job.utterance
        segment = Segment(u.speaker, u.start, u.end, text, status, delivered_at=time.time())
        try:
            job.deliver(segment)
        except Exception:
            # One faulty consumer must not stop everyone's captions.
            log.exception("segment callback failed")
