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
    counts: collections.Counter[str] = collections.Counter()
    for obj in gc.get_objects():
        kind = type(obj)
        counts[f"{kind.__module__}.{kind.__qualname__}"] += 1
    return dict(counts)


def _dump_every(folder: Path, seconds: float, traced: bool) -> None:
    n = 0
    while True:
        time.sleep(seconds)
        n += 1
        (folder / f"objects-{n:03d}.json").write_text(json.dumps(_object_counts()))
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
