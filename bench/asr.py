"""Speech-recognition benchmark: real-time factor and live caption latency.

Measures the default engine (faster-whisper, Whisper base, int8, greedy) on espeak-ng Mandarin:

* real-time factor (recognition time / audio duration) with ``cpu_threads`` 1 and 2;
* caption latency (end of an utterance → its final segment delivered) with 1, 2 and 4
  speakers talking at the same time, their Opus frames fed in real time through the same
  path the SFU uses (``Transcript`` → ``SpeakerTranscriber`` → ``RecognitionQueue``).

The last line is ``RESULT rtf_1core=<N> caption_latency_p95_s=<M>`` (M: 2 speakers).
Needs espeak-ng. Run: ``.venv/bin/python bench/asr.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.rtc.frame import EncodedFrame
from tests.support.speech import encode_opus, interleave, silence, synthesize
from transcript import (
    SAMPLE_RATE,
    FasterWhisperRecognizer,
    RecognitionQueue,
    Segment,
    Speaker,
    SpeakerTranscriber,
    Transcript,
    ensure_model,
)

SENTENCES = [
    "各位当事人好，今天调解物业费纠纷。",
    "我要求对方支付拖欠的物业费三千元。",
    "被申请人，你对这笔物业费有什么意见？",
    "小区的电梯经常坏，我不同意交这么多钱。",
    "物业公司已经多次催缴，但是一直没有结果。",
    "双方能不能各让一步，分期支付？",
]
PITCHES = [50, 25, 70, 40]


@dataclass(frozen=True, slots=True)
class LatencyResult:
    speakers: int
    segments: int
    p50_s: float
    p95_s: float
    max_s: float


def measure_rtf(model_dir: Path, cpu_threads: int, clips: list[np.ndarray]) -> tuple[float, float]:
    """(wall-clock RTF, CPU-time RTF). On a shared machine the CPU-time figure shows what the
    engine needs, the wall-clock one what it got."""
    recognizer = FasterWhisperRecognizer(model_dir, cpu_threads=cpu_threads)
    recognizer.recognize(clips[0])  # warm-up: first call allocates
    audio_s = sum(len(c) for c in clips) / SAMPLE_RATE
    started, cpu_started = time.perf_counter(), time.process_time()
    for clip in clips:
        recognizer.recognize(clip)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return wall / audio_s, cpu / audio_s


def speaker_track(index: int, turns: int, pause_s: float) -> np.ndarray:
    """One speaker's microphone: sentences with pauses, staggered against the others."""
    parts = [silence(0.3 + 1.3 * index)]
    for turn in range(turns):
        text = SENTENCES[(index * 2 + turn) % len(SENTENCES)]
        parts += [synthesize(text, pitch=PITCHES[index % len(PITCHES)]), silence(pause_s)]
    return np.concatenate(parts)


async def measure_latency(
    queue: RecognitionQueue, speakers: int, turns: int, pause_s: float
) -> LatencyResult:
    t0 = time.time() + 0.5
    tracks = {
        f"s{i}": encode_opus(speaker_track(i, turns, pause_s), wallclock_start=t0)
        for i in range(speakers)
    }
    transcript = Transcript(queue)
    sinks: dict[str, SpeakerTranscriber] = {
        sid: transcript.add_speaker(Speaker(sid, f"speaker {sid}", "当事人")) for sid in tracks
    }
    segments: list[Segment] = []
    transcript.subscribe(segments.append)
    await feed_real_time(sinks, tracks)
    await transcript.aclose()
    # Every track ends with a pause longer than the VAD's end-of-speech silence, so each
    # segment was cut by voice activity detection, as in a live session, not by the track end.
    latencies = [s.caption_latency for s in segments]
    return LatencyResult(
        speakers,
        len(latencies),
        float(np.percentile(latencies, 50)),
        float(np.percentile(latencies, 95)),
        max(latencies),
    )


async def feed_real_time(
    sinks: dict[str, SpeakerTranscriber], tracks: dict[str, list[EncodedFrame]]
) -> None:
    for speaker_id, frame in interleave(tracks):
        if (delay := frame.wallclock - time.time()) > 0:
            await asyncio.sleep(delay)
        sinks[speaker_id].on_frame(frame)


async def run_latency(
    model_dir: Path, counts: list[int], turns: int, pause_s: float, cpu_threads: int, workers: int
) -> list[LatencyResult]:
    recognizer = FasterWhisperRecognizer(model_dir, cpu_threads=cpu_threads, workers=workers)
    recognizer.recognize(np.zeros(SAMPLE_RATE, dtype=np.float32))
    queue = RecognitionQueue(recognizer)
    results = [await measure_latency(queue, n, turns, pause_s) for n in counts]
    await queue.aclose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, help="where models/whisper-base is (or goes)")
    parser.add_argument("--model-dir", type=Path, help="use this model directory instead")
    parser.add_argument("--speakers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--turns", type=int, default=4, help="utterances per speaker")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between utterances")
    parser.add_argument("--cpu-threads", type=int, default=1, help="engine threads (latency)")
    parser.add_argument("--workers", type=int, default=1, help="concurrent recognitions")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = ensure_model(args.data_dir or Path(tmp), args.model_dir)
        clips = [synthesize(s)[::3].copy() for s in SENTENCES[:4]]  # 48 → 16 kHz
        rtf = {threads: measure_rtf(model_dir, threads, clips) for threads in (1, 2)}
        audio_s = sum(len(c) for c in clips) / SAMPLE_RATE
        print(f"real-time factor on {audio_s:.1f} s of speech (lower is better; target ≤ 0.3)")
        print("| cpu_threads | RTF (wall) | CPU s per audio s |")
        print("|-------------|------------|-------------------|")
        for threads, (wall, cpu) in rtf.items():
            print(f"| {threads:11d} | {wall:10.3f} | {cpu:17.3f} |")

        results = asyncio.run(
            run_latency(
                model_dir, args.speakers, args.turns, args.pause, args.cpu_threads, args.workers
            )
        )
    print()
    print(
        f"caption latency, end of utterance → final segment (cpu_threads={args.cpu_threads}, "
        f"workers={args.workers}; target p95 ≤ 2 s with 2 speakers)"
    )
    print("| speakers | segments | p50 s | p95 s | max s |")
    print("|----------|----------|-------|-------|-------|")
    for r in results:
        print(
            f"| {r.speakers:8d} | {r.segments:8d} | {r.p50_s:5.2f} | {r.p95_s:5.2f} | {r.max_s:5.2f} |"
        )
    two = next((r for r in results if r.speakers == 2), results[-1])
    print(f"RESULT rtf_1core={rtf[1][0]:.3f} caption_latency_p95_s={two.p95_s:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
