"""Join latency: socket.io connect (already admitted) → first decoded remote video frame.

A mediator publishes 640x480 VP8 in a live session; a party, admitted once, then leaves and
rejoins N times (within the reconnect grace period, so no lobby). Each time the clock runs from
the start of the socket.io connect to the first *decoded* video frame from the mediator. Prints
every sample and p50/p95, ending with `RESULT join_latency_p95_s=<N>` (target: <= 1 s).

Usage: .venv/bin/python bench/join_latency.py [--joins 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
import _loopback  # noqa: E402,F401  (media on 127.0.0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(joins: int, base: str, mediator_link: str, party_link: str) -> list[float]:
    from signaling.client import RoomClient, split_join_url

    _, mtoken = split_join_url(mediator_link)
    _, ptoken = split_join_url(party_link)
    mediator = RoomClient(base, token=mtoken)
    await mediator.connect()
    await mediator.join()
    await mediator.start_media()
    party = RoomClient(base, token=ptoken)
    await party.connect()
    await party.join()
    await mediator.wait_until(lambda: len(mediator.lobby()) == 1, what="lobby")
    await mediator.call("admit", {"participant_id": party.participant_id})
    await party.wait_until(lambda: party.presence == "admitted", what="admission")
    await party.close()
    samples: list[float] = []
    mid = mediator.participant_id
    assert mid is not None
    for _ in range(joins):
        t0 = time.perf_counter()
        c = RoomClient(base, token=ptoken)
        await c.connect()
        await c.join()
        if c.presence != "admitted":
            raise RuntimeError("rejoin went through the lobby")
        await c.start_media()
        assert c.media is not None
        while c.media.frames_from(mid, "video") == 0:
            await asyncio.sleep(0.002)
        samples.append(time.perf_counter() - t0)
        await c.close()
        await asyncio.sleep(0.3)
    await mediator.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--joins", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        demo = subprocess.run([sys.executable, "-m", "server.cli", "demo", "--data-dir", tmp,
                               "--base-url", base, "--json"], check=True, capture_output=True,
                              text=True, cwd=REPO)
        d = json.loads(demo.stdout)
        env = dict(os.environ, SHARED_COURT_LOG_LEVEL="WARNING",
                   SHARED_COURT_RECONNECT_GRACE_SECONDS="600",
                   SHARED_COURT_IDENTITY_CHECK_REQUIRED="false")
        server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--data-dir", tmp,
                                   "--port", str(port)], cwd=REPO, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(150):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.2)
            samples = asyncio.run(run(args.joins, base, d["mediator_link"],
                                      d["party_links"][0]["url"]))
        finally:
            server.terminate()
            server.wait(timeout=20)
    s = sorted(samples)
    p50 = s[len(s) // 2]
    p95 = s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]
    print("joins (s): " + " ".join(f"{x:.3f}" for x in samples))
    print(f"p50={p50:.3f}s p95={p95:.3f}s over {len(s)} joins")
    print(f"RESULT join_latency_p95_s={p95:.3f}")


if __name__ == "__main__":
    main()
