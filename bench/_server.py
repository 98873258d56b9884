"""The server process a bench starts: a free loopback port, and waiting until it listens."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, server: subprocess.Popen[Any], timeout_s: float = 60.0) -> None:
    """Return once 127.0.0.1:`port` accepts connections; RuntimeError if `server` exits first
    or `timeout_s` passes."""
    deadline = time.time() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("server did not start") from None
            time.sleep(0.2)
