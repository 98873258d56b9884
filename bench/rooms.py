"""How many concurrent 4-party rooms one server handles on this machine.

The server runs as `shared-court serve` in its own process; rooms are seeded with the demo
seeder (mediator, applicant, respondent, village terminal = 4 participants each); the
participants run in separate client processes over the real socket.io + WebRTC path and publish
pre-encoded 640x480 VP8 + Opus (so the clients' encoders are not what is measured).

For each K the rooms run for --seconds after a warm-up; it prints per K: server CPU
(core-seconds/s), packet loss across all received streams, the video frame delivery ratio, and
RTT p50/p95 from RTCP (queueing inside the server shows up as added RTT). Loss is the larger of
RTP packet loss and the share of video frames that never arrived: a saturated server drops whole
frames before sending them, which RTP sequence numbers do not show. It stops after the first K
whose loss is >= 1 % and ends with `RESULT max_rooms=<K>`: the largest K with loss < 1 %.

Usage: .venv/bin/python bench/rooms.py [--rooms 1,2,4,6,8,12,16,20] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
import _loopback  # noqa: E402,F401  (media on 127.0.0.1)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# ---- client process ----------------------------------------------------------------------

async def _run_clients(links: list[str], warmup: float, seconds: float, out: Any,
                       go: Any) -> dict[str, Any]:
    from _preencoded import ReplayAudioTrack, ReplayVideoTrack, encode_opus, encode_vp8

    from server.rtc.client import MediaClient
    from signaling.client import RoomClient, split_join_url

    video_frames = encode_vp8()
    audio_frames = encode_opus()

    class ReplayClient(MediaClient):
        def _local_tracks(self):  # type: ignore[no-untyped-def]
            return ReplayVideoTrack(video_frames), ReplayAudioTrack(audio_frames)

    clients: list[RoomClient] = []
    for link in links:
        base, token = split_join_url(link)
        c = RoomClient(base, token=token, decode=False)
        await c.connect()
        await c.join(consent=True)
        clients.append(c)
    # Mediators (first link of each room, admitted at once) admit their room's parties.
    for c in clients:
        if c.presence == "admitted" and c.state["you"]["kind"] == "mediator":
            await c.wait_until(lambda c=c: len(c.lobby()) >= 3, timeout=60, what="lobby")
            for p in c.lobby():
                await c.call("admit", {"participant_id": p["participant_id"]})
    for c in clients:
        await c.wait_until(lambda c=c: c.presence == "admitted", timeout=60, what="admission")
        await c.start_media(ReplayClient)
    await asyncio.sleep(warmup)
    # Every process is set up: the parent starts the server CPU measurement, then says go.
    out.put({"ready": True})
    while not go.is_set():
        await asyncio.sleep(0.05)

    async def snapshot() -> tuple[int, int, int]:
        received = lost = frames = 0
        for c in clients:
            assert c.media is not None
            for tr in c.media.pc.getTransceivers():
                track = tr.receiver.track
                if track is None or track.id not in c.media.remote:
                    continue
                for st in (await tr.receiver.getStats()).values():
                    if st.type == "inbound-rtp":
                        received += st.packetsReceived
                        lost += max(0, st.packetsLost)
            frames += sum(t.frames for t in c.media.remote.values() if t.kind == "video")
        return received, lost, frames

    r0, l0, f0 = await snapshot()
    t0 = time.monotonic()
    rtts: list[float] = []
    while time.monotonic() - t0 < seconds:
        await asyncio.sleep(1.0)
        for c in clients:
            assert c.media is not None
            st = await c.media.get_stats()
            if st.round_trip_time_s is not None:
                rtts.append(st.round_trip_time_s)
    r1, l1, f1 = await snapshot()
    elapsed = time.monotonic() - t0
    streams = sum(len([t for t in c.media.remote.values() if t.kind == "video"])
                  for c in clients if c.media)
    for c in clients:
        await c.close()
    return {"received": r1 - r0, "lost": l1 - l0, "frames": f1 - f0, "elapsed": elapsed,
            "video_streams": streams, "rtts": rtts}


def client_process(links: list[str], warmup: float, seconds: float, out: Any, go: Any) -> None:
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    try:
        out.put(asyncio.run(_run_clients(links, warmup, seconds, out, go)))
    except Exception as exc:  # reported to the parent
        out.put({"error": repr(exc)})


# ---- driver ----------------------------------------------------------------------------------

def seed_rooms(data_dir: Path, base: str, k: int) -> list[list[str]]:
    rooms = []
    for _ in range(k):
        out = subprocess.run(
            [sys.executable, "-m", "server.cli", "demo", "--data-dir", str(data_dir),
             "--base-url", base, "--json"], check=True, capture_output=True, text=True, cwd=REPO)
        d = json.loads(out.stdout)
        rooms.append([d["mediator_link"], *[p["url"] for p in d["party_links"]],
                      d["terminal_link"]])
    return rooms


def measure(k: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        rooms = seed_rooms(data, base, k)
        env = dict(os.environ, SHARED_COURT_ROOM_MAX_PARTICIPANTS="8",
                   SHARED_COURT_LOG_LEVEL="WARNING",
                   SHARED_COURT_IDENTITY_CHECK_REQUIRED="false")
        server = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--data-dir", str(data), "--port",
             str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise RuntimeError("server did not start") from None
                    time.sleep(0.2)
            nproc = max(1, min(args.client_processes, k))
            shares: list[list[str]] = [[] for _ in range(nproc)]
            for i, room in enumerate(rooms):
                shares[i % nproc].extend(room)
            ctx = mp.get_context("spawn")
            q = ctx.Queue()
            go = ctx.Event()
            procs = [ctx.Process(target=client_process,
                                 args=(s, args.warmup, args.seconds, q, go)) for s in shares]
            for p in procs:
                p.start()
            results: list[dict[str, Any]] = []
            server_cpu = 0.0
            ready = 0
            while ready + len(results) < len(procs):
                msg = q.get(timeout=180)
                if msg.get("ready"):
                    ready += 1
                else:
                    results.append(msg)  # an error before the measurement
            c0, t0 = cpu_seconds(server.pid), time.monotonic()
            clients0 = sum(cpu_seconds(p.pid) for p in procs if p.pid is not None)
            go.set()
            clients_cpu = 0.0
            while len(results) < len(procs):
                results.append(q.get(timeout=args.seconds + 120))
                if len(results) == 1:
                    elapsed_s = time.monotonic() - t0
                    server_cpu = (cpu_seconds(server.pid) - c0) / elapsed_s
                    clients_cpu = (sum(cpu_seconds(p.pid) for p in procs if p.pid is not None)
                                   - clients0) / elapsed_s
            for p in procs:
                p.join(timeout=30)
        finally:
            server.terminate()
            server.wait(timeout=20)
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        return {"k": k, "error": errors[0]}
    received = sum(r["received"] for r in results)
    lost = sum(r["lost"] for r in results)
    frames = sum(r["frames"] for r in results)
    streams = sum(r["video_streams"] for r in results)
    elapsed = statistics.mean(r["elapsed"] for r in results)
    rtts = sorted(x for r in results for x in r["rtts"]) or [float("nan")]
    delivery = frames / max(1.0, streams * 30 * elapsed)
    packet_loss = lost / max(1, received + lost)
    return {
        "k": k,
        "server_cpu": server_cpu,
        "clients_cpu": clients_cpu,
        "packet_loss": packet_loss,
        "loss": max(packet_loss, 1.0 - delivery),
        "delivery": delivery,
        "rtt_p50_ms": rtts[len(rtts) // 2] * 1000,
        "rtt_p95_ms": rtts[min(len(rtts) - 1, int(len(rtts) * 0.95))] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", default="1,2,4,6,8,12,16,20",
                        help="comma-separated room counts to try, ascending")
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement per step")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds before measuring")
    parser.add_argument("--client-processes", type=int, default=2,
                        help="processes the participants are spread over")
    args = parser.parse_args()
    best = 0
    print(f"{'rooms':>5} {'server cpu':>10} {'client cpu':>10} {'rtp loss':>8} {'video delivered':>15} "
          f"{'loss':>7} {'rtt p50':>8} {'rtt p95':>8}")
    for k in (int(x) for x in args.rooms.split(",")):
        r = measure(k, args)
        if "error" in r:
            print(f"{k:>5} failed: {r['error']}")
            break
        print(f"{k:>5} {r['server_cpu']:>9.2f}c {r['clients_cpu']:>9.2f}c "
              f"{r['packet_loss'] * 100:>7.2f}% "
              f"{r['delivery'] * 100:>14.1f}% {r['loss'] * 100:>6.2f}% "
              f"{r['rtt_p50_ms']:>6.1f}ms {r['rtt_p95_ms']:>6.1f}ms", flush=True)
        if r["loss"] >= 0.01:
            break
        best = k
    print(f"RESULT max_rooms={best}")


if __name__ == "__main__":
    main()
