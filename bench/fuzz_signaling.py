"""Signaling fuzz: hypothesis-generated payloads for every client event against a live server.

Starts `shared-court serve` on a free loopback port with a temporary data directory (demo
data: a mediator, two parties and a village terminal), brings a session into progress (all
admitted, the parties unverified with a written reason, the session started and recorded, the
applicant and the terminal publishing to each other over aiortc) and sends N examples from the
joined mediator and respondent: every event the server registers (`SignalingService.events`,
read from an application built the way `serve` builds it, so plugins' events are included),
SDP offers and answers (mutated real aiortc offers and answers, garbage), unknown event names
and, rarely, socket.io's own lifecycle names. The server's per-participant event rate limit is
raised for the fuzz server (it would otherwise refuse most examples before any parsing).

Valid requests that would end the room under test (leave, ending the session, removing or
returning a member) are held back and counted; their invalid variants are sent. Internal
errors are acks with code `internal`, acks that never come, and server log records with a
traceback or at ERROR. A sender that loses its seat is rejoined (and the room counts as
unhealthy). Afterwards the room must be healthy: the same participants on their original
connections, video still arriving both ways, /healthz 200, a chat from one party reaching the
other. Ends with `RESULT fuzz_examples=<N> internal_errors=<E> room_healthy=<true|false>`; the
exit status is non-zero when E > 0 or the room is unhealthy.

Usage: .venv/bin/python bench/fuzz_signaling.py [--examples 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
# bench/recording.py would shadow the `recording` package the server modules import: the
# bench folder goes last, for the underscore helpers only.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(REPO))
sys.path.append(str(HERE))
import _loopback  # noqa: E402,F401  (media on 127.0.0.1)
from _fuzz import (  # noqa: E402
    KNOWN_BUGS,
    Context,
    Finding,
    LogWatch,
    Tally,
    check_health,
    fuzz,
    open_room,
    real_sdps,
    report_lines,
    tail,
)
from _server import free_port, wait_listening  # noqa: E402

from signaling.client import split_join_url  # noqa: E402

RATE_ENV = {"SHARED_COURT_EVENT_BURST": "1000000", "SHARED_COURT_EVENTS_PER_SECOND": "1000000"}



def registered_events(env: dict[str, str]) -> dict[str, Any]:
    """The live server's `SignalingService.events`: an application built as `serve` builds it
    (same settings from the same environment, its own scratch data directory), not started."""
    from server.app import SIGNALING_KEY, create_app
    from server.config import load_settings

    with tempfile.TemporaryDirectory() as scratch:
        app = create_app(load_settings(environ=env, data_dir=Path(scratch)))
        events = app[SIGNALING_KEY].events
        return {name: model for name, (model, _fn) in events.items()}


async def run(args: argparse.Namespace, base: str, demo: dict[str, Any], logs: LogWatch,
              events: dict[str, Any], server: subprocess.Popen[str]) -> tuple[Tally, Any]:
    tokens = {
        "mediator": split_join_url(demo["mediator_link"])[1],
        "applicant": split_join_url(demo["party_links"][0]["url"])[1],
        "respondent": split_join_url(demo["party_links"][1]["url"])[1],
        "terminal": split_join_url(demo["terminal_link"])[1],
    }
    room = await open_room(base, tokens)
    offers, answers = await real_sdps(room)
    ctx = Context(events=events, pids=room.pids, sdp_offers=offers, sdp_answers=answers,
                  skip=frozenset(args.skip_events),
                  exclude=frozenset(KNOWN_BUGS) if args.exclude_known_bugs else frozenset())
    print(f"room in progress: {len(room.pids)} admitted, session started (recorded), applicant"
          f" and terminal exchanging video; {len(offers)} real offers and {len(answers)} real"
          f" answers to mutate", flush=True)
    for name in sorted(ctx.exclude):
        print(f"left out (known bug {name}): {KNOWN_BUGS[name]}")
    started = time.monotonic()

    def progress(t: Tally) -> None:
        rate = t.sent / max(1e-9, time.monotonic() - started)
        alive = "server up" if server.poll() is None else f"SERVER EXITED {server.returncode}"
        print(f"  {t.sent} examples, {rate:.0f}/s; so far {len(t.findings)} findings from acks "
              f"and seats, {len(logs.bad)} server log errors; {alive}", flush=True)

    tally = await fuzz(room, ctx, logs, args.examples, args.seed, progress)
    health = await check_health(room, tally)
    if server.poll() is not None:
        health.checks["server process still running"] = False
    for c in room.clients.values():
        try:
            await c.close()
        except Exception:
            pass
    return tally, health


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--examples", type=int, default=10000,
                        help="examples to send (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    parser.add_argument("--skip-events", type=lambda s: [x for x in s.split(",") if x],
                        default=[], metavar="A,B",
                        help="event names not to send (e.g. a known bug being fixed)")
    parser.add_argument("--exclude-known-bugs", action="store_true",
                        help="leave out the triggers of the server bugs this fuzz found ("
                        + ", ".join(KNOWN_BUGS) + ") to see whether anything else fails")
    parser.add_argument("--findings", type=Path, metavar="FILE",
                        help="also write every finding (full payloads) to FILE as JSON lines")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        demo = json.loads(subprocess.run(
            [sys.executable, "-m", "server.cli", "demo", "--data-dir", tmp, "--base-url", base,
             "--json"], check=True, capture_output=True, text=True, cwd=REPO).stdout)
        env = dict(os.environ, SHARED_COURT_LOG_LEVEL="WARNING", **RATE_ENV)
        events = registered_events(env)
        print(f"fuzz server: event rate limit raised for the fuzz ({', '.join(f'{k}={v}' for k, v in RATE_ENV.items())}),"
              " so examples reach the handlers; identity check required (the default)")
        print(f"client events registered on the server: {len(events)}: {', '.join(sorted(events))}")
        server = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--data-dir", tmp, "--port", str(port)],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        logs = LogWatch()
        assert server.stderr is not None
        stderr = server.stderr

        def pump() -> None:
            for line in stderr:
                logs.feed_line(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            wait_listening(port, server)
            tally, health = asyncio.run(run(args, base, demo, logs, events, server))
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            reader.join(timeout=5)
            logs.flush()
    # Records logged while the server stopped (after the last example) still count.
    for rec in logs.bad[tally.logs_seen:]:
        tally.findings.append(Finding("log_error", None, "(at shutdown) " + tail(rec.text)))
    for line in report_lines(tally, health, events):
        print(line)
    if args.findings:
        with args.findings.open("w") as fh:
            for f in tally.findings:
                ex = f.example
                fh.write(json.dumps({
                    "kind": f.kind, "detail": f.detail,
                    "sender": ex.sender if ex else None, "event": ex.event if ex else None,
                    "category": ex.category if ex else None,
                    "args": ex.args if ex else None,
                }, ensure_ascii=True, default=repr) + "\n")
    rate = tally.sent / max(tally.seconds, 1e-9)
    print(f"{tally.sent} examples in {tally.seconds:.0f} s ({rate:.0f}/s), seed {args.seed}")
    errors = tally.internal_errors
    healthy = health.healthy
    print(f"RESULT fuzz_examples={tally.sent} internal_errors={errors} "
          f"room_healthy={'true' if healthy else 'false'}")
    return 0 if errors == 0 and healthy else 1


if __name__ == "__main__":
    sys.exit(main())
