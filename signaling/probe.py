"""`shared-court probe JOIN_URL`: join like a browser, publish a test pattern, report what arrives.

Terminal officers use it to check a line; tests and benchmarks use the same RoomClient.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from server.rtc.host_addresses import HostAddressError, limit_host_addresses
from signaling.client import RoomClient, SignalingFailure, split_join_url

OUTCOMES = {
    "调解成功": "settled",
    "调解不成": "failed",
    "部分达成": "partial",
    "settled": "settled",
    "failed": "failed",
    "partial": "partial",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "join_url", metavar="JOIN_URL", help="a join link: http://host:port/join/<token>"
    )
    p.add_argument(
        "--seconds", type=float, default=10.0, help="stay S seconds, then leave (default 10)"
    )
    p.add_argument("--media", help="publish this media file instead of the synthetic pattern/tone")
    p.add_argument("--codec", choices=["VP8", "H264"], default="VP8", help="video codec to publish")
    p.add_argument("--no-video", action="store_true", help="publish audio only")
    p.add_argument(
        "--admit-all",
        action="store_true",
        help="mediator link: admit everyone waiting in the lobby, now and as they arrive "
        "(where the identity check is required, with a logged override reason)",
    )
    p.add_argument(
        "--start-recording",
        action="store_true",
        help="mediator: start the recorded session (after the recording notice)",
    )
    p.add_argument(
        "--end-session",
        metavar="OUTCOME",
        choices=sorted(OUTCOMES),
        help="mediator: end the session when leaving (调解成功/调解不成/部分达成)",
    )
    p.add_argument(
        "--no-agreement-reason",
        metavar="TEXT",
        default="",
        help="with --end-session 调解成功/部分达成 and no signed agreement: how it was settled "
        "(the server requires a reason)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="at exit print one JSON object: received [{from, kind, frames, width, "
        "height}], rtt_ms",
    )
    p.add_argument(
        "--ice-address",
        action="append",
        metavar="ADDR",
        help="gather ICE host candidates only on this address or interface (repeatable; "
        "loopback only when named, e.g. 127.0.0.1). Default: $SHARED_COURT_ICE_ADDRESSES, "
        "else every non-loopback address",
    )
    p.add_argument(
        "--wait-admission",
        type=float,
        default=120.0,
        help="seconds to wait in the lobby for admission (default 120)",
    )


async def run_probe(args: argparse.Namespace) -> dict[str, Any]:
    base, token = split_join_url(args.join_url)
    addresses = args.ice_address or os.environ.get("SHARED_COURT_ICE_ADDRESSES", "").split(",")
    limit_host_addresses(addresses)
    client = RoomClient(
        base, token=token, video=None if args.no_video else args.codec, media_file=args.media
    )
    info = await client.fetch_join_info()
    is_mediator = info["participant"]["kind"] == "mediator"
    report: dict[str, Any] = {
        "participant": info["participant"]["display_name"],
        "session_id": info["session"]["id"],
        "received": [],
        "rtt_ms": None,
    }
    # Last admission attempt per participant: someone who left and came back is in the lobby
    # again and is admitted again; a refused attempt is retried after a pause, not in a loop.
    attempted: dict[str, float] = {}

    async def admit_waiting() -> None:
        now = time.monotonic()
        for p in client.lobby():
            pid = p["participant_id"]
            if not p.get("consented") or now - attempted.get(pid, -1e9) < 2.0:
                continue
            attempted[pid] = now
            try:
                # With the identity check required, a line check admits with a logged reason.
                await client.call("admit", {
                    "participant_id": pid,
                    "override_reason": "线路检测（probe --admit-all）/ line check",
                })
            except SignalingFailure:
                pass

    try:
        await client.connect()
        await client.join(consent=True)
        if client.presence != "admitted":
            print("等待调解员准许进入… / waiting in the lobby…", file=sys.stderr)
            await client.wait_until(
                lambda: client.presence == "admitted" or client.saw("denied"),
                timeout=args.wait_admission,
                what="admission",
            )
            if client.saw("denied"):
                raise SignalingFailure("denied", "调解员未准许进入 / not admitted")
        if is_mediator and args.start_recording:
            await client.call("start_session")
        await client.start_media()
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline and not client.saw("session_ended"):
            if is_mediator and args.admit_all:
                await admit_waiting()
            await asyncio.sleep(0.2)
        assert client.media is not None
        stats = await client.media.get_stats()
        report["rtt_ms"] = (
            round(stats.round_trip_time_s * 1000, 1)
            if stats.round_trip_time_s is not None
            else None
        )
        names = client.names
        for t in client.media.remote.values():
            report["received"].append(
                {
                    "from": names.get(t.publisher_id or "", t.publisher_id),
                    "participant_id": t.publisher_id,
                    "kind": t.kind,
                    "frames": t.frames,
                    "width": t.width,
                    "height": t.height,
                }
            )
        if is_mediator and args.end_session:
            await client.call(
                "end_session",
                {
                    "outcome": OUTCOMES[args.end_session],
                    "no_agreement_reason": args.no_agreement_reason,
                },
            )
        elif client.sio.connected:
            await client.call("leave")
    finally:
        await client.close()
    return report


def probe_main(args: argparse.Namespace) -> int:
    try:
        report = asyncio.run(run_probe(args))
    except HostAddressError as exc:
        print(f"shared-court probe: {exc}", file=sys.stderr)
        return 2
    except (SignalingFailure, TimeoutError, ValueError, OSError) as exc:
        print(f"shared-court probe: 无法加入 / could not join: {exc}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(f"已加入 / joined as {report['participant']} (RTT {report['rtt_ms']} ms)")
        for r in report["received"]:
            print(
                f"  {r['from']} {r['kind']}: {r['frames']} frames {r['width'] or ''}"
                f"{'x' if r['width'] else ''}{r['height'] or ''}"
            )
    return 0
