"""Run `shared-court` and write what its memory holds every interval (bench/soak.py
--trace-memory DIR).

Two kinds of snapshot: `objects-NNN.json`, live objects counted by type (cheap: taken once per
interval, nothing slows the server in between), and, with SHARED_COURT_TRACEMALLOC=1,
tracemalloc snapshots (where memory was allocated; slows every allocation, enough to stall a
media room on two cores).

Usage: python bench/_memtrace.py DIR SECONDS -- <server.cli arguments>
Compare two snapshots with `python bench/_memtrace.py --compare A B` (.json or .pickle).
"""

from __future__ import annotations

import collections
import ctypes
import gc
import json
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
# bench/recording.py would shadow the `recording` package: run from the repository instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))


def _object_counts() -> dict[str, int]:
    """Count per type, "<type> bytes" (shallow sizes) per type, and "big: …" for the largest
    single containers (a list that grows keeps its count and changes its size)."""
    counts: collections.Counter[str] = collections.Counter()
    big: list[tuple[int, str]] = []
    for obj in gc.get_objects():
        kind = type(obj)
        name = f"{kind.__module__}.{kind.__qualname__}"
        size = sys.getsizeof(obj)
        counts[name] += 1
        counts[f"{name} bytes"] += size
        if size > 50_000:
            try:
                first = repr(next(iter(obj)))[:80] if hasattr(obj, "__iter__") else ""
            except Exception:
                first = "?"
            big.append((size, f"big: {name} id={id(obj)} len={_len(obj)} first={first}"))
    for size, label in sorted(big, reverse=True)[:30]:
        counts[label] = size
    return dict(counts)


def _len(obj: object) -> int:
    try:
        return len(obj)  # type: ignore[arg-type]
    except Exception:
        return -1


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _malloc_state() -> dict[str, int]:
    """glibc's own account: bytes in use by C allocations, free but kept, and mmapped."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    return {"malloc in use": info.uordblks, "malloc free": info.fordblks,
            "malloc mmapped": info.hblkhd, "malloc arena": info.arena}


def _malloc_info(path: Path) -> None:
    """glibc's per-heap report (each thread arena apart), as XML."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.fopen.restype = ctypes.c_void_p
        libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        libc.fclose.argtypes = [ctypes.c_void_p]
        fp = libc.fopen(str(path).encode(), b"w")
        if fp:
            libc.malloc_info(0, fp)
            libc.fclose(fp)
    except (OSError, AttributeError):
        pass


def _dump_every(folder: Path, seconds: float, traced: bool) -> None:
    n = 0
    while True:
        time.sleep(seconds)
        n += 1
        state = {**_malloc_state(), **_object_counts()}
        (folder / f"objects-{n:03d}.json").write_text(json.dumps(state))
        _malloc_info(folder / f"malloc-{n:03d}.xml")
        if traced:
            tracemalloc.take_snapshot().dump(str(folder / f"snapshot-{n:03d}.pickle"))


def compare(a: str, b: str, top: int = 25) -> None:
    if a.endswith(".json"):
        old, new = json.loads(Path(a).read_text()), json.loads(Path(b).read_text())
        growth = sorted(((new.get(k, 0) - old.get(k, 0), k) for k in set(old) | set(new)),
                        reverse=True)
        for delta, kind in growth[:top]:
            print(f"{delta:+8d} {new.get(kind, 0):8d}  {kind}")
        return
    old, new = tracemalloc.Snapshot.load(a), tracemalloc.Snapshot.load(b)
    for key in ("traceback", "filename"):
        print(f"--- top {top} growth by {key} ---")
        for stat in new.compare_to(old, key)[:top]:
            print(stat)
            if key == "traceback":
                for line in stat.traceback.format()[-12:]:
                    print("      ", line)


def main() -> None:
    if sys.argv[1] == "--compare":
        compare(sys.argv[2], sys.argv[3])
        return
    folder, seconds = Path(sys.argv[1]), float(sys.argv[2])
    rest = sys.argv[sys.argv.index("--") + 1:]
    folder.mkdir(parents=True, exist_ok=True)
    traced = os.environ.get("SHARED_COURT_TRACEMALLOC") == "1"
    if traced:
        tracemalloc.start(12)
    threading.Thread(target=_dump_every, args=(folder, seconds, traced), daemon=True).start()
    from server.cli import main as cli_main

    sys.exit(cli_main(rest))


if __name__ == "__main__":
    main()
