"""Voice activity detection: cutting a speaker's audio into utterances.

Uses the Silero VAD model that faster-whisper ships (an ONNX file inside its wheel), run
incrementally: the recurrent state is carried from one call to the next, so each 32 ms window
is scored once, whatever size the chunks arrive in.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from functools import cache

import numpy as np
import onnxruntime

from transcript.segment import SAMPLE_RATE, Pcm

WINDOW = 512  # samples the model scores at 16 kHz (32 ms)
_CONTEXT = 64  # samples of the previous window the model expects in front of each window


@cache
def _silero_path() -> str:
    from faster_whisper.utils import get_assets_path

    return os.path.join(get_assets_path(), "silero_vad_v6.onnx")


class SileroVad:
    """Streaming speech probability per 32 ms window; one instance per track (it has state)."""

    def __init__(self) -> None:
        options = onnxruntime.SessionOptions()
        # Scoring a window takes microseconds; more threads only add hand-over cost and would
        # compete with the recogniser for the same cores.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            _silero_path(), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)

    def reset(self) -> None:
        self._h[:] = 0
        self._c[:] = 0
        self._context[:] = 0

    def probabilities(self, windows: Pcm) -> Pcm:
        """Score ``windows`` (length a multiple of :data:`WINDOW`); returns one value each."""
        rows = windows.reshape(-1, WINDOW)
        if rows.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        contexts = np.empty((rows.shape[0], _CONTEXT), dtype=np.float32)
        contexts[0] = self._context
        contexts[1:] = rows[:-1, -_CONTEXT:]
        batch = np.concatenate([contexts, rows], axis=1)
        # The exported model treats the rows as consecutive time steps sharing h/c.
        probs, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        self._context = rows[-1, -_CONTEXT:].copy()
        return np.asarray(probs, dtype=np.float32).reshape(-1)


@dataclass(frozen=True, slots=True)
class VadSettings:
    """Tuned for conversational Mandarin in a mediation: short turns, quick hand-overs."""

    threshold: float = 0.5
    # Hysteresis: once speaking, only a lower probability counts as silence, so soft syllable
    # endings do not split a sentence.
    silence_threshold: float = 0.35
    # Silence that ends an utterance. Shorter gives faster captions but splits sentences at
    # pauses; 0.5 s keeps caption latency under the 2 s target with room for recognition.
    min_silence_s: float = 0.5
    min_speech_s: float = 0.25
    # Whisper reads at most 30 s; shorter pieces also keep captions flowing in a monologue.
    max_utterance_s: float = 15.0
    pre_roll_s: float = 0.2
    post_roll_s: float = 0.15


@dataclass(frozen=True, slots=True)
class SpeechSpan:
    """A cut utterance on the track timeline (sample positions at 16 kHz)."""

    start: int
    end: int
    pcm: Pcm


class UtteranceSegmenter:
    """Turns a continuous sample stream into :class:`SpeechSpan` objects."""

    def __init__(self, settings: VadSettings | None = None, vad: SileroVad | None = None) -> None:
        self.settings = settings or VadSettings()
        self._vad = vad or SileroVad()
        s = self.settings
        self._pre_roll_windows = max(1, round(s.pre_roll_s * SAMPLE_RATE / WINDOW))
        self._post_roll = round(s.post_roll_s * SAMPLE_RATE)
        self._min_silence = round(s.min_silence_s * SAMPLE_RATE)
        self._min_speech = round(s.min_speech_s * SAMPLE_RATE)
        self._max_utterance = round(s.max_utterance_s * SAMPLE_RATE)
        self._pending = np.zeros(0, dtype=np.float32)  # samples not yet a whole window
        self._pending_position = 0
        self._pre_roll: deque[Pcm] = deque(maxlen=self._pre_roll_windows)
        self._speech: list[Pcm] = []
        self._speech_start = 0
        self._last_voiced_end = 0
        self._voiced_samples = 0

    @property
    def in_speech(self) -> bool:
        return bool(self._speech)

    def push(self, position: int, pcm: Pcm, discontinuity: bool = False) -> list[SpeechSpan]:
        """Add samples starting at track ``position``; return the utterances they complete."""
        spans: list[SpeechSpan] = []
        if discontinuity or position != self._pending_position + len(self._pending):
            spans.extend(self.flush())
            self._pending = np.zeros(0, dtype=np.float32)
            self._pending_position = position
            self._vad.reset()
        samples = np.concatenate([self._pending, pcm]) if len(self._pending) else pcm
        whole = len(samples) // WINDOW * WINDOW
        windows, self._pending = samples[:whole], samples[whole:].copy()
        start = self._pending_position
        self._pending_position += whole
        if whole:
            probs = self._vad.probabilities(windows)
            for i, prob in enumerate(probs):
                window = windows[i * WINDOW : (i + 1) * WINDOW]
                span = self._step(start + i * WINDOW, window, float(prob))
                if span is not None:
                    spans.append(span)
        return spans

    def flush(self) -> list[SpeechSpan]:
        """End any utterance in progress (track ended, transcription switched off, a gap)."""
        span = self._finish(self._last_voiced_end + self._post_roll)
        self._pre_roll.clear()
        return [span] if span is not None else []

    def _step(self, position: int, window: Pcm, prob: float) -> SpeechSpan | None:
        s = self.settings
        if not self._speech:
            if prob >= s.threshold:
                self._speech = [*self._pre_roll, window]
                self._speech_start = position - sum(len(w) for w in self._pre_roll)
                self._last_voiced_end = position + WINDOW
                self._voiced_samples = WINDOW
                self._pre_roll.clear()
            else:
                self._pre_roll.append(window)
            return None
        self._speech.append(window)
        end = position + WINDOW
        if prob >= s.silence_threshold:
            self._last_voiced_end = end
            self._voiced_samples += WINDOW
        if end - self._last_voiced_end >= self._min_silence:
            return self._finish(self._last_voiced_end + self._post_roll)
        if end - self._speech_start >= self._max_utterance:
            # Cut mid-speech; the next window starts a new utterance without a pre-roll gap.
            return self._finish(end)
        return None

    def _finish(self, end: int) -> SpeechSpan | None:
        if not self._speech:
            return None
        audio = np.concatenate(self._speech)
        start = self._speech_start
        end = min(end, start + len(audio))
        voiced = self._voiced_samples
        tail = audio[end - start :]
        self._speech = []
        self._voiced_samples = 0
        # Trailing silence becomes the next utterance's pre-roll.
        keep = tail[-WINDOW * self._pre_roll_windows :]
        self._pre_roll.clear()
        if len(keep):
            self._pre_roll.append(keep)
        if voiced < self._min_speech:
            return None
        return SpeechSpan(start, end, audio[: end - start])
