"""Give freed C heap back to the operating system now and then (glibc's `malloc_trim`).

Measured with bench/soak.py (a recorded 4-party room): the memory the C allocator holds *in
use* stays flat, but the memory it holds *free* grows by about 2 MB a minute. The forwarder
and the recorders free millions of short-lived buffers of every size from several threads;
glibc keeps the freed chunks inside its heaps instead of returning them, so the process's
resident size crept upwards for as long as a room lasted. `malloc_trim(0)` releases the free
pages of every heap (madvise), costs a few milliseconds, and is a no-op where there is no
glibc. It halved the growth; running on jemalloc (server/allocator.py, the default where it is
installed) stopped it; there the server does not run this at all.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

# How often the heap is trimmed; cheap enough to run every minute.
TRIM_INTERVAL_S = 60.0


def _load_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_trim = _load_trim()


def trim() -> bool:
    """Release free heap pages now; False where the C library has no malloc_trim."""
    if _trim is None:
        return False
    _trim(0)
    return True


async def trim_periodically(interval_s: float = TRIM_INTERVAL_S) -> None:
    """Run until cancelled. In a worker thread: trimming a large heap can take milliseconds,
    which the media on the event loop should not wait for."""
    if _trim is None:
        log.info("no malloc_trim in this C library: freed heap stays with the process")
        return
    while True:
        await asyncio.sleep(interval_s)
        await asyncio.to_thread(trim)
