"""A real nginx as the court's reverse proxy in front of a test server, on free ports.

The site configuration is the common one: HTTP/1.1 to the upstream, WebSocket upgrade passed
on, `Host $host` (no port) and `X-Forwarded-For $proxy_add_x_forwarded_for`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import _free_port

NGINX = "/usr/sbin/nginx"

CONF = """
daemon off;
user root;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return NGINX if Path(NGINX).exists() else shutil.which("nginx")



@contextmanager
def reverse_proxy(upstream_port: int, workdir: Path) -> Iterator[str]:
    """Run nginx in front of 127.0.0.1:`upstream_port`; yields its base URL."""
    binary = nginx_binary()
    assert binary is not None, "nginx is not installed"
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(CONF.format(dir=workdir, port=port, upstream=upstream_port))
    proc = subprocess.Popen(
        [binary, "-c", str(conf), "-p", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"nginx did not start: {err}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
