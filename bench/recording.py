#!/usr/bin/env python
"""Benchmark: CPU the recording core costs per recorded stream.

Replays pre-encoded frames (640x480 VP8 video, 20 ms Opus audio) at real-time pace to S
streams, once into do-nothing sinks (the replay's own cost) and once into the recorder
(SessionRecorder → TrackRecorder → WebM files), and compares the process CPU (all threads,
getrusage) of the two phases. Sealing is timed separately, not counted per stream.

The last line is ``RESULT recording_core_pct_per_stream=<N>``: percent of one core per stream.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import heapq
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# This script is itself named recording.py: its folder must not shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

from recording import ServerKey, SessionRecorder  # noqa: E402
from recording.synthetic import synthetic_audio, synthetic_video  # noqa: E402
from server.rtc.frame import EncodedFrame, FrameSink  # noqa: E402


class NullSink:
    def on_frame(self, frame: EncodedFrame) -> None:
        pass

    def on_end(self) -> None:
        pass


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclasses.dataclass
class Stream:
    frames: Sequence[EncodedFrame]
    loop_rtp: int  # RTP ticks of one pass over `frames`
    offset: float  # start delay, so streams do not all tick together


async def replay(streams: Sequence[Stream], sinks: Sequence[FrameSink], seconds: float) -> int:
    """Deliver every stream's frames at their own pace for ``seconds``; returns frames sent."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    heap: list[tuple[float, int, int]] = []  # (due, stream index, frame counter)
    for i, s in enumerate(streams):
        heap.append((start + s.offset, i, 0))
    heapq.heapify(heap)
    sent = 0
    while heap:
        due, i, n = heap[0]
        if due - start > seconds:
            break
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        heapq.heappop(heap)
        s = streams[i]
        laps, k = divmod(n, len(s.frames))
        base = s.frames[k]
        frame = dataclasses.replace(
            base, rtp_timestamp=base.rtp_timestamp + laps * s.loop_rtp, wallclock=time.time()
        )
        sinks[i].on_frame(frame)
        sent += 1
        nxt = s.frames[(k + 1) % len(s.frames)]
        step_rtp = (nxt.rtp_timestamp - base.rtp_timestamp) % s.loop_rtp  # wraps at the lap
        heapq.heappush(heap, (due + step_rtp / base.clock_rate, i, n + 1))
    return sent


def build_streams(n_video: int, n_audio: int, clip_s: float) -> list[Stream]:
    video = synthetic_video(clip_s, start_wallclock=0.0)
    audio = synthetic_audio(clip_s, start_wallclock=0.0)
    rng = random.Random(7)
    v_loop = round(clip_s * video[0].clock_rate)
    a_loop = round(clip_s * audio[0].clock_rate)
    return [Stream(video, v_loop, rng.uniform(0, 0.033)) for _ in range(n_video)] + [
        Stream(audio, a_loop, rng.uniform(0, 0.020)) for _ in range(n_audio)
    ]


async def run(args: argparse.Namespace) -> float:
    streams = build_streams(args.video, args.audio, args.clip)
    count = len(streams)
    workdir = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-rec-"))
    key = ServerKey.load_or_create(workdir / "keys")
    base_pcts: list[float] = []
    rec_pcts: list[float] = []
    total_bytes = 0
    seal_s = 0.0
    for round_no in range(args.rounds):
        c0, w0 = cpu_seconds(), time.perf_counter()
        sent = await replay(streams, [NullSink() for _ in streams], args.seconds)
        c1, w1 = cpu_seconds(), time.perf_counter()
        base_pcts.append(100 * (c1 - c0) / (w1 - w0))

        session = await SessionRecorder.start(
            workdir / "recordings", case_id="bench", session_id=f"bench-{round_no}", key=key
        )
        sinks: list[FrameSink] = []
        for i, s in enumerate(streams):
            sink = session.open_track(f"p{i}", s.frames[0].kind)
            assert sink is not None
            sinks.append(sink)
        c0, w0 = cpu_seconds(), time.perf_counter()
        sent_rec = await replay(streams, sinks, args.seconds)
        c1, w1 = cpu_seconds(), time.perf_counter()
        rec_pcts.append(100 * (c1 - c0) / (w1 - w0))
        t0 = time.perf_counter()
        manifest = await session.seal()
        seal_s += time.perf_counter() - t0
        total_bytes += sum(f["size"] for f in manifest["files"] if f["kind"] == "track")
        print(f"round {round_no + 1}: replay only {base_pcts[-1]:.2f}% CPU ({sent} frames), "
              f"with recording {rec_pcts[-1]:.2f}% CPU ({sent_rec} frames)")
    if not args.dir:
        shutil.rmtree(workdir)

    base = sum(base_pcts) / len(base_pcts)
    rec = sum(rec_pcts) / len(rec_pcts)
    per_stream = max(rec - base, 0.0) / count
    print(f"streams: {args.video} video 640x480 VP8 + {args.audio} Opus = {count}; "
          f"{args.seconds:.0f} s per phase, {args.rounds} round(s)")
    print(f"replay without recording: {base:.2f}% of one core")
    print(f"replay with recording:    {rec:.2f}% of one core")
    print(f"recording core: {rec - base:.2f}% total, {per_stream:.3f}% per stream")
    print(f"written: {total_bytes / 1e6:.1f} MB; sealing (hash + sign) took "
          f"{seal_s / args.rounds:.2f} s per round (not counted above)")
    return per_stream


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=int, default=8, help="video streams (default 8)")
    parser.add_argument("--audio", type=int, default=8, help="Opus streams (default 8)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="length of each measured phase (default 10)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="baseline/recording pairs, averaged (default 1)")
    parser.add_argument("--clip", type=float, default=4.0,
                        help="seconds of media pre-encoded and looped (default 4)")
    parser.add_argument("--dir", help="keep recordings here (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    per_stream = asyncio.run(run(args))
    print(f"RESULT recording_core_pct_per_stream={per_stream:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
