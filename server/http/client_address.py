"""The address a request really came from, behind the court's reverse proxy.

Behind nginx every request arrives from the proxy's address. Without this, every per-address
limit (login failures, live-room sockets per address, the access log) would lump the whole
court's users together: the 101st participant refused, one mistyped password locking everyone
out. `trusted_proxies` names the proxies; only a request whose peer is one of them has its
`X-Forwarded-For` read, from the right, skipping further trusted hops: the first address not
trusted is the client. A client talking to the server directly cannot claim another address.

(aiohttp-remotes offers `XForwardedStrict`, which refuses every request not carrying exactly
one header per configured hop, health checks from the proxy host included, and
`XForwardedFiltered`, which reads the header whatever the peer and so lets a direct client
choose its address; neither is this rule.)
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Where the middleware leaves the address for the access log (which sees the request as it
# arrived, not the handler's clone).
CLIENT_ADDRESS_KEY: Final = web.RequestKey("client_address", str)
# Hops read at most: a longer header is not from our proxies and is not worth parsing.
MAX_HOPS: Final = 16


def parse_trusted(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or networks ("127.0.0.1", "10.0.0.0/8", "::1"); ValueError on a bad one."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "198.51.100.7:5000"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
             trusted: tuple[Network, ...]) -> bool:
    return any(address.version == n.version and address in n for n in trusted)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: tuple[Network, ...]
) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy, then the
    right-most `X-Forwarded-For` entry that is not a trusted proxy itself."""
    peer_address = _address(peer or "")
    if peer_address is None or not trusted or not _trusted(peer_address, trusted):
        return peer or ""
    hops = [h for header in forwarded_for for h in header.split(",")][-MAX_HOPS:]
    client = peer_address
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # garbage from further left was not written by our proxies
        client = address
        if not _trusted(address, trusted):
            break
    return str(client)


def middleware(trusted: tuple[Network, ...]) -> Middleware:
    """First middleware: handlers, limits and socket.io see the client's address as
    `request.remote`."""

    @web.middleware
    async def client_address_middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        address = client_address(
            request.remote, request.headers.getall(hdrs.X_FORWARDED_FOR, []), trusted
        )
        request[CLIENT_ADDRESS_KEY] = address
        if address != (request.remote or ""):
            request = request.clone(remote=address)
        return await handler(request)

    return client_address_middleware
