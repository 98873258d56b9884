"""Soak: one recorded 4-party room for an hour; does the server's memory or fd count creep?

Starts `shared-court serve` on a free loopback port with a temporary data directory (demo
data: a mediator, two parties, a village terminal). A client process joins all four over the
real socket.io + WebRTC path (parties admitted unverified with a written reason, as the
default identity check allows), starts the recorded session and publishes pre-encoded
640x480 VP8 + Opus from every participant; someone chats every --chat-seconds and every
--caucus-minutes the mediator opens a caucus (mediator + applicant / respondent + terminal)
for a minute. Each minute this process samples the server: RSS, open fds (the fewest seen
during the one-second sample: short-lived fds come and go), CPU, and the
latency of /healthz from outside (event-loop lag shows up there), plus the video frames and
chats the clients received. At the end the mediator ends the session, the recording is
sealed, and `shared-court verify` must pass on every sealed folder.

Growth is measured after the warm-up: from minute 5 to the end (for runs shorter than 10
minutes, from half-way), between samples taken in the main room (not during a caucus, which
is not recorded and so holds fewer files open). Ends with `RESULT soak_minutes=<M> rss_growth_pct=<P>
fd_growth=<F> record_verifies=<true|false>`; exits non-zero unless P <= 10, F <= 5 and every
folder verifies.

Usage: .venv/bin/python bench/soak.py [--minutes 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
# bench/recording.py would shadow the `recording` package: the bench folder goes last.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(REPO))
sys.path.append(str(HERE))
import _loopback  # noqa: E402,F401  (media on 127.0.0.1)
from _server import free_port, wait_listening  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ADMIT_REASON = "长稳测试：身份未核验，调解员书面准许 / soak: admitted unverified with a reason"
RSS_TARGET_PCT = 10.0
FD_TARGET = 5



# ---- the participants (a child process) ------------------------------------------------------

async def _participants(links: dict[str, str], args: dict[str, Any], out: Any, stop: Any) -> None:
    from _preencoded import ReplayAudioTrack, ReplayVideoTrack, encode_opus, encode_vp8

    from server.rtc.client import MediaClient
    from signaling.client import RoomClient, split_join_url

    video, audio = encode_vp8(), encode_opus()

    class ReplayClient(MediaClient):
        def _local_tracks(self):  # type: ignore[no-untyped-def]
            return ReplayVideoTrack(video), ReplayAudioTrack(audio)

    clients: dict[str, RoomClient] = {}
    for role in ("mediator", "applicant", "respondent", "terminal"):
        base, token = split_join_url(links[role])
        c = RoomClient(base, token=token, decode=False)
        await c.connect()
        await c.join(consent=True)
        clients[role] = c
    mediator = clients["mediator"]
    await mediator.wait_until(lambda: len(mediator.lobby()) == 3, timeout=60, what="lobby")
    for p in mediator.lobby():
        reason = ADMIT_REASON if p["kind"] == "party" else ""
        await mediator.call("admit", {"participant_id": p["participant_id"],
                                      "override_reason": reason})
    for c in clients.values():
        await c.wait_until(lambda c=c: c.presence == "admitted", timeout=60, what="admission")
    await mediator.call("start_session", {})
    for c in clients.values():
        await c.start_media(ReplayClient)
    pids = {role: str(c.participant_id) for role, c in clients.items()}
    for role, c in clients.items():
        assert c.media is not None
        other = "applicant" if role != "applicant" else "mediator"
        await c.media.wait_for_frames(pids[other], "video", 10, timeout_s=60)
    out.put({"ready": True})

    def frames() -> int:
        return sum(t.frames for c in clients.values() if c.media
                   for t in c.media.remote.values() if t.kind == "video")

    def chats() -> int:
        return sum(len(c.chat) for c in clients.values())

    started = time.monotonic()
    next_chat = started + args["chat_seconds"]
    caucus_every = args["caucus_minutes"] * 60.0
    # 20 s past the minute: the parent's samples (on the minute) each see one room shape.
    next_caucus = started + caucus_every + 20.0
    caucus_until: float | None = None
    sent = caucuses = 0
    speakers = list(clients)
    errors: list[str] = []
    last_minute, f0, c0 = 0, frames(), chats()
    # The parent says when: its last sample must still see the room in full swing.
    while not stop.is_set():
        now = time.monotonic()
        try:
            if now >= next_chat:
                who = speakers[sent % len(speakers)]
                await clients[who].call("chat", {"text": f"第{sent + 1}条 soak message {sent + 1}"})
                sent += 1
                next_chat += args["chat_seconds"]
            if caucus_until is None and now >= next_caucus:
                await mediator.call("caucus_open", {"groups": [
                    {"name": "申请人一方", "members": [pids["mediator"], pids["applicant"]]},
                    {"name": "被申请人一方", "members": [pids["respondent"], pids["terminal"]]},
                ]})
                caucuses += 1
                caucus_until = now + 60.0
                next_caucus += caucus_every
            if caucus_until is not None and now >= caucus_until:
                await mediator.call("caucus_close", {})
                caucus_until = None
        except Exception as exc:  # reported, the soak goes on
            errors.append(repr(exc))
        minute = int((now - started) // 60)
        if minute > last_minute:
            f1, c1 = frames(), chats()
            out.put({"minute": minute, "frames": f1 - f0, "chats": c1 - c0,
                     "caucus": caucus_until is not None})
            last_minute, f0, c0 = minute, f1, c1
        await asyncio.sleep(0.2)
    if caucus_until is not None:
        await mediator.call("caucus_close", {})
    await mediator.call("end_session", {"outcome": "failed", "note": "长稳测试结束 / soak done"})
    await asyncio.sleep(1.5)
    for c in clients.values():
        try:
            await c.close()
        except Exception:
            pass
    out.put({"done": True, "chats_sent": sent, "caucuses": caucuses, "errors": errors})


def participants_process(links: dict[str, str], args: dict[str, Any], out: Any,
                         stop: Any) -> None:
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    try:
        asyncio.run(_participants(links, args, out, stop))
    except Exception as exc:  # reported to the parent
        out.put({"error": repr(exc)})


# ---- sampling the server from outside --------------------------------------------------------

def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def healthz_ms(base: str, n: int = 5, between: Callable[[], None] = lambda: None) -> list[float]:
    """Latency of /healthz: a blocked or backlogged event loop answers late."""
    out = []
    for _ in range(n):
        between()
        t0 = time.perf_counter()
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as r:
            r.read()
            if r.status != 200:
                raise RuntimeError(f"/healthz answered {r.status}")
        out.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.2)
    return out


def sample(pid: int, base: str) -> dict[str, Any]:
    # The count swings by over a dozen from one sample to the next while nothing leaks
    # (short-lived fds): the fewest seen during the sample is what a leak would raise.
    fds: list[int] = []
    lat = healthz_ms(base, between=lambda: fds.append(open_fds(pid)))
    fds.append(open_fds(pid))
    return {"rss_kb": rss_kb(pid), "fds": min(fds), "cpu_s": cpu_seconds(pid),
            "healthz_p50_ms": statistics.median(lat), "healthz_max_ms": max(lat),
            "at": time.monotonic()}


def sealed_folders(recordings: Path, timeout: float = 120.0) -> list[Path]:
    """The session's folders once every one is sealed (manifest written), or what is there."""
    deadline = time.monotonic() + timeout
    while True:
        folders = sorted(p for p in recordings.iterdir() if p.is_dir()) if recordings.is_dir() else []
        if folders and all((p / "manifest.json").is_file() for p in folders):
            return folders
        if time.monotonic() > deadline:
            return folders
        time.sleep(1.0)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=int, default=60, help="length in minutes (default 60)")
    parser.add_argument("--chat-seconds", type=float, default=20.0,
                        help="one chat message every S seconds (default 20)")
    parser.add_argument("--caucus-minutes", type=float, default=3.0,
                        help="open a one-minute caucus every M minutes (default 3)")
    parser.add_argument("--trace-memory", type=Path, metavar="DIR",
                        help="write the server's live objects by type to DIR every minute "
                        "(and tracemalloc snapshots with SHARED_COURT_TRACEMALLOC=1, much "
                        "slower); compare two with bench/_memtrace.py --compare")
    parser.add_argument("--keep-data", type=Path, metavar="DIR",
                        help="copy the server's data directory (database, recordings, log) "
                        "to DIR at the end, for inspection")
    args = parser.parse_args()
    minutes = max(1, args.minutes)
    base_minute = 5 if minutes >= 10 else minutes // 2

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        demo = json.loads(subprocess.run(
            [sys.executable, "-m", "server.cli", "demo", "--data-dir", tmp, "--base-url", base,
             "--json"], check=True, capture_output=True, text=True, cwd=REPO).stdout)
        links = {"mediator": demo["mediator_link"], "applicant": demo["party_links"][0]["url"],
                 "respondent": demo["party_links"][1]["url"], "terminal": demo["terminal_link"]}
        env = dict(os.environ, SHARED_COURT_LOG_LEVEL="WARNING")
        log_path = data / "server.log"
        with log_path.open("w") as log:
            serve = ["serve", "--data-dir", tmp, "--port", str(port)]
            launcher = (
                [str(HERE / "_memtrace.py"), str(args.trace_memory.resolve()), "60", "--"]
                if args.trace_memory else ["-m", "server.cli"]
            )
            server = subprocess.Popen([sys.executable, *launcher, *serve], cwd=REPO, env=env,
                                      stdout=subprocess.DEVNULL, stderr=log)
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        stop = ctx.Event()
        proc = None
        samples: list[dict[str, Any]] = []
        client_minutes: dict[int, dict[str, Any]] = {}
        done: dict[str, Any] = {}
        verified: list[bool] = []
        try:
            wait_listening(port, server)
            proc = ctx.Process(target=participants_process, args=(
                links, {"minutes": minutes, "chat_seconds": args.chat_seconds,
                        "caucus_minutes": args.caucus_minutes}, q, stop))
            proc.start()
            msg = q.get(timeout=180)
            if "error" in msg:
                raise RuntimeError(f"participants failed: {msg['error']}")
            t0 = time.monotonic()
            samples.append(sample(server.pid, base))
            print(f"room up: 4 participants publishing, session recorded; sampling every minute "
                  f"for {minutes} min (growth from minute {base_minute})", flush=True)
            print(f"{'min':>4} {'rss MB':>8} {'fds':>5} {'cpu':>6} {'healthz p50':>12} "
                  f"{'max':>7} {'video fps':>10} {'chats':>6}  (video fps: frames/s all four received)", flush=True)

            def receive(timeout: float) -> None:
                """One message from the participants, if it comes within `timeout`: a minute's
                counts are filed, an error ends the run."""
                try:
                    msg = q.get(timeout=timeout)
                except Exception:
                    return
                if "minute" in msg:
                    client_minutes[msg["minute"]] = msg
                elif "error" in msg:
                    raise RuntimeError(f"participants failed: {msg['error']}")

            for m in range(1, minutes + 1):
                while time.monotonic() < t0 + m * 60:
                    receive(max(0.05, t0 + m * 60 - time.monotonic()))
                if server.poll() is not None:
                    raise RuntimeError(f"server exited with {server.returncode}")
                s = sample(server.pid, base)
                # The participants' own count for this minute arrives a moment later.
                wait_until = time.monotonic() + 10
                while m not in client_minutes and time.monotonic() < wait_until:
                    receive(0.5)
                prev = samples[-1]
                s["cpu"] = (s["cpu_s"] - prev["cpu_s"]) / (s["at"] - prev["at"])
                cm = client_minutes.get(m, {})
                s["minute"], s["caucus"] = m, bool(cm.get("caucus"))
                samples.append(s)
                fps = cm.get("frames", 0) / 60.0
                if m == minutes:
                    stop.set()  # the participants end the session now
                print(f"{m:>4} {s['rss_kb'] / 1024:>8.1f} {s['fds']:>5} {s['cpu']:>5.2f}c "
                      f"{s['healthz_p50_ms']:>10.1f}ms {s['healthz_max_ms']:>5.1f}ms "
                      f"{fps:>10.1f} {cm.get('chats', 0):>6}"
                      + ("  (caucus)" if cm.get("caucus") else ""), flush=True)
            while not done:
                msg = q.get(timeout=120)
                if "done" in msg:
                    done = msg
                elif "error" in msg:
                    raise RuntimeError(f"participants failed: {msg['error']}")
            proc.join(timeout=30)
            ended = time.monotonic()
            folders = sealed_folders(data / "recordings")
            print(f"session ended; {len(folders)} folder(s) sealed after "
                  f"{time.monotonic() - ended:.1f} s", flush=True)
            for folder in folders:
                r = subprocess.run(
                    [sys.executable, "-m", "server.cli", "verify", str(folder), "--data-dir", tmp],
                    cwd=REPO, capture_output=True, text=True)
                verified.append(r.returncode == 0)
                print(f"verify {folder.name}: {'ok' if r.returncode == 0 else 'FAILED'}"
                      + ("" if r.returncode == 0 else f"\n{r.stdout}{r.stderr}"))
        finally:
            stop.set()
            if proc is not None and proc.is_alive():
                proc.join(timeout=30)
                if proc.is_alive():
                    proc.terminate()
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        log_text = log_path.read_text(errors="replace")
        if args.keep_data:
            shutil.copytree(data, args.keep_data, dirs_exist_ok=True)
        if not verified:
            found = sorted(str(p.relative_to(data)) for p in (data / "recordings").rglob("*"))[:20] \
                if (data / "recordings").is_dir() else "no recordings folder"
            print(f"no sealed folder found; recordings: {found}")
    # A caucus is not recorded here (record_caucus off): its tracks' files are closed, a dozen
    # fds fewer. Growth compares samples of the same shape, the main room.
    main = [x for x in samples[base_minute:] if not x.get("caucus")] or samples[base_minute:]
    b, e = main[0], main[-1]
    rss_growth = (e["rss_kb"] - b["rss_kb"]) / b["rss_kb"] * 100
    fd_growth = e["fds"] - b["fds"]
    lat = [s["healthz_max_ms"] for s in samples]
    tracebacks = log_text.count("Traceback (most recent call last)")
    print(f"chats sent {done.get('chats_sent')}, caucuses {done.get('caucuses')}, client errors "
          f"{len(done.get('errors', []))}{': ' + '; '.join(done['errors'][:3]) if done.get('errors') else ''}")
    print(f"server: RSS {b['rss_kb'] / 1024:.1f} MB at minute {b.get('minute', 0)} -> "
          f"{e['rss_kb'] / 1024:.1f} MB at minute {e.get('minute', 0)} ({rss_growth:+.1f} %, target <= "
          f"{RSS_TARGET_PCT:.0f} %); fds {b['fds']} -> {e['fds']} ({fd_growth:+d}, target <= "
          f"{FD_TARGET}); /healthz worst {max(lat):.1f} ms; log tracebacks {tracebacks}")
    record_ok = bool(verified) and all(verified)
    print(f"sealed folders: {len(verified)}, all verify: {record_ok}")
    print(f"RESULT soak_minutes={minutes} rss_growth_pct={rss_growth:.1f} fd_growth={fd_growth} "
          f"record_verifies={'true' if record_ok else 'false'}")
    return 0 if rss_growth <= RSS_TARGET_PCT and fd_growth <= FD_TARGET and record_ok else 1


if __name__ == "__main__":
    sys.exit(main())
