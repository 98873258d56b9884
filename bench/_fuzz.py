"""Signaling fuzz, shared by bench/fuzz_signaling.py and tests/signaling/test_fuzz_slice.py.

Hypothesis strategies for every client event a live server registers (`SignalingService.events`,
so a plugin's new event is fuzzed without touching this file) and for SDP (mutated real offers
and answers of aiortc clients, and plain garbage); a driver that sends each example from a
joined participant of a room in progress and tallies the acks; and the room-health check run
after the fuzz. The bench runs 10,000 examples against `shared-court serve`, the CI slice a few
hundred against the test harness: the generator and the checks are this one module.

Hypothesis runs in a worker thread (its `@given` is synchronous) and hands each example to the
event loop that owns the socket.io clients.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import threading
import time
import uuid
import warnings
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio
from hypothesis import HealthCheck, Phase, Verbosity, given, reject, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import HypothesisDeprecationWarning, Unsatisfiable
from pydantic import BaseModel, ValidationError

from signaling.client import RoomClient

# A staff member's written reason: identity check is required by default, and the fuzz room's
# parties are admitted unverified, as the court rules allow with a reason.
ADMIT_REASON = "压力测试：身份未核验，调解员书面准许 / fuzz: admitted unverified with a reason"
# socket.io names a client can emit although they are the server's own lifecycle events.
RESERVED_EVENTS = ("connect", "disconnect", "connect_error", "message")
# Server bugs this fuzz found (all fixed; tests/signaling/test_reserved_events.py), by the name
# `Context.exclude` leaves their triggers out with when a run should look past one.
KNOWN_BUGS = {
    "multi_arg": "an event with extra positional arguments gets no ack; the handler's TypeError "
    "is logged as 'Task exception was never retrieved'",
    "reserved": "a joined client emitting 'disconnect' or 'connect' runs the server's own "
    "lifecycle handlers: it loses its seat (or its connection) and 'connect' logs a traceback",
    "bundle_mid": "an SDP offer whose BUNDLE group starts with a mid no m-line has: aiortc's "
    "connect task and the peer's close fail with tracebacks",
}
ACK_TIMEOUT_S = 10.0
COVER_PER_EVENT = 3  # examples of each registered event before the weighted mix
# Examples that are expected to get no ack at all (extra positional arguments, lifecycle
# names) wait less, so a server that drops them does not stall the run.
SHORT_ACK_TIMEOUT_S = 1.0
MAX_EVENT_BYTES = 96 * 1024  # signaling.protocol.MAX_EVENT_BYTES: a pad this long exceeds it
SENDERS = ("mediator", "respondent")
MEDIA_ROLES = ("applicant", "terminal")
ROLES = ("mediator", "applicant", "respondent", "terminal")


# ---- values ---------------------------------------------------------------------------------

TRICKY_STRINGS = [
    "", " ", "\t\r\n", "\x00", "\x00\x01\x7f", "\u200b\ufeff", "\ud800", "a\udfffb", "\U0001f600" * 8,
    "' OR '1'='1", "<script>alert(1)</script>", "../../../../etc/passwd", "%s%s%n%x",
    "${jndi:ldap://x}", "{{7*7}}", "null", "None", "NaN", "-1", "1e309", "main", "\\", '"',
    "调解协议", "caucus-1", "data:image/png;base64,", "candidate:", "v=0",
]
HEX = "0123456789abcdef"
BIG_INTS = [-(2**63) - 1, -1, 0, 1, 64, 65, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30]


def weighted(table: list[tuple[int, st.SearchStrategy[Any]]]) -> st.SearchStrategy[Any]:
    """Branches drawn in proportion to their weights. (Nesting one_of does not weight them:
    hypothesis flattens nested one_of into one even choice.)"""
    index = [i for i, (w, _) in enumerate(table) for _ in range(w)]
    return st.sampled_from(index).flatmap(lambda i: table[i][1])


def text_any(max_size: int = 48) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=max_size),
        # Lone surrogates and control characters: the default alphabet leaves them out.
        st.text(st.characters(exclude_categories=()), max_size=max_size),
        st.sampled_from(TRICKY_STRINGS),
    )


def json_leaf() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from(BIG_INTS),
        st.floats(),  # NaN and ±Infinity travel as JSON NaN/Infinity
        text_any(),
    )


def json_value() -> st.SearchStrategy[Any]:
    return st.recursive(
        json_leaf(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text_any(12), inner, max_size=4),
        max_leaves=10,
    )


# ---- SDP ------------------------------------------------------------------------------------

TRICKY_SDP_LINES = [
    "a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host",
    "a=candidate:1 1 udp 2130706431 10.1.2.3 50000 typ host",
    "a=candidate:1 1 udp 1 fuzz.local 5000 typ host",
    "a=candidate:1 1 udp 1 example.com 5000 typ host",
    "a=candidate:1 1 udp 1 999.1.1.1 70000 typ host",
    "a=candidate:1 1 tcp 1 10.0.0.1 9 typ host tcptype active",
    "a=candidate:1 1 udp 1 169.254.169.254 80 typ host",
    "a=candidate:x", "a=candidate:", "a=end-of-candidates",
    "a=rtpmap:96 VP8/90000", "a=rtpmap:abc", "a=rtpmap:96", "a=rtpmap:127 H264/90000/2",
    "a=fmtp:97 apt=999", "a=fmtp:97 apt=", "a=fmtp:111 minptime=x;useinbandfec=1",
    "a=ssrc:1 cname:x", "a=ssrc:abc", "a=ssrc:4294967296 msid:a b", "a=ssrc-group:FID 1",
    "a=ssrc-group:FID", "a=ssrc-group:SIM 1 2 3",
    "a=extmap:0 urn:x", "a=extmap:15 urn:ietf:params:rtp-hdrext:sdes:mid", "a=extmap:abc",
    "a=extmap:4096 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=fingerprint:sha-256 00", "a=fingerprint:md5 XX", "a=fingerprint:",
    "a=setup:bogus", "a=setup:passive", "a=setup:active", "a=mid:" + "m" * 200, "a=mid:",
    "a=group:BUNDLE", "a=group:BUNDLE 0 1 2 3 4 5 6 7", "a=group:LS 0", "a=msid:- -", "a=msid:",
    "a=rtcp-fb:96 nack", "a=rtcp-fb:* ccm fir", "a=rtcp:abc", "a=rtcp-mux", "a=rtcp-rsize",
    "a=sctp-port:abc", "a=sctp-port:5000", "a=max-message-size:-1",
    "a=ice-ufrag:", "a=ice-pwd:", "a=ice-ufrag:" + "u" * 300, "a=ice-options:trickle",
    "a=ice-lite", "a=sendrecv", "a=inactive", "a=recvonly", "a=sendonly",
    "m=video 9 UDP/TLS/RTP/SAVPF 96", "m=video 9 UDP/TLS/RTP/SAVPF", "m=audio abc RTP/AVP 0",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "m=video 0 UDP/TLS/RTP/SAVPF 96",
    "m=video 9 UDP/TLS/RTP/SAVPF " + " ".join(str(i) for i in range(96, 128)),
    "m=text 9 RTP/AVP 98", "m=", "c=IN IP4 0.0.0.0", "c=IN IP6 ::", "c=junk",
    "v=1", "o=- 0 0 IN IP4 127.0.0.1", "s=", "t=0 0", "b=AS:-5", "b=TIAS:99999999999999999999",
    "a=simulcast:send 1;2", "a=rid:1 send", "a=", "=", "x", "a=crypto:1 AES_CM_128_HMAC_SHA1_80",
]
SDP_OPS = ("delete", "dup", "insert", "replace", "swap", "truncate", "number", "flip", "lf", "chop")
_NUMBER = re.compile(r"\d+")


def _apply_sdp_ops(args: tuple[str, list[tuple[str, int, int, str]]]) -> str:
    sdp, ops = args
    lines = sdp.split("\r\n")
    sep = "\r\n"
    for op, a, b, extra in ops:
        n = len(lines)
        if n == 0:
            lines = [extra]
            continue
        i, j = a % n, b % n
        if op == "delete":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "insert":
            lines.insert(i, extra)
        elif op == "replace":
            lines[i] = extra
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "truncate":
            text = sep.join(lines)
            lines = text[: a % (len(text) + 1)].split(sep)
        elif op == "number":
            values = [str(v) for v in (b, -b, 2**32 + b, 10**20, 0)]
            lines[i] = _NUMBER.sub(values[b % len(values)], lines[i], count=1 + b % 3)
        elif op == "flip" and lines[i]:
            k = b % len(lines[i])
            lines[i] = lines[i][:k] + (extra[:1] or "\x00") + lines[i][k + 1 :]
        elif op == "lf":
            sep = "\n"
        elif op == "chop":
            lines[i] = lines[i][: b % (len(lines[i]) + 1)]
    return sep.join(lines)


def bundle_mid_missing(sdp: str) -> bool:
    """The first BUNDLE group's first mid is no usable m-line's mid (the `bundle_mid` known
    bug). As aiortc reads it: a section's last a=mid counts. Conservative: when in doubt it
    says missing, so leaving these out never lets one in."""
    sections: list[tuple[str, str | None]] = []  # (kind, mid) per m-line
    group: list[str] | None = None
    for ln in sdp.splitlines():
        if ln.startswith("m="):
            sections.append((ln[2:].split(" ", 1)[0], None))
        elif ln.startswith("a=mid:") and sections:
            sections[-1] = (sections[-1][0], ln[len("a=mid:"):])
        elif ln.startswith("a=group:BUNDLE") and group is None:
            group = ln[len("a=group:BUNDLE"):].split()
    usable = {mid for kind, mid in sections if kind in ("audio", "video") and mid is not None}
    return bool(group) and group[0] not in usable


def sdp_strategy(bases: list[str], exclude: frozenset[str] = frozenset()) -> st.SearchStrategy[str]:
    if not bases:
        bases = ["v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"]
    line = st.one_of(st.sampled_from(TRICKY_SDP_LINES), st.text(max_size=80))
    op = st.tuples(st.sampled_from(SDP_OPS), st.integers(0, 10**6), st.integers(0, 10**6), line)
    mutated = st.tuples(st.sampled_from(bases), st.lists(op, min_size=1, max_size=6))
    sdps = st.one_of(
        mutated.map(_apply_sdp_ops),
        mutated.map(_apply_sdp_ops),
        mutated.map(_apply_sdp_ops),
        mutated.map(_apply_sdp_ops),
        st.sampled_from(bases),  # an untouched real one: a full negotiation on the server
        st.text(min_size=10, max_size=400),
        st.sampled_from(bases).map(lambda s: s * 30),  # beyond the 64 KB limit
    )
    if "bundle_mid" in exclude:
        return sdps.filter(lambda s: not bundle_mid_missing(s))
    return sdps


def candidate_strategy() -> st.SearchStrategy[str]:
    hosts = st.sampled_from([
        "127.0.0.1", "10.1.2.3", "192.168.1.7", "::1", "fe80::1", "224.0.0.1", "0.0.0.0",
        "255.255.255.255", "::ffff:127.0.0.1", "fuzz.local", "example.com", "999.1.1.1", "",
        "2001:db8::1", "[::1]",
    ]) | text_any(24)
    ints = st.sampled_from(BIG_INTS).map(str) | st.integers(0, 70000).map(str) | text_any(6)
    parts = st.tuples(
        st.sampled_from(["candidate:", "", "a=candidate:"]),
        text_any(8),  # foundation
        ints,  # component
        st.sampled_from(["udp", "tcp", "UDP", "sctp", ""]),
        ints,  # priority
        hosts,
        ints,  # port
        st.sampled_from(["typ host", "typ srflx", "typ relay", "typ", "typ bogus", ""]),
        st.sampled_from(["", "raddr 0.0.0.0 rport 0", "tcptype passive", "generation 0",
                         "ufrag x network-id 1", "raddr"]),
    ).map(lambda p: p[0] + " ".join(x for x in p[1:] if x != ""))
    return st.one_of(parts, parts, parts, text_any(64), st.just("x" * 1025))


# ---- payloads from the event models -----------------------------------------------------------

@dataclass
class Context:
    """What the generator knows about the room it fuzzes."""

    events: dict[str, type[BaseModel]]
    pids: dict[str, str]  # role -> participant id of the room's members
    sdp_offers: list[str] = field(default_factory=list)
    sdp_answers: list[str] = field(default_factory=list)
    skip: frozenset[str] = frozenset()  # event names not to send
    # Known server bugs (KNOWN_BUGS) whose triggers are left out, e.g. in CI while a fix is due.
    exclude: frozenset[str] = frozenset()


def _pid(ctx: Context, strict: bool) -> st.SearchStrategy[str]:
    members = st.sampled_from(sorted(ctx.pids.values()))
    unknown = st.text(HEX, min_size=32, max_size=32)
    if strict:
        return st.one_of(members, members, members, unknown)
    return st.one_of(
        members,
        unknown,
        members.map(str.upper),
        members.map(lambda p: p[:-1]),
        members.map(lambda p: p + "0"),
        text_any(40),
    )


def _group(ctx: Context, strict: bool) -> st.SearchStrategy[str]:
    known = st.sampled_from(["main", "caucus-1", "caucus-2", "caucus-3", "caucus-10", "MAIN"])
    regex = st.from_regex(r"[A-Za-z0-9_\-]{1,40}", fullmatch=True)
    return st.one_of(known, known, regex) if strict else st.one_of(known, text_any(45))


_PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def _png(ctx: Context, strict: bool) -> st.SearchStrategy[str]:
    # A 1x1 PNG, then ones that only look like it.
    prefix = "data:image/png;base64,"
    lookalikes = st.one_of(
        st.just(prefix + _PNG_1X1[:40]),
        st.just(prefix + "A" * 69000),
        st.just("data:image/jpeg;base64," + _PNG_1X1),
        st.just(prefix + "!!!!" * 10),
        st.binary(min_size=15, max_size=300).map(lambda b: prefix + base64.b64encode(b).decode()),
        st.just(prefix + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 60).decode()),
    )
    if strict:
        return st.one_of(st.just(prefix + _PNG_1X1), lookalikes)
    return st.one_of(lookalikes, st.text(min_size=20, max_size=200), text_any(30))


def _id_number(ctx: Context, strict: bool) -> st.SearchStrategy[str]:
    shaped = st.one_of(
        st.sampled_from(["330106199001011205", "11010519491231002x", "11010519491231002X",
                         "110105194912310021", "000000000000000000", "123", "33010619900101120",
                         " 330106199001011205 "]),
        st.from_regex(r"[0-9]{17}[0-9Xx]", fullmatch=True),
        st.from_regex(r"[0-9]{15}", fullmatch=True),
    )
    return shaped if strict else st.one_of(shaped, text_any(30))


def _sha(ctx: Context, strict: bool) -> st.SearchStrategy[str]:
    shaped = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)
    return shaped if strict else st.one_of(shaped.map(str.upper), text_any(70))


def _sdp(ctx: Context, strict: bool) -> st.SearchStrategy[str]:
    return sdp_strategy(ctx.sdp_offers + ctx.sdp_answers, ctx.exclude)


def _candidate(ctx: Context, strict: bool) -> st.SearchStrategy[str]:
    return candidate_strategy()


# Fields whose values are better guessed by meaning than by their JSON schema.
_NAMED: dict[str, Callable[[Context, bool], st.SearchStrategy[Any]]] = {
    "participant_id": _pid,
    "members": _pid,  # items of CaucusGroup.members
    "group_id": _group,
    "groups": _group,  # items, where they are strings
    "sdp": _sdp,
    "candidate": _candidate,
    "text_sha256": _sha,
    "signature_png": _png,
    "id_number": _id_number,
}


def _string(s: dict[str, Any], strict: bool) -> st.SearchStrategy[str]:
    lo = int(s.get("minLength", 0))
    hi = s.get("maxLength")
    if "pattern" in s:
        # `from_regex` matches anywhere unless fullmatch; the models anchor with ^…$.
        shaped = st.from_regex(s["pattern"], fullmatch=True)
        return shaped if strict else st.one_of(shaped, text_any(16))
    cap = max(lo, min(int(hi if hi is not None else 64), 64))
    short = st.text(min_size=lo, max_size=cap)
    if strict:
        fits = [t for t in TRICKY_STRINGS if lo <= len(t) <= (hi if hi is not None else 10**9)]
        options = [short, short, short, st.sampled_from(fits)] if fits else [short]
        if hi is not None:
            options.append(st.just("x" * int(hi)))
        return st.one_of(*options)
    options = [text_any(32), st.text(st.characters(exclude_categories=()), min_size=lo,
                                     max_size=cap)]
    if hi is not None:
        options.append(st.just("y" * (int(hi) + 1)))
    if lo:
        options.append(st.just(" " * lo))
    return st.one_of(*options)


def _integer(s: dict[str, Any], strict: bool) -> st.SearchStrategy[int]:
    lo, hi = s.get("minimum"), s.get("maximum")
    inside = [v for v in BIG_INTS if (lo is None or v >= lo) and (hi is None or v <= hi)]
    if strict:
        return st.one_of(st.integers(lo, hi), st.sampled_from(inside or [lo or 0]))
    edges = [v - 1 for v in (lo, hi) if v is not None] + [v + 1 for v in (lo, hi) if v is not None]
    return st.one_of(st.sampled_from(edges + BIG_INTS), st.floats(), text_any(8))


def from_schema(
    s: dict[str, Any], defs: dict[str, Any], ctx: Context, name: str = "", strict: bool = True
) -> st.SearchStrategy[Any]:
    """Values shaped like the model's JSON schema: strict ones within its bounds, loose ones at
    and beyond its edges (and of the wrong type)."""
    if "$ref" in s:
        return from_schema(defs[s["$ref"].rsplit("/", 1)[1]], defs, ctx, name, strict)
    if "anyOf" in s:
        return st.one_of(*(from_schema(x, defs, ctx, name, strict) for x in s["anyOf"]))
    if "const" in s:
        return st.just(s["const"]) if strict else st.sampled_from([s["const"], "true", 1, False])
    if "enum" in s:
        choices = st.sampled_from(s["enum"])
        return choices if strict else st.one_of(choices.map(str.upper), text_any(12))
    kind = s.get("type")
    if name in _NAMED and kind in ("string", None):
        return _NAMED[name](ctx, strict)
    if kind == "string":
        return _string(s, strict)
    if kind == "integer":
        return _integer(s, strict)
    if kind == "number":
        return st.floats()
    if kind == "boolean":
        return st.booleans() if strict else st.sampled_from(["true", 0, 1, "yes", None, 2])
    if kind == "null":
        return st.none()
    if kind == "array":
        items = from_schema(s.get("items", {}), defs, ctx, name, strict)
        lo = int(s.get("minItems", 0))
        hi = int(s.get("maxItems", 6))
        if strict:
            return st.lists(items, min_size=lo, max_size=max(lo, min(hi, 4)))
        return st.one_of(
            st.lists(items, min_size=0, max_size=max(lo, min(hi, 4))),
            st.lists(from_schema(s.get("items", {}), defs, ctx, name), min_size=hi + 1,
                     max_size=hi + 1),
            items,  # one item where a list belongs
        )
    if kind == "object":
        props = s.get("properties", {})
        required = set(s.get("required", []))
        # Loose objects keep most fields valid: one bad field at a time reaches further.
        strategies = {
            k: (from_schema(v, defs, ctx, k, strict) if strict else st.one_of(
                from_schema(v, defs, ctx, k, True), from_schema(v, defs, ctx, k, False)))
            for k, v in props.items()
        }
        return st.fixed_dictionaries(
            {k: v for k, v in strategies.items() if k in required},
            optional={k: v for k, v in strategies.items() if k not in required},
        )
    return json_value()


MUTATIONS = ("drop", "replace", "extra", "null", "nest", "wrong_type")


def _mutate(args: tuple[Any, str, int, Any, str]) -> Any:
    obj, op, k, value, key = args
    if not isinstance(obj, dict):
        return value
    obj = dict(obj)
    keys = sorted(obj)
    target = keys[k % len(keys)] if keys else None
    if op == "drop" and target is not None:
        del obj[target]
    elif op == "replace" and target is not None:
        obj[target] = value
    elif op == "null" and target is not None:
        obj[target] = None
    elif op == "nest" and target is not None:
        obj[target] = [obj[target]] if k % 2 else {"$gt": obj[target]}
    elif op == "wrong_type" and target is not None:
        v = obj[target]
        obj[target] = str(v) if not isinstance(v, str) else (len(v) if k % 2 else [v])
    else:
        obj[key or "extra"] = value
    return obj


@dataclass(frozen=True)
class Example:
    sender: str  # a role in SENDERS
    event: str
    args: Any  # the payload; a tuple means that many positional arguments (() none at all)
    category: str

    def describe(self, limit: int = 600) -> str:
        text = json.dumps(self.args, ensure_ascii=True, default=repr)
        if len(text) > limit:
            text = text[:limit] + f"… ({len(text)} chars)"
        return f"{self.sender} → {self.event!r} [{self.category}] {text}"


def _payloads(model: type[BaseModel], ctx: Context) -> st.SearchStrategy[tuple[str, Any]]:
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    valid = from_schema(schema, defs, ctx)
    edges = from_schema(schema, defs, ctx, strict=False)
    mutated = st.tuples(valid, st.sampled_from(MUTATIONS), st.integers(0, 99), json_value(),
                        text_any(12)).map(_mutate)
    non_object = json_value().filter(lambda v: not isinstance(v, dict)) | st.binary(max_size=64)
    oversize = valid.map(lambda v: {**v, "pad": "z" * MAX_EVENT_BYTES} if isinstance(v, dict) else v)
    multi = st.one_of(st.just(()), st.tuples(valid, json_value()), st.tuples(valid, valid, valid))
    return weighted([
        (80, valid.map(lambda v: ("valid", v))),
        (50, edges.map(lambda v: ("edges", v))),
        (40, mutated.map(lambda v: ("mutated", v))),
        (15, st.dictionaries(text_any(16), json_value(), max_size=6).map(
            lambda v: ("random_object", v))),
        (15, non_object.map(lambda v: ("non_object", v))),
        (5, oversize.map(lambda v: ("oversize", v))),
        # Extra positional arguments are rare: each may cost a short ack timeout.
        *([] if "multi_arg" in ctx.exclude else [(1, multi.map(lambda v: ("multi_arg", v)))]),
    ])


def example_strategy(ctx: Context, event: str | None = None) -> st.SearchStrategy[Example]:
    """One example: who sends which event with what arguments (`event`: that one only)."""
    senders = st.sampled_from(SENDERS)
    names = sorted(n for n in ctx.events if n not in ctx.skip)
    per_event = {n: _payloads(ctx.events[n], ctx) for n in names}

    def registered(name: str) -> st.SearchStrategy[Example]:
        return st.builds(lambda s, p: Example(s, name, p[1], p[0]), senders, per_event[name])

    if event is not None:
        return registered(event)
    sdp = sdp_strategy(ctx.sdp_offers + ctx.sdp_answers, ctx.exclude)
    kinds = st.sampled_from(["offer", "answer", "offer", "answer", "pranswer", "rollback", ""])
    sdp_payload = st.fixed_dictionaries({"sdp": sdp, "type": kinds})
    sdp_events = [n for n in ("offer", "answer") if n in per_event]
    unknown = st.builds(
        lambda s, n, p: Example(s, n, p, "unknown_event"),
        senders,
        text_any(40).filter(lambda n: n not in ctx.events and n not in RESERVED_EVENTS),
        json_value(),
    )
    table: list[tuple[int, st.SearchStrategy[Example]]] = [
        (400, st.sampled_from(names).flatmap(registered)),
        (15, unknown),
    ]
    if sdp_events:
        table.append((80, st.builds(lambda s, e, p: Example(s, e, p, "sdp"), senders,
                                    st.sampled_from(sdp_events), sdp_payload)))
    reserved = [n for n in RESERVED_EVENTS if n not in ctx.skip]
    if "reserved" not in ctx.exclude and reserved:
        # One in ~170: each may cost the sender its connection (and a rejoin).
        table.append((3, st.builds(lambda s, n, p: Example(s, n, p, "reserved"), senders,
                                   st.sampled_from(reserved), json_value())))
    return weighted(table)


# ---- what may not be sent ---------------------------------------------------------------------

def harmful(ex: Example, ctx: Context) -> bool:
    """Valid requests that would end the room under test (it must stay up to be checked):
    leaving, ending the session, removing or sending back a member. The tests cover these;
    the fuzz sends their invalid variants. Mute and caucus changes are allowed: the health
    check undoes them the way a mediator and the parties would."""
    if ex.event not in ("leave", "end_session", "remove_participant", "return_to_lobby"):
        return False
    data = ex.args
    if isinstance(data, tuple):
        # Extra arguments get no ack today (`multi_arg`); a server that reads the first one
        # instead would act on it.
        data = data[0] if data else None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return False
    try:
        parsed: Any = ctx.events[ex.event].model_validate(data)
    except ValidationError:
        return False
    if ex.event == "leave":
        return True
    if ex.sender != "mediator":
        return False  # refused: mediator only
    if ex.event == "end_session":
        outcome = getattr(parsed.outcome, "value", parsed.outcome)
        # A settlement with no agreement and no reason is refused by the agreement check.
        return outcome == "failed" or bool(parsed.no_agreement_reason.strip())
    return parsed.participant_id in ctx.pids.values() and parsed.participant_id != ctx.pids[
        "mediator"
    ]


# ---- server log errors -----------------------------------------------------------------------

_RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\w+) ")


@dataclass
class LogRecord:
    at: float  # time.monotonic() when it was seen
    text: str


class LogWatch:
    """Log records with a traceback or at ERROR and above: the server's own account of
    failures (`signaling handler … failed`, `Task exception was never retrieved`, …)."""

    def __init__(self) -> None:
        self.bad: list[LogRecord] = []
        self._lock = threading.Lock()
        self._current: list[str] = []
        self._current_at = 0.0

    # Text lines from a server process's stderr ("%(asctime)s %(levelname)s %(name)s: …").
    def feed_line(self, line: str) -> None:
        line = line.rstrip("\n")
        with self._lock:
            if _RECORD_START.match(line):
                self._finish()
                self._current = [line]
                self._current_at = time.monotonic()
            else:
                if not self._current:
                    self._current_at = time.monotonic()
                self._current.append(line)

    def flush(self) -> None:
        with self._lock:
            self._finish()

    def _finish(self) -> None:
        if not self._current:
            return
        text = "\n".join(self._current)
        m = _RECORD_START.match(self._current[0])
        level = m.group(1) if m else ""
        if level in ("ERROR", "CRITICAL") or "Traceback (most recent call last)" in text:
            self.bad.append(LogRecord(self._current_at, text))
        self._current = []

    # Records of an in-process server (the test harness).
    def handler(self) -> logging.Handler:
        watch = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.levelno >= logging.ERROR or record.exc_info:
                    with watch._lock:
                        watch.bad.append(LogRecord(time.monotonic(), _format(record)))

        return _Handler(level=logging.WARNING)


def _format(record: logging.LogRecord) -> str:
    return logging.Formatter("%(levelname)s %(name)s: %(message)s").format(record)


# ---- the room -------------------------------------------------------------------------------

@dataclass
class FuzzRoom:
    base_url: str
    tokens: dict[str, str]
    clients: dict[str, RoomClient]
    pids: dict[str, str]
    original: dict[str, RoomClient] = field(default_factory=dict)


async def _join(base_url: str, token: str, **kw: Any) -> RoomClient:
    c = RoomClient(base_url, token=token, **kw)
    await c.connect()
    await c.join(consent=True)
    return c


async def open_room(base_url: str, tokens: dict[str, str], fps: float = 15.0) -> FuzzRoom:
    """A session in progress: the mediator, two parties and a village terminal joined and
    admitted (the parties unverified, with a written reason), the session started (recorded),
    the applicant and the terminal publishing and receiving each other's media."""
    media = {"decode": False, "fps": fps}
    mediator = await _join(base_url, tokens["mediator"])
    others = {r: await _join(base_url, tokens[r], **(media if r in MEDIA_ROLES else {}))
              for r in ("applicant", "respondent", "terminal")}
    await mediator.wait_until(lambda: len(mediator.lobby()) == 3, what="lobby of three")
    for role, c in others.items():
        assert c.participant_id is not None
        reason = ADMIT_REASON if role != "terminal" else ""
        await mediator.call("admit", {"participant_id": c.participant_id, "override_reason": reason})
    for c in others.values():
        await c.wait_until(lambda c=c: c.presence == "admitted", what="admission")
    await mediator.call("start_session", {})
    clients = {"mediator": mediator, **others}
    pids = {r: str(c.participant_id) for r, c in clients.items()}
    for role in MEDIA_ROLES:
        await clients[role].start_media()
    a, t = clients["applicant"], clients["terminal"]
    assert a.media is not None and t.media is not None
    await a.media.wait_for_frames(pids["terminal"], "video", 5, timeout_s=30)
    await t.media.wait_for_frames(pids["applicant"], "video", 5, timeout_s=30)
    return FuzzRoom(base_url, dict(tokens), clients, pids, original=dict(clients))


async def real_sdps(room: FuzzRoom) -> tuple[list[str], list[str]]:
    """Real SDP to mutate: the media clients' own offers and the server's answers to them,
    plus fresh offers and answers of throw-away aiortc peers (audio only, video only, both)."""
    from aiortc import RTCPeerConnection

    from server.rtc.synthetic import MovingPatternTrack, ToneTrack

    offers, answers = [], []
    for role in MEDIA_ROLES:
        media = room.clients[role].media
        if media is None:
            continue
        local, remote = media.pc.localDescription, media.pc.remoteDescription
        for desc in (local, remote):
            if desc is not None:
                (offers if desc.type == "offer" else answers).append(desc.sdp)
    for kinds in (("video", "audio"), ("audio",), ("video",)):
        pc, peer = RTCPeerConnection(), RTCPeerConnection()
        try:
            for kind in kinds:
                track = MovingPatternTrack(fps=1) if kind == "video" else ToneTrack()
                pc.addTransceiver(track, direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            offers.append(pc.localDescription.sdp)
            await peer.setRemoteDescription(pc.localDescription)
            await peer.setLocalDescription(await peer.createAnswer())
            answers.append(peer.localDescription.sdp)
        finally:
            await pc.close()
            await peer.close()
    return offers, answers


# ---- the driver -----------------------------------------------------------------------------

@dataclass
class Finding:
    kind: str  # internal / timeout / log_error / seat_lost / registry
    example: Example | None
    detail: str

    def describe(self) -> str:
        about = self.example.describe() if self.example else "(no example)"
        return f"[{self.kind}] {about}\n    {self.detail}"


@dataclass
class Tally:
    sent: int = 0
    harmful_skipped: int = 0
    per_event: Counter[str] = field(default_factory=Counter)
    per_category: Counter[str] = field(default_factory=Counter)
    codes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    logs_seen: int = 0  # LogWatch.bad records already turned into findings

    def count(self, kind: str) -> int:
        return sum(1 for f in self.findings if f.kind == kind)

    @property
    def internal_errors(self) -> int:
        """Internal-error acks, ack timeouts and server log records with tracebacks (a
        handler's `signaling handler … failed` record is its internal ack: counted once)."""
        return self.count("internal") + self.count("timeout") + self.count("log_error")


class _Disconnected(Exception):
    pass


async def _call(client: RoomClient, event: str, args: Any, timeout: float) -> Any:
    """Emit and wait for the ack, or notice that the connection went away meanwhile."""
    if not client.sio.connected:
        raise _Disconnected
    task = asyncio.ensure_future(client.sio.call(event, args, timeout=timeout))
    while True:
        done, _ = await asyncio.wait({task}, timeout=0.05)
        if done:
            return task.result()
        if not client.sio.connected:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise _Disconnected


class Fuzzer:
    def __init__(self, room: FuzzRoom, ctx: Context, logs: LogWatch) -> None:
        self.room = room
        self.ctx = ctx
        self.logs = logs
        self.tally = Tally()
        self._sent_at: list[tuple[float, Example]] = []
        self.progress: Callable[[Tally], None] | None = None

    async def send(self, ex: Example) -> None:
        client = self.room.clients[ex.sender]
        short = ex.category in ("multi_arg", "reserved")
        timeout = SHORT_ACK_TIMEOUT_S if short else ACK_TIMEOUT_S
        self._sent_at.append((time.monotonic(), ex))
        self.tally.sent += 1
        self.tally.per_event[ex.event] += 1
        self.tally.per_category[ex.category] += 1
        codes = self.tally.codes[ex.event]
        try:
            ack = await _call(client, ex.event, ex.args, timeout)
        except (TimeoutError, socketio.exceptions.TimeoutError):
            codes["(no ack)"] += 1
            if not short:
                self.tally.findings.append(Finding("timeout", ex, f"no ack within {timeout} s"))
            ack = None
        except _Disconnected:
            codes["(disconnected)"] += 1
            ack = None
        else:
            if isinstance(ack, dict) and ack.get("ok") is True:
                codes["ok"] += 1
            elif isinstance(ack, dict) and isinstance(ack.get("error"), dict):
                code = str(ack["error"].get("code"))
                codes[code] += 1
                if code == "internal":
                    self.tally.findings.append(Finding("internal", ex, json.dumps(ack)[:300]))
                if code == "unknown_event" and ex.event in self.ctx.events:
                    self.tally.findings.append(Finding(
                        "registry", ex, "registered here but unknown to the live server"))
            else:
                codes["(odd ack)" if ack is not None else "(empty ack)"] += 1
        standard = isinstance(ack, dict) and "ok" in ack
        code = ack.get("error", {}).get("code") if isinstance(ack, dict) and not ack.get("ok") else None
        if not standard or code in ("unauthenticated", "not_joined") or not client.sio.connected:
            await self._check_seat(ex)
        if self.progress is not None and self.tally.sent % 1000 == 0:
            self.progress(self.tally)

    async def _check_seat(self, ex: Example) -> None:
        """Is the sender still seated? A client must not lose its seat by what it sends."""
        client = self.room.clients[ex.sender]
        reason = None
        if not client.sio.connected:
            reason = "the server closed the sender's connection"
        else:
            try:
                ack = await _call(client, "lobby_status", {}, ACK_TIMEOUT_S)
            except (TimeoutError, socketio.exceptions.TimeoutError, _Disconnected):
                ack = None
            if not (isinstance(ack, dict) and ack.get("ok")):
                reason = f"the sender's socket stays open but is no longer seated: {ack}"
        if reason is None:
            return
        self.tally.findings.append(Finding("seat_lost", ex, reason))
        await self._rejoin(ex.sender)

    async def _rejoin(self, role: str) -> None:
        old = self.room.clients[role]
        with contextlib.suppress(Exception):
            await old.close()
        c = await _join(self.room.base_url, self.room.tokens[role])
        if c.presence == "lobby":
            mediator = self.room.clients["mediator"]
            await mediator.call("admit", {"participant_id": c.participant_id,
                                          "override_reason": ADMIT_REASON})
            await c.wait_until(lambda: c.presence == "admitted", what="re-admission")
        self.room.clients[role] = c

    def collect_logs(self) -> None:
        """Attribute new server log errors to the example sent just before each."""
        self.logs.flush()
        for rec in self.logs.bad[self.tally.logs_seen:]:
            before = [ex for at, ex in self._sent_at if at <= rec.at]
            ex = before[-1] if before else None
            # A failed handler already counts through its `internal` ack.
            if re.search(r"signaling handler \S+ failed", rec.text):
                kind = "internal_log"
            else:
                kind = "log_error"
            # Background tasks log after the ack: the culprit may be an earlier example.
            earlier = ", ".join(f"{e.sender}:{e.event}" for e in before[-4:-1])
            detail = tail(rec.text) + (f"\n    (sent just before: {earlier})" if earlier else "")
            self.tally.findings.append(Finding(kind, ex, detail))
        self.tally.logs_seen = len(self.logs.bad)

    def run(self, loop: asyncio.AbstractEventLoop, examples: int, seed: int) -> None:
        """Generate and send `examples` examples (blocking: call from a worker thread).

        First a few of every registered event, so even a short run reaches each handler
        (a plugin's new one included), then the weighted mix of `example_strategy`."""
        started = time.monotonic()
        names = sorted(n for n in self.ctx.events if n not in self.ctx.skip)
        per_event = max(0, min(COVER_PER_EVENT, examples // (4 * max(1, len(names)))))
        for i, name in enumerate(names if per_event else []):
            self._drive(loop, example_strategy(self.ctx, name),
                        min(examples, self.tally.sent + per_event), seed + 1000 + i)
        strategy = example_strategy(self.ctx)
        round_ = 0
        while self.tally.sent < examples:
            self._drive(loop, strategy, examples, seed + round_)
            round_ += 1
        self.tally.seconds = time.monotonic() - started

    def _drive(self, loop: asyncio.AbstractEventLoop, strategy: st.SearchStrategy[Example],
               until: int, seed: int) -> None:
        """One hypothesis run, sending its examples until `until` have been sent in all."""
        remaining = until - self.tally.sent
        if remaining <= 0:
            return

        @settings(max_examples=remaining, database=None, deadline=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck),
                  verbosity=Verbosity.quiet, print_blob=False)
        @hypothesis_seed(seed)
        @given(strategy)
        def one(ex: Example) -> None:
            if self.tally.sent >= until:
                return
            if harmful(ex, self.ctx):
                self.tally.harmful_skipped += 1
                reject()
            asyncio.run_coroutine_threadsafe(self.send(ex), loop).result()

        with warnings.catch_warnings():
            # Hypothesis notices the event loop thread's use of `random` (aiortc's jitter)
            # during draws and blames the strategies.
            warnings.simplefilter("ignore", HypothesisDeprecationWarning)
            try:
                one()
            except Unsatisfiable:
                pass  # every example drawn was held back: the next round draws others


def tail(text: str, lines: int = 14) -> str:
    parts = text.splitlines()
    head = parts[:2]
    rest = parts[2:][-(lines - 2):] if len(parts) > lines else parts[2:]
    return "\n    ".join(head + (["…"] if len(parts) > lines else []) + rest)


async def fuzz(room: FuzzRoom, ctx: Context, logs: LogWatch, examples: int, seed: int,
               progress: Callable[[Tally], None] | None = None) -> Tally:
    fuzzer = Fuzzer(room, ctx, logs)
    fuzzer.progress = progress
    await asyncio.to_thread(fuzzer.run, asyncio.get_running_loop(), examples, seed)
    await asyncio.sleep(1.0)  # let the last handlers finish (and log) before counting
    fuzzer.collect_logs()
    return fuzzer.tally


# ---- health after the fuzz --------------------------------------------------------------------

@dataclass
class Health:
    checks: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return bool(self.checks) and all(self.checks.values())


async def _quiet(aw: Awaitable[Any]) -> Any:
    try:
        return await aw
    except Exception as exc:
        return exc


async def check_health(room: FuzzRoom, tally: Tally | None = None) -> Health:
    """Is the room still what it was? The same participants on their original connections and
    seated, media flowing between the two publishers, /healthz 200, chat between the parties.

    First the mediator closes any caucus and the publishers unmute themselves: the fuzz may
    have opened one or muted them, as a mediator may."""
    h = Health()
    c = room.clients
    await _quiet(c["mediator"].call("caucus_close", {}))
    for role in MEDIA_ROLES:
        for kind in ("audio", "video"):
            await _quiet(c[role].call("mute", {"kind": kind, "muted": False}))
    lost = [f for f in (tally.findings if tally else []) if f.kind == "seat_lost"]
    for role in ROLES:
        client = c[role]
        same = client is room.original.get(role)
        ack = await _quiet(client.call("lobby_status", {}))
        seated = isinstance(ack, dict) and ack.get("presence", "admitted") == "admitted"
        h.checks[f"{role} connected (original connection)"] = same and client.sio.connected
        h.checks[f"{role} seated and admitted"] = bool(seated)
        if not same:
            h.notes.append(f"{role} had to rejoin during the fuzz")
    if lost:
        h.notes.append(f"{len(lost)} seat losses during the fuzz (see findings)")
    a, t = c["applicant"], c["terminal"]
    for rx, tx in ((a, "terminal"), (t, "applicant")):
        ok = False
        if rx.media is not None:
            before = rx.media.frames_from(room.pids[tx], "video")
            try:
                await rx.media.wait_for_frames(room.pids[tx], "video", 15, timeout_s=20)
                ok = True
            except TimeoutError as exc:
                h.notes.append(str(exc))
            h.notes.append(f"video frames {tx} → {'terminal' if tx == 'applicant' else 'applicant'}:"
                           f" {before} → {rx.media.frames_from(room.pids[tx], 'video')}")
        h.checks[f"video from {tx} still arrives"] = ok
        if rx.media is not None:
            # Every client offer (a reconnect) may leave m-lines behind in the others'
            # connections; their number shows whether renegotiation grew without bound.
            pc = rx.media.pc
            h.notes.append(f"{'applicant' if rx is a else 'terminal'}'s connection: "
                           f"{len(pc.getTransceivers())} m-lines, signaling {pc.signalingState}")
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{room.base_url}/healthz") as r:
            h.checks["/healthz answers 200"] = r.status == 200
    except aiohttp.ClientError as exc:
        h.checks["/healthz answers 200"] = False
        h.notes.append(f"/healthz: {exc!r}")
    nonce = f"health check {uuid.uuid4().hex[:8]}"
    sent = await _quiet(c["applicant"].call("chat", {"text": nonce}))
    got = False
    if isinstance(sent, dict):
        with contextlib.suppress(TimeoutError):
            await c["respondent"].wait_until(
                lambda: any(m.get("text") == nonce for m in c["respondent"].chat), timeout=10,
                what="chat")
            got = True
    h.checks["chat from the applicant reaches the respondent"] = got
    return h


_EXCEPTION_LINE = re.compile(r"^\s*([\w.]+(?:Error|Exception|Refused\w*)\b.*)$", re.M)


def signature(f: Finding) -> str:
    """What went wrong, without the parts that differ from one example to the next."""
    found = _EXCEPTION_LINE.findall(f.detail)
    text = found[-1] if found else f.detail.splitlines()[0]
    return re.sub(r"[0-9a-f]{32}|0x[0-9a-f]+|\d+", "…", text)[:140]


def classify(f: Finding) -> str | None:
    """Which known bug (KNOWN_BUGS) a finding is, by what it says (not by the example it was
    attributed to: a background task may log after later examples went out)."""
    text = f.detail
    if "positional argument" in text and "_wrap.<locals>.handler()" in text:
        return "known bug multi_arg"
    if "_on_connect" in text or (f.example is not None and f.example.category == "reserved"
                                 and f.kind == "seat_lost"):
        return "known bug reserved"
    if re.search(r"'NoneType' object has no attribute '(transport|stop)'", text) and (
        "rtcpeerconnection.py" in text or "closing ServerPeer" in text
    ):
        return "known bug bundle_mid"
    return None


def report_lines(tally: Tally, health: Health, events: Iterable[str]) -> list[str]:
    known = set(events) | set(RESERVED_EVENTS)
    rows: dict[str, tuple[int, Counter[str]]] = {}
    for name in sorted(known | set(tally.per_event)):
        row = name if name in known else "(unknown event names)"
        sent, codes = rows.get(row, (0, Counter()))
        rows[row] = (sent + tally.per_event.get(name, 0), codes + tally.codes.get(name, Counter()))
    out = [f"{'event':<30} {'sent':>6}  acks"]
    for name, (sent, codes) in rows.items():
        text = ", ".join(f"{k} {v}" for k, v in codes.most_common(6))
        out.append(f"{name[:30]:<30} {sent:>6}  {text}")
    cats = ", ".join(f"{k} {v}" for k, v in tally.per_category.most_common())
    out.append(f"by kind: {cats}")
    out.append(f"held back (valid leave / end / remove / return-to-lobby of a member): "
               f"{tally.harmful_skipped}")
    shown = [f for f in tally.findings if f.kind != "internal_log"]
    out.append(f"findings: {len(shown)} (internal acks {tally.count('internal')}, ack timeouts "
               f"{tally.count('timeout')}, server log errors {tally.count('log_error')}, seat "
               f"losses {tally.count('seat_lost')}, registry mismatches {tally.count('registry')})")
    groups: dict[str, list[Finding]] = defaultdict(list)
    for f in shown:
        groups[f"{f.kind}, {classify(f) or 'NEW: ' + signature(f)}"].append(f)
    for key, found in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        out.append(f"  {len(found)} × [{key}]")
        for f in found[:2]:
            out.append("    e.g. " + f.describe().replace("\n", "\n    "))
    out.append("room health after the fuzz:")
    for name, ok in health.checks.items():
        out.append(f"  [{'ok' if ok else 'FAIL'}] {name}")
    for note in health.notes:
        out.append(f"  note: {note}")
    # Generated text may hold lone surrogates, which no terminal encoding takes.
    return [line.encode("utf-8", "backslashreplace").decode("utf-8") for line in out]
