"""Freed C heap goes back to the system (server/heap.py), where glibc held it for good.

bench/soak.py found the server's resident size creeping up ~2 MB a minute in a recorded room
while the C heap *in use* stayed flat: the allocator kept what was freed. This is that shape in
miniature: many blocks freed below one that stays, so the heap cannot shrink from its top."""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

import pytest

from server import heap

BLOCK = 4096
BLOCKS = 12_000  # ~50 MB


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_trim_returns_freed_heap_that_the_allocator_kept() -> None:
    name = ctypes.util.find_library("c")
    if name is None or not heap.trim():
        pytest.skip("no glibc malloc_trim here")
    libc = ctypes.CDLL(name)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    blocks = [libc.malloc(BLOCK) for _ in range(BLOCKS)]
    for b in blocks:
        libc.memset(b, 1, BLOCK)  # resident, not just reserved
    pin = libc.malloc(BLOCK)  # keeps the top of the heap in use
    before_free = _rss_mb()
    for b in blocks:
        libc.free(b)
    kept = _rss_mb()
    try:
        assert heap.trim()
        after = _rss_mb()
    finally:
        libc.free(pin)
    assert kept > before_free - 10, "glibc already gave the memory back by itself"
    assert after < kept - 30, (before_free, kept, after)
