"""Server CPU of Shared Court's encoded-frame forwarding vs aiortc's MediaRelay transcoding.

One publisher sends synthetic 640x480 VP8 + Opus; N subscribers receive it. The server runs in a
process of its own (its CPU is read from /proc/<pid>/stat); publisher and subscribers run in
other processes and talk to it over a small WebSocket signaling channel.

For each mode (`forward`: our SFU; `transcode`: MediaRelay, decode + re-encode per subscriber)
it measures the server with the publisher alone (N=0) and then with N subscribers, and prints

* server CPU (core-seconds per second) and that per forwarded stream (subscriber x track);
* marginal CPU per delivered video frame: (CPU(N) - CPU(0)) / frames the subscribers received.
  The transcoder saturates a core at a few subscribers and then delivers fewer frames, which
  hides its cost in the per-stream figure; the per-frame figure is the fair comparison.

The last line is `RESULT forward_vs_transcode_cpu_ratio=<ratio>`: transcode / forward marginal
CPU per delivered video frame, at 4 subscribers.

Each figure is the median of --repeat windows of --seconds each.

Usage: .venv/bin/python bench/forwarding.py [--seconds 5] [--repeat 3] [--subscribers 1,4,16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, WSMsgType, web

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
import _loopback  # noqa: E402,F401  (media on 127.0.0.1)
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.contrib.media import MediaBlackhole, MediaRelay  # noqa: E402
from aiortc.mediastreams import MediaStreamTrack  # noqa: E402

from server.rtc import MediaRoom, MediaRoomObserver  # noqa: E402
from server.rtc.client import MediaClient  # noqa: E402

PUBLISHER = "pub"
JsonMessage = dict[str, Any]
Send = Callable[[JsonMessage], Awaitable[None]]


def log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        print(f"bench: task failed: {task.exception()!r}", file=sys.stderr, flush=True)


# ---- server process ------------------------------------------------------------------------


class ForwardServer(MediaRoomObserver):
    """Signaling for our MediaRoom: everyone subscribes to everyone."""

    def __init__(self) -> None:
        self.room = MediaRoom("bench")
        self.room.add_observer(self)
        self._senders: dict[str, Send] = {}
        self._answers: dict[str, asyncio.Future[str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def join(self, pid: str, send: Send) -> None:
        self._senders[pid] = send
        await self.room.add_peer(pid)
        self.room.set_subscriptions(pid, None)

    async def on_message(self, pid: str, message: JsonMessage) -> None:
        if message["type"] == "offer":
            answer = await self.room.handle_offer(pid, message["sdp"])
            await self._senders[pid]({"type": "answer", "sdp": answer})
        elif message["type"] == "answer" and pid in self._answers:
            self._answers[pid].set_result(message["sdp"])

    async def leave(self, pid: str) -> None:
        self._senders.pop(pid, None)
        await self.room.remove_peer(pid)

    def negotiation_needed(self, room: MediaRoom, participant_id: str) -> None:
        task = asyncio.ensure_future(self._renegotiate(participant_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _renegotiate(self, pid: str) -> None:
        try:
            await self._renegotiate_once(pid)
        except Exception as exc:
            print(f"bench: renegotiation of {pid} failed: {exc!r}", file=sys.stderr, flush=True)

    async def _renegotiate_once(self, pid: str) -> None:
        async with self._locks.setdefault(pid, asyncio.Lock()):
            send = self._senders.get(pid)
            if send is None or not self.room.peer(pid).wants_offer:
                return
            offer = await self.room.create_offer(pid)
            answered = self._answers[pid] = asyncio.get_running_loop().create_future()
            await send({"type": "offer", "sdp": offer})
            try:
                answer = await asyncio.wait_for(answered, timeout=30)
            finally:
                del self._answers[pid]
            await self.room.handle_answer(pid, answer)


class TranscodeServer:
    """The baseline: aiortc's MediaRelay, decoding the publisher and re-encoding per subscriber."""

    def __init__(self) -> None:
        self._relay = MediaRelay()
        self._pcs: dict[str, RTCPeerConnection] = {}
        self._senders: dict[str, Send] = {}
        self._published: list[MediaStreamTrack] = []
        self._published_ready = asyncio.Event()
        self._blackhole = MediaBlackhole()
        self._tasks: set[asyncio.Future[None]] = set()

    async def join(self, pid: str, send: Send) -> None:
        self._senders[pid] = send
        pc = self._pcs[pid] = RTCPeerConnection()

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._published.append(track)
            # Drain the decoded frames even with no subscriber, as a relay must.
            self._blackhole.addTrack(self._relay.subscribe(track))
            if len(self._published) == 2:
                self._published_ready.set()
                self._tasks.add(asyncio.ensure_future(self._blackhole.start()))

    async def on_message(self, pid: str, message: JsonMessage) -> None:
        if message["type"] != "offer":
            return
        pc = self._pcs[pid]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=message["sdp"], type="offer"))
        if pid != PUBLISHER:
            await self._published_ready.wait()
            for track in self._published:
                pc.addTrack(self._relay.subscribe(track))
        await pc.setLocalDescription(await pc.createAnswer())
        await self._senders[pid]({"type": "answer", "sdp": pc.localDescription.sdp})

    async def leave(self, pid: str) -> None:
        self._senders.pop(pid, None)
        pc = self._pcs.pop(pid, None)
        if pc is not None:
            await pc.close()


async def run_server(mode: str, port: int) -> None:
    server: ForwardServer | TranscodeServer = (
        ForwardServer() if mode == "forward" else TranscodeServer()
    )

    tasks: set[asyncio.Future[None]] = set()

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        pid = request.match_info["pid"]
        ws = web.WebSocketResponse()
        await ws.prepare(request)

        async def send(message: JsonMessage) -> None:
            await ws.send_str(json.dumps(message))

        await server.join(pid, send)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    task = asyncio.ensure_future(server.on_message(pid, json.loads(msg.data)))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    task.add_done_callback(log_failure)
        finally:
            await server.leave(pid)
        return ws

    app = web.Application()
    app.router.add_get("/ws/{pid}", websocket)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("READY", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


# ---- client process ------------------------------------------------------------------------


class WsClient:
    """One MediaClient signaling over the bench WebSocket."""

    def __init__(self, session: ClientSession, port: int, pid: str, **options: Any) -> None:
        self._session = session
        self._url = f"http://127.0.0.1:{port}/ws/{pid}"
        self._answer: asyncio.Future[str] | None = None
        self.client = MediaClient(pid, self._send_offer, **options)

    async def start(self) -> None:
        self._ws = await self._session.ws_connect(self._url)
        self._reader = asyncio.ensure_future(self._read())
        await self.client.connect()

    async def _send_offer(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        self._answer = asyncio.get_running_loop().create_future()
        await self._ws.send_str(json.dumps({"type": "offer", "sdp": offer.sdp}))
        return RTCSessionDescription(sdp=await self._answer, type="answer")

    async def _read(self) -> None:
        async for msg in self._ws:
            message = json.loads(msg.data)
            if message["type"] == "answer" and self._answer is not None:
                self._answer.set_result(message["sdp"])
            elif message["type"] == "offer":
                offer = RTCSessionDescription(sdp=message["sdp"], type="offer")
                answer = await self.client.handle_remote_offer(offer)
                await self._ws.send_str(json.dumps({"type": "answer", "sdp": answer.sdp}))

    def video_frames(self) -> int:
        return sum(s.frames for s in self.client.remote.values() if s.kind == "video")

    async def close(self) -> None:
        await self.client.close()
        await self._ws.close()
        self._reader.cancel()


async def run_clients(port: int, count: int, publish: bool, decode: bool, fps: float) -> None:
    async with ClientSession() as session:
        if publish:
            clients = [WsClient(session, port, PUBLISHER, fps=fps)]
        else:
            clients = [
                WsClient(session, port, f"sub{i}", video=None, audio=False, decode=decode)
                for i in range(count)
            ]
        for c in clients:
            await c.start()
        for _ in range(600):
            if publish or all(c.video_frames() > 0 for c in clients):
                break
            await asyncio.sleep(0.1)
        print("READY", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if line.strip() == "MARK":
                total = sum(c.video_frames() for c in clients)
                print(json.dumps({"video_frames": total}), flush=True)
            else:
                break
        for c in clients:
            await c.close()


# ---- orchestrator --------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time of a process summed over its threads, in nanosecond resolution from
    /proc/<pid>/task/*/schedstat (stat's utime/stime tick at 10 ms: too coarse for a forwarder
    using a few percent of a core). Threads ending inside a window would be missed; in steady
    state the server's threads are long-lived."""
    nanoseconds = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            nanoseconds += int((task / "schedstat").read_text().split()[0])
    return nanoseconds / 1e9


class Child:
    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def wait_for(self, token: str, timeout_s: float = 60.0) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"child exited ({self.proc.poll()}) before {token}")
            if line.startswith(token):
                return line
        raise TimeoutError(token)

    def mark(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write("MARK\n")
        self.proc.stdin.flush()
        return int(json.loads(self.wait_for("{"))["video_frames"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            if self.proc.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    self.proc.stdin.write("QUIT\n")
                    self.proc.stdin.flush()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                self.proc.wait(timeout=5)

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)


@dataclass
class Sample:
    subscribers: int
    cpu_cores: float
    video_frames: int
    seconds: float

    def per_stream(self) -> float | None:
        # A forwarded stream is one (subscriber, track) pair: video and audio.
        return self.cpu_cores / (2 * self.subscribers) if self.subscribers else None


def measure(server: Child, seconds: float, subscribers: Child | None, n: int,
            repeat: int = 1) -> Sample:
    """The median (by server CPU) of `repeat` back-to-back windows: one window disturbed by
    something else on the machine does not decide the result."""
    samples = sorted((measure_once(server, seconds, subscribers, n) for _ in range(repeat)),
                     key=lambda s: s.cpu_cores)
    return samples[len(samples) // 2]


def measure_once(server: Child, seconds: float, subscribers: Child | None, n: int) -> Sample:
    frames_start = subscribers.mark() if subscribers else 0
    cpu_start, wall_start = cpu_seconds(server.proc.pid), time.monotonic()
    time.sleep(seconds)
    cpu_end, wall_end = cpu_seconds(server.proc.pid), time.monotonic()
    frames_end = subscribers.mark() if subscribers else 0
    wall = wall_end - wall_start
    return Sample(n, (cpu_end - cpu_start) / wall, frames_end - frames_start, wall)


def run_mode(mode: str, ns: list[int], args: argparse.Namespace, port: int) -> list[Sample]:
    server = Child(["--role", "server", "--mode", mode, "--port", str(port)])
    samples: list[Sample] = []
    try:
        server.wait_for("READY")
        publisher = Child(["--role", "clients", "--port", str(port), "--publish",
                           "--fps", str(args.fps)])
        try:
            publisher.wait_for("READY")
            time.sleep(args.warmup)
            samples.append(measure(server, args.seconds, None, 0, args.repeat))
            report(mode, samples[-1])
            for n in ns:
                decode = n <= args.decode_limit
                subs = Child(["--role", "clients", "--port", str(port), "--count", str(n),
                              *([] if decode else ["--no-decode"])])
                try:
                    subs.wait_for("READY", timeout_s=120)
                    time.sleep(args.warmup)
                    samples.append(measure(server, args.seconds, subs, n, args.repeat))
                    report(mode, samples[-1], decode)
                finally:
                    subs.stop()
                time.sleep(1.0)  # let the server tear the subscribers down
        finally:
            publisher.stop()
    finally:
        server.terminate()
    return samples


def report(mode: str, s: Sample, decode: bool = True) -> None:
    per_stream = s.per_stream()
    fps = s.video_frames / s.seconds / s.subscribers if s.subscribers else 0.0
    print(
        f"{mode:9s} N={s.subscribers:<3d} server {s.cpu_cores:.3f} cores"
        + (f", {per_stream:.4f} cores/stream" if per_stream is not None else "")
        + (f", subscriber video {fps:.1f} fps{'' if decode else ' (counted, not decoded)'}"
           if s.subscribers else "  (publisher only)"),
        flush=True,
    )


def marginal_ms_per_frame(samples: list[Sample], n: int) -> float | None:
    base = next((s for s in samples if s.subscribers == 0), None)
    at_n = next((s for s in samples if s.subscribers == n), None)
    if base is None or at_n is None or at_n.video_frames == 0:
        return None
    extra_cpu = max(0.0, at_n.cpu_cores - base.cpu_cores) * at_n.seconds
    return 1000.0 * extra_cpu / at_n.video_frames


def orchestrate(args: argparse.Namespace) -> int:
    ns = [int(n) for n in args.subscribers.split(",") if n]
    if 4 not in ns:
        ns.append(4)
    ns.sort()
    forward = run_mode("forward", ns, args, args.port)
    transcode = run_mode(
        "transcode", [n for n in ns if n <= args.transcode_max], args, args.port + 1
    )
    print()
    print("subscribers | forward cores/stream | transcode cores/stream | ratio "
          "| forward ms/frame | transcode ms/frame | ratio")
    for n in ns:
        f = next((s for s in forward if s.subscribers == n), None)
        t = next((s for s in transcode if s.subscribers == n), None)
        fs = f.per_stream() if f else None
        ts = t.per_stream() if t else None
        fm, tm = marginal_ms_per_frame(forward, n), marginal_ms_per_frame(transcode, n)
        print(
            f"{n:11d} | {fmt(fs, 4):>20s} | {fmt(ts, 4):>22s} | {ratio(ts, fs):>5s} "
            f"| {fmt(fm, 3):>16s} | {fmt(tm, 3):>18s} | {ratio(tm, fm)}"
        )
    fm4, tm4 = marginal_ms_per_frame(forward, 4), marginal_ms_per_frame(transcode, 4)
    result = (tm4 / fm4) if fm4 and tm4 else float("nan")
    print("RESULT uses marginal server CPU per delivered video frame at N=4 (transcode/forward)")
    print(f"RESULT forward_vs_transcode_cpu_ratio={result:.1f}")
    return 0


def fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator / denominator:.1f}x"


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Server CPU: encoded-frame forwarding vs MediaRelay transcoding "
        "(1 publisher, 640x480 VP8 + Opus, N subscribers).",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="measurement window per N")
    parser.add_argument("--repeat", type=int, default=3,
                        help="windows per N; the median window (by server CPU) is reported")
    parser.add_argument("--warmup", type=float, default=2.0, help="settling time before each")
    parser.add_argument("--subscribers", default="1,4,16", help="comma-separated N values")
    parser.add_argument("--transcode-max", type=int, default=16,
                        help="skip transcode runs above this N (they saturate a core)")
    parser.add_argument("--decode-limit", type=int, default=4,
                        help="subscribers decode video when N <= this; above it they only "
                        "count complete encoded frames (keeps the client process affordable)")
    parser.add_argument("--fps", type=float, default=30.0, help="publisher frame rate")
    parser.add_argument("--port", type=int, default=8765, help="signaling port (and port+1)")
    parser.add_argument("--role", choices=["orchestrator", "server", "clients"],
                        default="orchestrator", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["forward", "transcode"], help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--publish", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-decode", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "server":
        asyncio.run(run_server(args.mode, args.port))
        return 0
    if args.role == "clients":
        asyncio.run(run_clients(args.port, args.count, args.publish, not args.no_decode, args.fps))
        return 0
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
