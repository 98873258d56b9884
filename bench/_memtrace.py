"""Run `shared-court` with tracemalloc on, writing a snapshot every interval (bench/soak.py
--trace-memory DIR): where the memory that grows was allocated.

Usage: python bench/_memtrace.py DIR SECONDS -- <server.cli arguments>
Compare two snapshots with `python bench/_memtrace.py --compare A B`.
"""

from __future__ import annotations

import sys
import threading
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
# bench/recording.py would shadow the `recording` package: run from the repository instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))


def _dump_every(folder: Path, seconds: float) -> None:
    n = 0
    while True:
        time.sleep(seconds)
        n += 1
        tracemalloc.take_snapshot().dump(str(folder / f"snapshot-{n:03d}.pickle"))


def compare(a: str, b: str, top: int = 25) -> None:
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
    tracemalloc.start(12)
    threading.Thread(target=_dump_every, args=(folder, seconds), daemon=True).start()
    from server.cli import main as cli_main

    sys.exit(cli_main(rest))


if __name__ == "__main__":
    main()
