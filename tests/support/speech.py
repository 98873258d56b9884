"""Test speech for tests and benchmarks: espeak-ng Mandarin, encoded to Opus frames the way the
SFU hands them over. Needs the `espeak-ng` program (Debian package espeak-ng)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from server.rtc.frame import EncodedFrame

OPUS_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms, what browsers send
FRAME_S = FRAME_SAMPLES / OPUS_RATE

Samples = NDArray[np.float32]


def synthesize(text: str, *, pitch: int = 50, speed: int = 150) -> Samples:
    """Mandarin speech at 48 kHz mono. ``cmn-latn-pinyin`` is the voice that reads hanzi as
    Mandarin; plain ``cmn`` reads its pinyin as English."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(
            [
                "espeak-ng",
                "-v",
                "cmn-latn-pinyin",
                "-p",
                str(pitch),
                "-s",
                str(speed),
                "-w",
                str(wav),
                text,
            ],
            check=True,
            capture_output=True,
        )
        return _read_48k_mono(wav)


def _read_48k_mono(path: Path) -> Samples:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=OPUS_RATE)
    out: list[Samples] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            out.extend(
                f.to_ndarray().reshape(-1).astype(np.float32) for f in resampler.resample(frame)
            )
    out.extend(f.to_ndarray().reshape(-1).astype(np.float32) for f in resampler.resample(None))
    return np.concatenate(out).astype(np.float32)


def silence(seconds: float) -> Samples:
    return np.zeros(round(seconds * OPUS_RATE), dtype=np.float32)


def encode_opus(
    samples: Samples, *, wallclock_start: float, rtp_start: int = 0
) -> list[EncodedFrame]:
    """20 ms Opus frames with RTP timestamps and wall clocks spaced as a browser sends them."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = OPUS_RATE  # type: ignore[attr-defined]
    codec.layout = "mono"  # type: ignore[attr-defined]
    codec.format = "s16"  # type: ignore[attr-defined]
    codec.bit_rate = 32_000
    codec.time_base = Fraction(1, OPUS_RATE)
    pad = (-len(samples)) % FRAME_SAMPLES
    pcm = np.concatenate([samples, np.zeros(pad, dtype=np.float32)])
    ints = (np.clip(pcm, -1.0, 1.0) * 32767).astype(np.int16)
    packets: list[bytes] = []
    for index in range(len(ints) // FRAME_SAMPLES):
        frame = av.AudioFrame.from_ndarray(
            ints[None, index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES],
            format="s16",
            layout="mono",
        )
        frame.sample_rate = OPUS_RATE
        frame.pts = index * FRAME_SAMPLES
        packets.extend(bytes(p) for p in codec.encode(frame))  # type: ignore[attr-defined]
    packets.extend(bytes(p) for p in codec.encode(None))  # type: ignore[attr-defined]
    return [
        EncodedFrame(
            kind="audio",
            codec="audio/opus",
            data=data,
            rtp_timestamp=rtp_start + index * FRAME_SAMPLES,
            clock_rate=OPUS_RATE,
            keyframe=True,
            wallclock=wallclock_start + index * FRAME_S,
        )
        for index, data in enumerate(packets)
    ]


@dataclass(frozen=True, slots=True)
class Turn:
    """One line of a scripted conversation."""

    speaker: str
    text: str
    pitch: int = 50


def conversation_tracks(
    turns: Sequence[Turn], *, gap_s: float = 0.8, lead_s: float = 0.5
) -> tuple[dict[str, Samples], list[tuple[str, float, float, str]]]:
    """Each speaker's microphone track (silence while the other talks) and the script timing:
    (speaker, start_s, end_s, text) per turn, relative to the tracks' start."""
    speakers = sorted({t.speaker for t in turns})
    pieces: dict[str, list[Samples]] = {s: [silence(lead_s)] for s in speakers}
    script: list[tuple[str, float, float, str]] = []
    clock = lead_s
    for turn in turns:
        speech = synthesize(turn.text, pitch=turn.pitch)
        for speaker in speakers:
            pieces[speaker].append(speech if speaker == turn.speaker else np.zeros_like(speech))
            pieces[speaker].append(silence(gap_s))
        script.append((turn.speaker, clock, clock + len(speech) / OPUS_RATE, turn.text))
        clock += len(speech) / OPUS_RATE + gap_s
    return {s: np.concatenate(p) for s, p in pieces.items()}, script


def interleave(tracks: dict[str, list[EncodedFrame]]) -> Iterator[tuple[str, EncodedFrame]]:
    """All speakers' frames in arrival (wall clock) order, as the SFU would deliver them."""
    merged = [(f.wallclock, s, f) for s, frames in tracks.items() for f in frames]
    merged.sort(key=lambda item: (item[0], item[1]))
    for _, speaker, frame in merged:
        yield speaker, frame


_NOT_CHARS = re.compile(r"[^\u4e00-\u9fff0-9A-Za-z]")


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over characters, punctuation and spaces ignored."""
    ref, hyp = _NOT_CHARS.sub("", reference), _NOT_CHARS.sub("", hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[:], i
        for j, h in enumerate(hyp, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (r != h))
    return row[-1] / max(1, len(ref))
