"""Hash-chained, append-only JSONL log of what happened in a session.

Each line is the canonical JSON (sorted keys, no spaces, UTF-8) of one entry::

    {"actor": ..., "hash": H(n), "payload": {...}, "prev": H(n-1), "seq": n, "time": ..., "type": ...}

where ``H(n)`` is the SHA-256 of the canonical JSON of the same entry without ``hash`` and
``H(0)`` is 64 zeros. Editing a line breaks its own hash; re-computing that hash breaks the
next line's ``prev``; and the head hash is sealed in the signed manifest, so even the last line
cannot be changed or dropped unnoticed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .fsutil import fsync_dir

GENESIS = "0" * 64


class EventType:
    """Event types the recording core writes or reads back into the manifest.

    The manifest gathers consent, admission and caucus events by their prefix
    (``consent.``, ``admission.``, ``caucus.``); the server may add types under those prefixes.
    """

    SESSION_OPENED = "session.opened"
    SESSION_CLOSED = "session.closed"
    PARTICIPANT_JOINED = "participant.joined"
    PARTICIPANT_LEFT = "participant.left"
    CONSENT = "consent.recorded"
    ADMISSION = "admission.decided"
    CAUCUS_CHANGED = "caucus.changed"
    TRACK_STARTED = "recording.track_started"
    TRACK_STOPPED = "recording.track_stopped"
    INTERRUPTED = "recording.interrupted"
    SEALED = "recording.sealed"
    DOCUMENT_ADDED = "document.added"


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int
    time: str
    type: str
    actor: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    prev: str = GENESIS
    hash: str = ""

    def body(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time, "type": self.type, "actor": self.actor,
                "payload": self.payload, "prev": self.prev}

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "hash": self.hash}

    @staticmethod
    def compute_hash(body: Mapping[str, Any]) -> str:
        return hashlib.sha256(canonical_json(body)).hexdigest()


class TornTailError(RuntimeError):
    """The log ends in a partial line (the writer was killed mid-append); see ``repair_tail``."""


def repair_tail(path: Path) -> bytes:
    """Cut a partial last line off the log and return it (empty bytes if there was none)."""
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return b""
    keep = data.rfind(b"\n") + 1
    with path.open("r+b") as f:
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return data[keep:]


def read_entries(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, raw line without newline) for every line of the log."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            yield number, raw.rstrip(b"\n")


class EventLog:
    """Appends entries to ``path`` and fsyncs each one before returning it.

    Thread-safe. Blocking (one fsync per entry): on the event loop, go through
    ``SessionRecorder`` which appends from a worker thread.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        created = not path.exists()
        if not created:
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):
                raise TornTailError(f"{path} ends in a partial line")
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if created:
            fsync_dir(path.parent)
        self._seq, self._head = self._tail_state()

    def _tail_state(self) -> tuple[int, str]:
        last: bytes | None = None
        count = 0
        for count, raw in read_entries(self.path):  # noqa: B007 - count is the result
            last = raw
        if last is None:
            return 0, GENESIS
        return count, str(json.loads(last)["hash"])

    @property
    def head(self) -> str:
        """SHA-256 of the last entry (64 zeros for an empty log): the whole chain's fingerprint."""
        return self._head

    @property
    def count(self) -> int:
        return self._seq

    def append(
        self,
        type: str,
        actor: str | None = None,
        payload: Mapping[str, Any] | None = None,
        *,
        time: datetime | None = None,
    ) -> LogEntry:
        """Append one event; returns it once it is on disk. Raises OSError if the disk refuses."""
        stamp = (time or datetime.now(UTC)).isoformat(timespec="microseconds")
        with self._lock:
            body = LogEntry(self._seq + 1, stamp, type, actor, dict(payload or {}), self._head)
            entry = LogEntry(**{**body.body(), "hash": LogEntry.compute_hash(body.body())})
            line = canonical_json(entry.to_json()) + b"\n"
            size = os.lseek(self._fd, 0, os.SEEK_END)
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(self._fd, view) :]
                os.fsync(self._fd)
            except OSError:
                # A half-written line would break the chain for good; cutting it off leaves the
                # log valid, and a later append (once there is room again) continues it.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, size)
                raise
            self._seq, self._head = entry.seq, entry.hash
        return entry

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """Result of checking a log: ``broken_line`` is the first bad line (from 1), if any."""

    entries: int
    head: str
    broken_line: int | None = None
    problem: str | None = None
    events: tuple[LogEntry, ...] = ()

    @property
    def ok(self) -> bool:
        return self.broken_line is None


def check_chain(path: Path) -> ChainCheck:
    """Re-compute every hash and link of the log; stop at the first line that is wrong."""
    prev = GENESIS
    events: list[LogEntry] = []
    number = 0
    for number, raw in read_entries(path):
        def broken(problem: str, line: int = number, head: str = prev) -> ChainCheck:
            return ChainCheck(line - 1, head, line, problem, tuple(events))

        try:
            obj = json.loads(raw)
            entry = LogEntry(**obj)
        except (ValueError, TypeError) as exc:
            return broken(f"不是有效的日志条目 / not a valid entry: {exc}")
        if canonical_json(entry.to_json()) != raw:
            return broken("格式被改动 / line is not in canonical form (edited)")
        if entry.seq != number:
            return broken(f"序号应为 {number} / seq should be {number}, is {entry.seq}")
        if LogEntry.compute_hash(entry.body()) != entry.hash:
            return broken("内容与哈希不符 / content does not match its hash (line edited)")
        if entry.prev != prev:
            return broken(
                f"与第 {number - 1} 行的链接断开 / prev does not match line {number - 1} "
                f"(line {number - 1} replaced, removed or reordered)"
            )
        prev = entry.hash
        events.append(entry)
    return ChainCheck(number, prev, events=tuple(events))
