"""`shared-court serve` runs on jemalloc when it is installed (server/allocator.py): the
soak bench measured glibc's heap growing ~1.5 MB a minute under a recorded room, flat under
jemalloc. The switch re-executes the process once, keeping its pid (scripts and service
managers that wait on it see no change)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from server.allocator import jemalloc_library
from tests.conftest import _free_port, skip_or_fail


def _serve(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--data-dir", str(tmp_path / "data"),
         "--port", str(port)],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("server did not start") from None
            time.sleep(0.2)
    return proc, Path(f"/proc/{proc.pid}/maps").read_text()


@pytest.mark.parametrize("choice", ["auto", "system"])
def test_serve_runs_on_jemalloc_unless_told_otherwise(tmp_path: Path, choice: str) -> None:
    if jemalloc_library() is None:
        skip_or_fail("libjemalloc2 is not installed (apt-get install libjemalloc2)")
    proc, maps = _serve(tmp_path, SHARED_COURT_ALLOCATOR=choice)
    try:
        # The same pid serves: the re-execution replaced the process image in place.
        assert ("libjemalloc" in maps) is (choice == "auto")
    finally:
        proc.terminate()
        proc.wait(15)
