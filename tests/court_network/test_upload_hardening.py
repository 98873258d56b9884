"""Hostile and careless clients of the evidence upload (issue #13, item 2), against a real TCP
server started by the same code as `shared-court serve` (server/http/limits.py), with raw
sockets where a client must misbehave byte by byte. Timeouts are set small per test."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from server.app import create_app
from server.config import Settings
from server.court_network.models import Attachment, SharedCourt, SharedCourtKind
from server.http.limits import start
from server.state import STATE_KEY
from tests.api.test_postgres import postgres_admin_url, postgres_url  # noqa: F401 (fixtures)
from tests.conftest import seed_staff
from tests.court_network.net import intake_body

UPLOAD = "/api/network/my-intake/attachments"
BOUNDARY = "hardening-boundary"


@dataclass
class Served:
    """One application on a loopback port, and an online applicant's intake on it."""

    app: web.Application
    runner: web.AppRunner
    port: int
    intake_id: str = ""
    token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def stored(self) -> int:
        async with self.app[STATE_KEY].db.session() as s:
            n = await s.scalar(
                select(func.count())
                .select_from(Attachment)
                .where(Attachment.intake_id == self.intake_id)
            )
        return int(n or 0)


Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve(settings: Settings) -> AsyncIterator[Serve]:
    """serve(**limits): the app served as the CLI serves it; with `data_dir=` of another
    server, a second process on the same database."""
    runners: list[web.AppRunner] = []

    async def _serve(**limits: Any) -> Served:
        s = settings.model_copy(update=limits)
        app = create_app(s)
        runner = await start(app, s, host="127.0.0.1", port=0)
        runners.append(runner)
        return Served(app, runner, int(runner.addresses[0][1]))

    yield _serve
    for runner in reversed(runners):
        await runner.cleanup()


async def applicant(served: Served) -> Served:
    """Apply online (as the public form does) and keep the applicant's token."""
    seed = await seed_staff(served.app)
    async with served.app[STATE_KEY].db.session() as s:
        court = SharedCourt(court_id=seed.court_a, name="桃源村共享法庭", kind=SharedCourtKind.village)
        s.add(court)
        await s.flush()
        court_id = court.id
    async with aiohttp.ClientSession() as http:
        async with http.post(
            served.url + "/api/network/intakes/online", json=intake_body(shared_court_id=court_id)
        ) as resp:
            assert resp.status == 201, await resp.text()
            out = await resp.json()
    served.intake_id, served.token = out["intake"]["id"], out["access_token"]
    return served


def multipart(content: bytes, filename: str = "证据.pdf") -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode() + content + f"\r\n--{BOUNDARY}--\r\n".encode()


def pdf(n: int, tag: int = 0) -> bytes:
    head = b"%PDF-1.4\n%" + str(tag).encode() + b"\n"
    return head + b"0" * (n - len(head))


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body, from a raw socket."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


async def closed_after(reader: asyncio.StreamReader, limit: float) -> tuple[float, bytes]:
    """Seconds until the server closes the connection, and whatever it sent before."""
    t0, got = time.monotonic(), b""
    while chunk := await asyncio.wait_for(reader.read(65536), limit):
        got += chunk
    return time.monotonic() - t0, got


# --- (a) slow bodies neither starve the API nor stay open -------------------------------------
async def test_slow_uploads_do_not_take_the_api_down_and_are_cut_off(serve: Serve) -> None:
    grace = 4.0  # room for the first health probe below on a loaded 2-core CI machine
    srv = await applicant(
        await serve(
            http_header_timeout_seconds=1.0,
            http_body_rate_grace_seconds=grace,
            attachment_max_per_intake=50,
        )
    )
    body = multipart(pdf(4000))
    n = 20  # more than the database pool holds (5 + 10 overflow)

    async def slow_upload() -> tuple[float, int, dict[str, str], bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        head = (
            f"POST {UPLOAD} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {srv.token}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode())
        t0 = time.monotonic()

        async def trickle() -> None:  # 1 byte/s, the anonymous applicant from the issue
            try:
                for i in range(len(body)):
                    writer.write(body[i : i + 1])
                    await writer.drain()
                    await asyncio.sleep(1.0)
            except ConnectionError:
                pass

        sender = asyncio.create_task(trickle())
        try:
            status, headers, payload = await asyncio.wait_for(read_response(reader), grace + 5)
            rest = await asyncio.wait_for(reader.read(), 3)  # and the connection is closed
            assert rest == b""
            return time.monotonic() - t0, status, headers, payload
        finally:
            sender.cancel()
            writer.close()

    uploads = [asyncio.create_task(slow_upload()) for _ in range(n)]
    try:
        await asyncio.sleep(1.0)  # every upload is in its handler, reading the body
        async with aiohttp.ClientSession() as http:
            for probe in range(3):
                t0 = time.monotonic()
                async with http.get(
                    srv.url + "/healthz", timeout=aiohttp.ClientTimeout(total=3)
                ) as resp:
                    assert resp.status == 200, await resp.text()
                assert time.monotonic() - t0 < 3
                if probe == 0:
                    # Answered while every upload still held its connection. Checked after the
                    # first probe only: on a loaded machine three probes can outlast the grace,
                    # and then the uploads are rightly cut off before the last one answers.
                    done = [u for u in uploads if u.done()]
                    assert not done, [u.exception() or u.result() for u in done]
                await asyncio.sleep(0.3)
        results = await asyncio.gather(*uploads)
    finally:
        for u in uploads:
            u.cancel()
    for elapsed, status, headers, payload in results:
        assert status == 408, payload
        assert json.loads(payload)["error"]["code"] == "request_timeout"
        assert headers.get("connection", "").lower() == "close"
        assert grace - 0.5 < elapsed < grace + 3
    assert await srv.stored() == 0
    root = srv.app[STATE_KEY].settings.data_dir / "network" / "attachments"
    assert not list(root.glob(".upload-*"))  # no temporary file is left behind


async def test_body_that_never_starts_is_cut_off(serve: Serve) -> None:
    srv = await applicant(await serve(http_header_timeout_seconds=0.5))
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(
        (
            f"POST {UPLOAD} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {srv.token}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            "Content-Length: 5000\r\n\r\n"
        ).encode()
    )
    t0 = time.monotonic()
    status, _headers, payload = await asyncio.wait_for(read_response(reader), 5)
    assert status == 408 and 0.4 < time.monotonic() - t0 < 2.5
    assert "did not start" in json.loads(payload)["error"]["message"]
    writer.close()


async def test_an_upload_whose_client_leaves_is_not_an_error(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    """A phone that loses signal halfway through an evidence upload was logged as an unhandled
    server error (a 500 traceback per lost upload, in the log the court's IT watches). It is
    the client leaving: logged as such, and nothing of the upload is kept."""
    srv = await applicant(await serve())
    root = srv.app[STATE_KEY].settings.data_dir / "network" / "attachments"
    body = multipart(pdf(200_000))
    _reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(
        (
            f"POST {UPLOAD} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {srv.token}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body[:50_000]
    )
    await writer.drain()
    with caplog.at_level("INFO", logger="server.http.errors"):
        await asyncio.sleep(0.5)  # the handler is streaming the file to disk
        writer.transport.abort()
        for _ in range(50):
            if any("client left" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.1)
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert errors == [], [r.getMessage() for r in errors]
    assert [r.getMessage() for r in caplog.records if "client left" in r.getMessage()] == [
        f"client left during POST {UPLOAD}"
    ]
    assert await srv.stored() == 0
    assert [p for p in root.rglob("*") if p.is_file()] == []  # no partial or temporary file
    async with aiohttp.ClientSession() as http:  # and the applicant can simply upload again
        async with http.post(
            srv.url + UPLOAD, data=multipart(pdf(4000)), headers={**srv.auth, **MULTIPART}
        ) as r:
            assert r.status == 201, await r.text()
    assert await srv.stored() == 1


# --- (b) request heads: slowloris ---------------------------------------------------------------
async def test_partial_head_is_disconnected_after_the_header_timeout(serve: Serve) -> None:
    srv = await serve(http_header_timeout_seconds=0.5, http_keepalive_timeout_seconds=2.0)

    # Part of a head, then nothing: 408 and closed after the header timeout.
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    elapsed, got = await closed_after(reader, 5)
    assert 0.4 < elapsed < 3.0 and got.startswith(b"HTTP/1.1 408"), (elapsed, got)
    writer.close()

    # More bytes do not extend it: counted from the first byte of the head.
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    t0 = time.monotonic()

    async def drip() -> None:
        try:
            for b in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa":
                writer.write(bytes([b]))
                await writer.drain()
                await asyncio.sleep(0.1)
        except ConnectionError:
            pass

    dripping = asyncio.create_task(drip())
    _, got = await closed_after(reader, 5)
    dripping.cancel()
    assert time.monotonic() - t0 < 3.0 and got.startswith(b"HTTP/1.1 408")
    writer.close()

    # A connection that never sends anything is closed too (without an answer).
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    elapsed, got = await closed_after(reader, 5)
    assert 0.4 < elapsed < 3.0 and got == b""
    writer.close()

    # An idle keep-alive connection is not a slow head: it stays usable past the header
    # timeout and is closed after the keep-alive timeout.
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    writer.write(request)
    assert (await asyncio.wait_for(read_response(reader), 5))[0] == 200
    await asyncio.sleep(1.0)
    writer.write(request)
    assert (await asyncio.wait_for(read_response(reader), 5))[0] == 200
    elapsed, got = await closed_after(reader, 6)
    assert 1.5 < elapsed < 4.0 and got == b""
    writer.close()


# --- (c) the count limit holds against parallel uploads -----------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    return {"database_url": request.getfixturevalue("postgres_url")}


@pytest.mark.parametrize("processes", [1, 2])
async def test_parallel_uploads_never_exceed_the_cap(
    serve: Serve, database: dict[str, str], processes: int
) -> None:
    first = await applicant(await serve(**database))
    servers = [first]
    if processes == 2:
        # A second process on the same database: only the database can keep the count.
        data_dir: Path = first.app[STATE_KEY].settings.data_dir
        second = await serve(data_dir=data_dir, **database)
        second.intake_id, second.token = first.intake_id, first.token
        servers.append(second)
    async with aiohttp.ClientSession() as http:

        async def upload(i: int) -> tuple[int, Any]:
            srv = servers[i % len(servers)]
            async with http.post(
                srv.url + UPLOAD,
                data=multipart(pdf(48 * 1024, i), f"证据{i}.pdf"),
                headers={**srv.auth, **MULTIPART},
            ) as resp:
                return resp.status, await resp.json()

        results = await asyncio.gather(*(upload(i) for i in range(30)))
        async with http.get(first.url + "/api/network/my-intake", headers=first.auth) as resp:
            detail = await resp.json()
    created = [body for status, body in results if status == 201]
    refused = [(status, body) for status, body in results if status != 201]
    assert len(created) == 20, results
    assert len(refused) == 10
    for status, body in refused:
        assert status == 409 and body["error"]["code"] == "too_many_attachments", body
        assert "20" in body["error"]["message"]
    assert await first.stored() == 20
    assert len(detail["attachments"]) == 20
    root = first.app[STATE_KEY].settings.data_dir / "network" / "attachments"
    stored_files = [p for p in root.rglob("*") if p.is_file()]
    assert len(stored_files) == 20  # refused uploads left no file


# --- (d) the size limit ------------------------------------------------------------------------
async def test_oversized_upload_is_refused_413_and_leaves_no_file(serve: Serve) -> None:
    cap = 64 * 1024
    srv = await applicant(await serve(attachment_max_bytes=cap))
    root = srv.app[STATE_KEY].settings.data_dir / "network" / "attachments"
    big = multipart(pdf(cap + 1))

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: caught while streaming
        for i in range(0, len(big), 4096):
            yield big[i : i + 4096]

    async with aiohttp.ClientSession() as http:
        for data in (big, chunked()):
            async with http.post(srv.url + UPLOAD, data=data, headers={**srv.auth, **MULTIPART}) as r:
                assert r.status == 413, await r.text()
                err = (await r.json())["error"]
                assert err["code"] == "file_too_large" and "64 KiB" in err["message"]
        # Declared far too large: refused before the body is read at all.
        async with http.post(
            srv.url + UPLOAD,
            data=multipart(pdf(20 * cap)),
            headers={**srv.auth, **MULTIPART},
        ) as r:
            assert r.status == 413
        assert await srv.stored() == 0
        assert [p for p in root.rglob("*") if p.is_file()] == []  # no partial or temporary file
        # Exactly at the limit is fine.
        async with http.post(
            srv.url + UPLOAD, data=multipart(pdf(cap)), headers={**srv.auth, **MULTIPART}
        ) as r:
            assert r.status == 201, await r.text()
    assert await srv.stored() == 1


async def test_a_staff_video_upload_holds_no_database_connection_while_it_streams(
    serve: Serve,
) -> None:
    """The 普法 video upload (up to 200 MiB from a court PC) kept its request's database
    connection for as long as the body took; a few slow uploads held the pool."""
    srv = await serve(http_body_rate_grace_seconds=30.0, http_body_min_rate_bytes=1)
    await seed_staff(srv.app)
    from tests.conftest import PASSWORD

    # unsafe: keep cookies of an IP address host (127.0.0.1)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(srv.url + "/api/auth/login",
                             json={"username": "clerk_a", "password": PASSWORD}) as resp:
            assert resp.status == 200, await resp.text()
            csrf = (await resp.json())["csrf_token"]
        cookie = "; ".join(f"{c.key}={c.value}" for c in http.cookie_jar)
        async with http.post(srv.url + "/api/network/education", headers={"X-CSRF-Token": csrf},
                             json={"kind": "video", "title": "调解小课堂"}) as resp:
            assert resp.status == 201, await resp.text()
            item = (await resp.json())["id"]
    video = b"\x1a\x45\xdf\xa3" + b"\x00" * 4000  # a WebM (EBML) header, then padding
    body = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"课.webm\"\r\n"
        "Content-Type: video/webm\r\n\r\n"
    ).encode() + video + f"\r\n--{BOUNDARY}--\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write((
        f"POST /api/network/education/{item}/media HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Cookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body[:200])
    await writer.drain()
    pool = srv.app[STATE_KEY].db.engine.sync_engine.pool
    try:
        await asyncio.sleep(1.0)  # the handler is reading the body, which has not all come
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        writer.write(body[200:])
        await writer.drain()
        status, _headers, payload = await asyncio.wait_for(read_response(reader), 10)
        assert status == 200, payload
        assert json.loads(payload)["media_type"] == "video/webm"
    finally:
        writer.close()
