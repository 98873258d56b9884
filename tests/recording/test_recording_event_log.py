"""The hash-chained event log: append, head hash, and naming the first broken line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recording import EventLog, check_chain
from recording.event_log import GENESIS, TornTailError, repair_tail


def write_log(path: Path, n: int) -> EventLog:
    log = EventLog(path)
    for i in range(n):
        log.append("note", f"actor{i}", {"i": i, "text": "调解开始"})
    return log


def test_chain_links_and_head(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    assert log.head == GENESIS and log.count == 0
    first = log.append("session.opened", "clerk", {"case": "c1"})
    second = log.append("consent.recorded", "p1", {"accepted": True})
    assert first.prev == GENESIS and second.prev == first.hash
    assert log.head == second.hash and log.count == 2
    log.close()
    check = check_chain(path)
    assert check.ok and check.entries == 2 and check.head == second.hash
    assert [e.type for e in check.events] == ["session.opened", "consent.recorded"]


def test_reopen_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write_log(path, 3).close()
    log = EventLog(path)
    assert log.count == 3
    entry = log.append("later", None)
    log.close()
    assert entry.seq == 4
    assert check_chain(path).ok


@pytest.mark.parametrize("line", [1, 3, 5])
def test_edited_line_is_named(tmp_path: Path, line: int) -> None:
    path = tmp_path / "events.jsonl"
    write_log(path, 5).close()
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[line - 1] = lines[line - 1].replace("调解开始", "调解结束")
    path.write_text("".join(lines), encoding="utf-8")
    check = check_chain(path)
    assert not check.ok and check.broken_line == line
    assert check.entries == line - 1


def test_rehashed_edit_is_caught_at_the_next_link(tmp_path: Path) -> None:
    from recording.event_log import LogEntry, canonical_json

    path = tmp_path / "events.jsonl"
    write_log(path, 4).close()
    lines = path.read_bytes().splitlines(keepends=True)
    obj = json.loads(lines[1])
    obj["payload"]["text"] = "forged"
    body = {k: v for k, v in obj.items() if k != "hash"}
    obj["hash"] = LogEntry.compute_hash(body)
    lines[1] = canonical_json(obj) + b"\n"
    path.write_bytes(b"".join(lines))
    check = check_chain(path)
    assert check.broken_line == 3 and "line 2" in (check.problem or "")


def test_deleted_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write_log(path, 4).close()
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:1] + lines[2:]))
    assert check_chain(path).broken_line == 2


def test_torn_tail_is_refused_then_repaired(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write_log(path, 2).close()
    with path.open("ab") as f:
        f.write(b'{"actor":null,"hash":"ab')
    assert check_chain(path).broken_line == 3
    with pytest.raises(TornTailError):
        EventLog(path)
    assert repair_tail(path) == b'{"actor":null,"hash":"ab'
    log = EventLog(path)
    log.append("recording.interrupted", None)
    log.close()
    assert check_chain(path).ok
