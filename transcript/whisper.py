"""The default engine: faster-whisper (CTranslate2) on the CPU, int8, Mandarin."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from faster_whisper import WhisperModel

from transcript.chinese import to_transcript_text
from transcript.segment import Pcm

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]{2,}")

# Captions Whisper writes over silence or noise, learnt from subtitled web video; they are never
# what a party said in a mediation.
_HALLUCINATIONS = (
    "字幕由",
    "字幕提供",
    "请不吝点赞",
    "订阅",
    "明镜与点点",
    "谢谢观看",
    "感谢观看",
    "Amara.org",
)


@dataclass(frozen=True, slots=True)
class WhisperConfig:
    """Decoding settings; the defaults are what bench/asr.py and the tests measured."""

    language: str = "zh"
    beam_size: int = 1
    # Temperature fallback re-decodes a whole utterance up to five times when the output looks
    # repetitive; on robot or noisy speech that multiplied the real-time factor by ~4 while
    # barely changing the error rate, and live captions need a bounded cost per utterance.
    temperature: float = 0.0
    # Measured: a prompt with Chinese punctuation does not reliably add punctuation for the base
    # model and is sometimes echoed verbatim as the transcript of unclear speech, so none is
    # used; punctuation is normalised afterwards (transcript.chinese). Configurable for
    # larger models, where a prompt helps.
    initial_prompt: str | None = None
    # Even with language="zh" the base model sometimes answers unclear Mandarin in English
    # (measured on espeak-ng speech: "Pay for the thousand, …"). Such an utterance is decoded
    # once more with this neutral Simplified Chinese prompt, which steered it back to Chinese.
    retry_prompt: str | None = "以下是普通话。"
    no_speech_threshold: float = 0.6
    # Bounds the worst case of a decoding loop (measured: one unclear 5 s utterance produced
    # 600 characters). Mandarin runs at ~5 characters a second, so 15 s of speech fits easily.
    max_new_tokens: int = 160
    # Each utterance is recognised on its own; carrying text over from a previous utterance
    # (possibly another speaker's) propagates errors.
    condition_on_previous_text: bool = False


class FasterWhisperRecognizer:
    """:class:`~transcript.recognizer.SpeechRecognizer` backed by faster-whisper.

    ``cpu_threads`` are CTranslate2's intra-op threads per recognition, ``workers`` how many
    utterances are recognised concurrently (each has its own model replica's workspace), so
    the CPU use is up to ``cpu_threads * workers`` cores.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        cpu_threads: int = 1,
        workers: int = 1,
        config: WhisperConfig | None = None,
    ) -> None:
        if cpu_threads < 1 or workers < 1:
            raise ValueError("cpu_threads and workers must be at least 1")
        self._config = config or WhisperConfig()
        self._workers = workers
        self._model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=cpu_threads,
            num_workers=workers,
            local_files_only=True,
        )

    @property
    def max_concurrency(self) -> int:
        return self._workers

    def recognize(self, pcm: Pcm) -> str:
        if pcm.size == 0:
            return ""
        audio = np.ascontiguousarray(pcm, dtype=np.float32)
        cfg = self._config
        text = self._decode(audio, cfg.initial_prompt)
        if cfg.retry_prompt and _LATIN.search(text) and not _CJK.search(text):
            text = self._decode(audio, cfg.retry_prompt)
        return text

    def _decode(self, audio: Pcm, prompt: str | None) -> str:
        cfg = self._config
        segments, _info = self._model.transcribe(
            audio,
            language=cfg.language,
            task="transcribe",
            beam_size=cfg.beam_size,
            temperature=cfg.temperature,
            initial_prompt=prompt,
            no_speech_threshold=cfg.no_speech_threshold,
            condition_on_previous_text=cfg.condition_on_previous_text,
            # Utterances are already cut by our own voice activity detection.
            vad_filter=False,
            # Timestamp tokens are not needed (the utterance carries its own times) and
            # measured ~12 % slower.
            without_timestamps=True,
            max_new_tokens=cfg.max_new_tokens,
        )
        return to_transcript_text(self._join(segments, prompt))

    @staticmethod
    def _join(segments: Iterable[Any], prompt: str | None) -> str:
        texts: list[str] = []
        for segment in segments:
            text = str(segment.text).strip()
            if not text or any(h in text for h in _HALLUCINATIONS):
                continue
            if prompt and text.strip("。，.,") in prompt:
                # Whisper echoes its prompt when it cannot make out the speech.
                continue
            texts.append(text)
        return "".join(texts)
