"""Run the server on jemalloc when it is installed (Debian: libjemalloc2).

Measured with bench/soak.py (a recorded 4-party room): under glibc's malloc the heap the event
loop allocates from kept growing, ~1.5 MB a minute, while the memory in use stayed flat: the
forwarder and the recorder allocate and free buffers of every size at hundreds a second, and
glibc's heap fragments (returning free pages with `malloc_trim`, server/heap.py, halves the
growth but does not stop it). Under jemalloc the same room's resident size stayed flat.

The allocator has to be chosen before the process starts, so `shared-court serve` re-executes
itself once with jemalloc preloaded (same process id, same arguments). `allocator = "system"`
keeps the C library's malloc; `"jemalloc"` refuses to start without it; `"auto"` (default)
uses it when found.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

Allocator = Literal["auto", "jemalloc", "system"]

# Set in the re-executed process: never loop, and say which allocator runs.
MARK = "SHARED_COURT_ALLOCATOR_CHOSEN"
CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
    "/usr/lib64/libjemalloc.so.2",
    "/usr/lib/libjemalloc.so.2",
)


class AllocatorError(RuntimeError):
    pass


def jemalloc_library() -> str | None:
    return next((c for c in CANDIDATES if Path(c).is_file()), None)


def running() -> str:
    """The allocator this process runs on: "jemalloc" or "system"."""
    preload = os.environ.get("LD_PRELOAD", "")
    return "jemalloc" if "jemalloc" in preload else "system"


def ensure(choice: Allocator) -> None:
    """Re-execute this process on jemalloc when `choice` asks for it and it is not running yet.
    Returns when nothing is to be done; raises AllocatorError for "jemalloc" without the
    library."""
    if choice == "system" or running() == "jemalloc" or os.environ.get(MARK):
        return
    library = jemalloc_library()
    if library is None:
        if choice == "jemalloc":
            raise AllocatorError(
                "allocator = \"jemalloc\" but libjemalloc.so.2 is not installed "
                "(apt-get install libjemalloc2)"
            )
        return
    preload = os.environ.get("LD_PRELOAD", "")
    env = dict(os.environ, LD_PRELOAD=f"{library}:{preload}" if preload else library)
    env[MARK] = "jemalloc"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
