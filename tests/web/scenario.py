"""Helpers of the live browser scenario (tests/web/test_live_scenario.py).

* ``LiveServer``: one ``shared-court serve`` process that the test stops (SIGTERM / SIGKILL) and
  starts again on the same data dir and port.
* ``RoomModel``: who is admitted and in which group, as the test drove the room. The media
  expectation of every (viewer, sender) pair is derived from it (the room rules), never from what
  arrives.
* ``check_media`` / ``assert_media``: the media invariant. An expected pair's decoded video frames
  and received audio samples (``window.__room.received()``) must both increase within 3 s; a
  forbidden pair's must not increase at all. On failure: a table of (viewer, sender, kind,
  before, after) and each page's phase, signaling state and transceiver directions.
* ``settle``: the bounded wait after a reload, restart or offline period (phases, the room
  snapshot each page sees, connected peer connections, negotiated senders).
* ``ErrorWatch``: records every "操作失败" / "服务器无响应" text that appears in any page, even a
  toast that has faded since.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

# --- the server process --------------------------------------------------------------------


# A clean stop must end the process within this (``docker stop``'s default grace period).
GRACEFUL_STOP_S = 10.0


@dataclass
class Stopped:
    sig: signal.Signals
    code: int
    seconds: float
    forced: bool  # did not exit in time: killed

    def __str__(self) -> str:
        how = " (did not exit in time: SIGKILL)" if self.forced else ""
        return f"{self.sig.name}: exit {self.code} after {self.seconds:.1f} s{how}"


class LiveServer:
    """``shared-court serve`` on a fixed port and data dir, restartable by the test."""

    def __init__(
        self, cli: list[str], data_dir: Path, port: int, log_path: Path, env: dict[str, str]
    ) -> None:
        self.cli = cli
        self.data_dir = data_dir
        self.port = port
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._log_offset = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _mark(self, text: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(f"\n===== scenario {time.strftime('%H:%M:%S')}: {text} =====\n")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    # Generous: on a loaded machine the import and migrations alone can take half a minute; how
    # long it took is printed, and the parties' rejoin is what the scenario measures.
    def start(self, timeout: float = 90.0) -> float:
        """Start the server; return the seconds until /healthz answered 200."""
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        self.starts += 1
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._mark(f"start #{self.starts}")
        t0 = time.monotonic()
        log = open(self.log_path, "ab")  # handed to the child process
        try:
            self.proc = subprocess.Popen(
                [
                    *self.cli,
                    "serve",
                    "--data-dir",
                    str(self.data_dir),
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        finally:
            log.close()
        while not self.healthy():
            if self.proc.poll() is not None or time.monotonic() - t0 > timeout:
                code = self.proc.poll()
                if code is None:
                    self.proc.kill()
                    self.proc.wait()
                raise AssertionError(
                    f"server start #{self.starts} failed (exit {code}):\n{self.log_tail()}"
                )
            time.sleep(0.1)
        return time.monotonic() - t0

    def stop(
        self, sig: signal.Signals = signal.SIGTERM, timeout: float = GRACEFUL_STOP_S
    ) -> Stopped:
        """Send ``sig`` and wait for the exit. A process still there ``timeout`` s later is
        killed (``Stopped.forced``): for SIGTERM that is a failed graceful shutdown."""
        proc = self.proc
        assert proc is not None and proc.poll() is None, "server is not running"
        self._mark(f"send {sig.name} to pid {proc.pid}")
        t0 = time.monotonic()
        proc.send_signal(sig)
        forced = False
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            forced = True
            self._mark(f"still running {timeout:.0f} s after {sig.name}: SIGKILL")
            proc.kill()
            code = proc.wait()
        took = time.monotonic() - t0
        self._mark(f"exited with {code} after {took:.1f} s")
        return Stopped(sig, code, took, forced)

    def restart(self, sig: signal.Signals) -> tuple[Stopped, float]:
        """Stop with ``sig`` and start again; the stop's outcome and the seconds to healthy."""
        stopped = self.stop(sig)
        return stopped, self.start()

    def terminate_and_restart(self) -> tuple[Stopped, float]:
        """SIGTERM (graceful shutdown), then the same data dir and port again."""
        return self.restart(signal.SIGTERM)

    def kill_and_restart(self) -> tuple[Stopped, float]:
        """SIGKILL (a crash: nothing runs on the way out), then start again."""
        return self.restart(signal.SIGKILL)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, lines: int = 40, since_last_start: bool = False) -> str:
        """The log's last lines without access-log and ICE-check chatter (the file has all)."""
        if not self.log_path.exists():
            return "(no server log)"
        with open(self.log_path, "rb") as fh:
            if since_last_start:
                fh.seek(self._log_offset)
            text = fh.read().decode("utf-8", "replace")
        kept = [
            ln
            for ln in text.splitlines()
            if ln.strip() and "aiohttp.access" not in ln and "aioice.ice" not in ln
        ]
        return "\n".join(kept[-lines:])


# --- the room as the test drove it -----------------------------------------------------------

KINDS = ("video", "audio")
MAIN = "main"


@dataclass
class Member:
    name: str  # "judge", "A", "B": screenshots and tables
    pid: str
    page: Page
    presence: str = "out"  # out | lobby | admitted | ended
    group: str = MAIN  # the test's own group names; only equality and "main" matter
    muted: frozenset[str] = frozenset()  # kinds the sender switched off: not checked


@dataclass
class RoomModel:
    members: dict[str, Member]
    checks: dict[str, str] = field(default_factory=dict)  # lobby party -> staff checking it

    def expect(self, viewer: Member, sender: Member, kind: str) -> bool | None:
        """Whether ``viewer`` must receive ``kind`` from ``sender`` (True), must not (False), or
        either (None: a muted sender still sends black frames / silence)."""
        if viewer is sender:
            return None
        if sender.presence == "lobby":
            # Identity check: the checking staff member alone receives the lobby party.
            return self.checks.get(sender.name) == viewer.name and viewer.presence == "admitted"
        if viewer.presence != "admitted" or sender.presence != "admitted":
            return False
        if viewer.group != sender.group:
            return False
        if kind in sender.muted:
            return None
        return True

    def pairs(self) -> Iterator[tuple[Member, Member, str, bool | None]]:
        for viewer in self.members.values():
            for sender in self.members.values():
                if viewer is not sender:
                    for kind in KINDS:
                        yield viewer, sender, kind, self.expect(viewer, sender, kind)


# --- reading the pages -----------------------------------------------------------------------

RECEIVED_JS = """
async () => {
  const r = window.__room;
  if (!r || !r.pc) return {};
  try { return await r.received(); } catch (e) { return {__error: String(e)}; }
}
"""

STATE_JS = """
() => {
  const r = window.__room;
  if (!r) return {phase: null};
  const pc = r.pc, st = r.state;
  const negotiated = {};
  const sdp = pc && pc.remoteDescription && pc.remoteDescription.sdp;
  if (sdp) {
    for (const sec of sdp.split(/\\r?\\nm=/).slice(1)) {
      const head = sec.split(/\\s+/);
      const msid = /\\na=msid:(\\S+)\\s+(\\S+)/.exec('\\n' + sec);
      const dir = (/\\na=(sendrecv|sendonly|recvonly|inactive)\\b/.exec('\\n' + sec) || [])[1] || 'sendrecv';
      if (!msid || head[1] === '0' || (dir !== 'sendonly' && dir !== 'sendrecv')) continue;
      let pid = msid[1];
      if (!/^[0-9a-f]{32}$/.test(pid)) pid = msid[2].split('~')[0];
      (negotiated[pid] ||= {})[head[0]] = true;
    }
  }
  const room = st.room;
  return {
    phase: st.phase,
    lostCause: st.lostCause,
    error: st.error,
    sig: pc ? pc.signalingState : null,
    conn: pc ? pc.connectionState : null,
    ice: pc ? pc.iceConnectionState : null,
    mediaStarts: r.mediaStarts,
    transceivers: pc ? pc.getTransceivers().map(t => [t.mid, t.receiver.track && t.receiver.track.kind,
                                                      t.direction, t.currentDirection]) : null,
    negotiated,
    room: room ? {
      started: room.started, recording: room.recording, in_caucus: room.in_caucus,
      you: room.you && room.you.participant_id,
      participants: room.participants.map(p => ({pid: p.participant_id, presence: p.presence, group: p.group})),
    } : null,
  };
}
"""


def page_state(page: Page) -> dict[str, Any]:
    try:
        out: dict[str, Any] = page.evaluate(STATE_JS)
        return out
    except PlaywrightError as exc:
        return {"phase": None, "evaluate_error": str(exc).splitlines()[0]}


def page_received(page: Page) -> dict[str, dict[str, float]]:
    try:
        raw: dict[str, Any] = page.evaluate(RECEIVED_JS)
    except PlaywrightError:
        return {}
    return {k: v for k, v in raw.items() if isinstance(v, dict)}


def describe_pages(model: RoomModel) -> str:
    names = {m.pid: m.name for m in model.members.values()}
    lines = []
    for m in model.members.values():
        st = page_state(m.page)
        room = st.get("room") or {}
        people = [
            f"{names.get(p['pid'], p['pid'][:6])}:{p['presence']}/{p['group']}"
            for p in room.get("participants", [])
        ]
        negotiated = {
            names.get(pid, pid[:6]): sorted(kinds)
            for pid, kinds in st.get("negotiated", {}).items()
        }
        tr = st.get("transceivers")
        tr_text = (
            " ".join(f"{t[0]}:{t[1]}:{t[2]}/{t[3]}" for t in tr) if tr is not None else "no pc"
        )
        lines.append(
            f"  {m.name} (model {m.presence}/{m.group}): phase={st.get('phase')} "
            f"signalingState={st.get('sig')} connection={st.get('conn')} ice={st.get('ice')} "
            f"lostCause={st.get('lostCause')} mediaStarts={st.get('mediaStarts')} "
            f"error={st.get('error')}"
            + (f" evaluate_error={st['evaluate_error']}" if "evaluate_error" in st else "")
            + f"\n      room: started={room.get('started')} recording={room.get('recording')} "
            f"in_caucus={room.get('in_caucus')} participants={people}"
            f"\n      negotiated senders={negotiated}"
            f"\n      transceivers (mid:kind:direction/currentDirection): {tr_text}"
        )
    return "\n".join(lines)


# --- the media invariant -------------------------------------------------------------------


@dataclass
class PairResult:
    viewer: str
    sender: str
    kind: str
    expected: bool
    before: float
    after: float
    rose: bool  # increased between two consecutive readings

    @property
    def ok(self) -> bool:
        return self.rose == self.expected


@dataclass
class MediaCheck:
    label: str
    window: float
    elapsed: float
    rows: list[PairResult]
    pages: str = ""

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def table(self) -> str:
        head = ("viewer", "sender", "kind", "expect", "before", "after", "rose", "verdict")
        body = [
            (
                r.viewer,
                r.sender,
                r.kind,
                "receive" if r.expected else "nothing",
                f"{r.before:.0f}",
                f"{r.after:.0f}",
                "yes" if r.rose else "no",
                "ok"
                if r.ok
                else ("FAIL: nothing arrived" if r.expected else "FAIL: must not arrive"),
            )
            for r in self.rows
        ]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=False)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        return "\n".join(fmt.format(*row) for row in (head, *body))

    def report(self) -> str:
        bad = sum(not r.ok for r in self.rows)
        return (
            f"[{self.label}] media invariant: {bad} of {len(self.rows)} checks failed "
            f"(observed {self.elapsed:.1f} s, window {self.window:.1f} s)\n"
            f"{self.table()}\npages:\n{self.pages}"
        )


def check_media(
    model: RoomModel, label: str, window: float = 3.0, interval: float = 0.25
) -> MediaCheck:
    """Sample every viewer's ``received()``, then poll until every expected pair's video and
    audio counters have increased (at most ``window`` s). When some pair must receive nothing,
    the whole window is observed; any increase of such a pair is a failure."""
    checks = [(v, s, k, e) for v, s, k, e in model.pairs() if e is not None]
    viewers = [m for m in model.members.values() if any(v is m for v, _, _, _ in checks)]
    first: dict[str, dict[str, dict[str, float]]] = {}
    last: dict[str, dict[str, dict[str, float]]] = {}
    rose: set[tuple[str, str, str]] = set()

    def value(reading: dict[str, dict[str, float]], sender: Member, kind: str) -> float:
        return float(reading.get(sender.pid, {}).get(kind, 0) or 0)

    for v in viewers:
        first[v.name] = last[v.name] = page_received(v.page)
    t0 = time.monotonic()
    has_negative = any(not e for _, _, _, e in checks)
    while True:
        elapsed = time.monotonic() - t0
        positives_done = all((v.name, s.name, k) in rose for v, s, k, e in checks if e)
        if elapsed >= window or (positives_done and not has_negative):
            break
        time.sleep(interval)
        for v in viewers:
            cur = page_received(v.page)
            for viewer, sender, kind, _ in checks:
                if viewer is v and value(cur, sender, kind) > value(last[v.name], sender, kind):
                    rose.add((v.name, sender.name, kind))
            last[v.name] = cur
    rows = [
        PairResult(
            v.name,
            s.name,
            k,
            bool(e),
            value(first[v.name], s, k),
            value(last[v.name], s, k),
            (v.name, s.name, k) in rose,
        )
        for v, s, k, e in checks
    ]
    result = MediaCheck(label, window, time.monotonic() - t0, rows)
    if not result.ok:
        result.pages = describe_pages(model)
    return result


def assert_media(model: RoomModel, label: str, window: float = 3.0) -> MediaCheck:
    result = check_media(model, label, window)
    if not result.ok:
        raise AssertionError(result.report())
    return result


# --- settling --------------------------------------------------------------------------------


def settle_problems(model: RoomModel, connected: bool) -> list[str]:
    """What is not yet as the model says: phases, every page's room snapshot, and (connected)
    each peer connection connected + stable with every expected sender negotiated."""
    problems: list[str] = []
    live = [m for m in model.members.values() if m.presence in ("lobby", "admitted")]
    for m in model.members.values():
        if m.presence not in ("lobby", "admitted"):
            continue
        st = page_state(m.page)
        want_phase = "room" if m.presence == "admitted" else "lobby"
        if st.get("phase") != want_phase:
            problems.append(f"{m.name}: phase {st.get('phase')} (want {want_phase})")
            continue
        seen = {p["pid"]: p for p in (st.get("room") or {}).get("participants", [])}
        for o in live:
            p = seen.get(o.pid)
            if p is None:
                problems.append(f"{m.name}: does not list {o.name}")
                continue
            if p["presence"] != o.presence:
                problems.append(f"{m.name}: sees {o.name} {p['presence']} (want {o.presence})")
            for o2 in live:
                p2 = seen.get(o2.pid)
                if o2 is o or p2 is None or o.presence != "admitted" or o2.presence != "admitted":
                    continue
                if (o.group == o2.group) != (p["group"] == p2["group"]):
                    problems.append(
                        f"{m.name}: sees {o.name} in {p['group']} and {o2.name} in {p2['group']}"
                    )
            if o.presence == "admitted" and (o.group == MAIN) != (p["group"] == MAIN):
                problems.append(f"{m.name}: sees {o.name} in group {p['group']}")
        if not connected:
            continue
        in_check = m.presence == "lobby" and m.name in model.checks
        if m.presence == "admitted" or in_check:
            if st.get("conn") != "connected" or st.get("sig") != "stable":
                problems.append(
                    f"{m.name}: peer connection {st.get('conn')}/{st.get('sig')}"
                    " (want connected/stable)"
                )
            negotiated = st.get("negotiated", {})
            for s in model.members.values():
                for kind in KINDS:
                    if model.expect(m, s, kind) and not negotiated.get(s.pid, {}).get(kind):
                        problems.append(f"{m.name}: no {kind} m-line from {s.name} negotiated")
    return problems


def settle(model: RoomModel, label: str, connected: bool, timeout: float = 20.0) -> float:
    """Wait (at most ``timeout`` s) until every page is where the model says; return the seconds
    it took. On timeout, fail with what is still off, the media table and every page's state."""
    t0 = time.monotonic()
    while True:
        problems = settle_problems(model, connected)
        if not problems:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            media = check_media(model, label)
            media.pages = media.pages or describe_pages(model)
            raise AssertionError(
                f"[{label}] not settled within {timeout:.0f} s:\n  "
                + "\n  ".join(problems)
                + "\n"
                + media.report()
            )
        time.sleep(0.25)


# --- error texts in any page ---------------------------------------------------------------

ERROR_TEXTS = ("操作失败", "服务器无响应")

# Runs in every document of a context (also after reloads): reports each newly shown node whose
# text holds an error text, as a console message the test collects.
ERROR_WATCH_JS = """
(() => {
  const pats = __PATTERNS__;
  const seen = new Set();
  const check = (node) => {
    const text = (node && node.textContent) || '';
    if (!text || text.length > 4000) return;
    for (const p of pats) {
      if (text.includes(p) && !seen.has(text)) {
        seen.add(text);
        console.warn('[scenario-error] ' + text.trim().slice(0, 300));
      }
    }
  };
  new MutationObserver((muts) => {
    for (const m of muts) {
      if (m.type === 'characterData') check(m.target.parentNode);
      for (const n of m.addedNodes) check(n);
    }
  }).observe(document, {subtree: true, childList: true, characterData: true});
})();
""".replace("__PATTERNS__", json.dumps(list(ERROR_TEXTS), ensure_ascii=False))


# Instrumentation (calls through, changes nothing): every failed request of the RoomClient, how
# long its own offer waited for the answer, and each phase change, as console messages.
TRACE_JS = """
(() => {
  let room;
  const log = (...a) => console.debug('[scenario-trace] ' + a.join(' '));
  Object.defineProperty(window, '__room', {
    configurable: true,
    get() { return room; },
    set(v) {
      room = v;
      if (!v || v.__traced) return;
      v.__traced = true;
      const request = v.request.bind(v);
      v.request = async (event, payload, timeoutMs) => {
        const t0 = Date.now();
        const ack = await request(event, payload, timeoutMs);
        if (!ack || !ack.ok) {
          log('request', event, 'failed after', Date.now() - t0, 'ms:', JSON.stringify(ack && ack.error));
        } else if (event === 'offer' || event === 'join') {
          log('request', event, 'ok after', Date.now() - t0, 'ms');
        }
        return ack;
      };
      let last = null;
      const timer = setInterval(() => {
        if (room !== v) return clearInterval(timer);
        const p = v.state.phase;
        if (p !== last) {
          log('phase', last, '->', p, 'lostCause', v.state.lostCause,
              'pc', v.pc ? v.pc.connectionState : 'none', 'mediaStarts', v.mediaStarts);
          last = p;
        }
      }, 100);
    },
  });
})();
"""


@dataclass
class SeenError:
    step: str
    who: str
    text: str


class ErrorWatch:
    def __init__(self) -> None:
        self.step = ""
        self.seen: list[SeenError] = []
        self.page_errors: list[SeenError] = []
        self.traces: list[tuple[float, str, str]] = []  # (time.time(), who, text)

    def attach(self, who: str, page: Page) -> None:
        page.context.add_init_script(ERROR_WATCH_JS)
        page.context.add_init_script(TRACE_JS)

        def on_console(msg: Any) -> None:
            text = str(msg.text)
            if text.startswith("[scenario-error] "):
                self.seen.append(SeenError(self.step, who, text.removeprefix("[scenario-error] ")))
            elif text.startswith("[scenario-trace] "):
                self.traces.append((time.time(), who, text.removeprefix("[scenario-trace] ")))
            elif msg.type in ("error", "warning"):
                self.traces.append((time.time(), who, f"console.{msg.type}: {text[:300]}"))

        def on_error(err: Any) -> None:
            self.page_errors.append(SeenError(self.step, who, str(err)))

        page.on("console", on_console)
        page.on("pageerror", on_error)

    def since(self, index: int) -> list[SeenError]:
        return self.seen[index:]

    def recent_traces(self, seconds: float = 60.0) -> str:
        cutoff = time.time() - seconds
        lines = [
            f"  {time.strftime('%H:%M:%S', time.localtime(t))}.{int(t * 1000) % 1000:03d} "
            f"{who}: {text}"
            for t, who, text in self.traces
            if t >= cutoff
        ]
        return "\n".join(lines) or "  (none)"


def visible_errors(pages: dict[str, Page]) -> list[str]:
    """Error texts on screen now, in any page."""
    out = []
    for who, page in pages.items():
        try:
            text = page.evaluate("() => document.body ? document.body.innerText : ''")
        except PlaywrightError as exc:
            out.append(f"{who}: page not readable ({str(exc).splitlines()[0]})")
            continue
        for pat in ERROR_TEXTS:
            if pat in text:
                line = next(ln for ln in text.splitlines() if pat in ln)
                out.append(f"{who}: {line.strip()}")
    return out


def wait_for(fn: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}: last={last!r}")


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without any SHARED_COURT_* setting (the server's defaults), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHARED_COURT_")}
    env.update(extra)
    return env


@contextmanager
def timed(log: list[str], what: str) -> Iterator[None]:
    t0 = time.monotonic()
    try:
        yield
    finally:
        log.append(f"{what}: {time.monotonic() - t0:.1f} s")
