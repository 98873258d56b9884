"""Which remote ICE candidates the server sends connectivity checks to.

A participant names its candidates (trickled, or in its SDP), and ICE answers each with STUN
requests: without a filter, any link holder makes the server send packets to any address —
its own loopback services, link-local metadata endpoints, the server's own ports. A real
client is never on those, so they are dropped: loopback only when the server itself gathers on
loopback (tests, benchmarks, a single-machine demo), never link-local, multicast, unspecified
or reserved addresses, never the server's own (non-loopback) addresses, never DNS names (only
mDNS ``*.local`` names, which browsers use to hide LAN addresses). Private LAN ranges are
accepted: village terminals and courthouse PCs sit behind them.
"""

from __future__ import annotations

import ipaddress
import logging
import time

import aioice.ice

log = logging.getLogger(__name__)

_CACHE_S = 10.0
_own: tuple[float, frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]] = (0.0, frozenset())


def _own_addresses() -> frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses this process gathers host candidates on (cached briefly)."""
    global _own
    at, addresses = _own
    if time.monotonic() - at > _CACHE_S:
        found = set()
        for raw in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True):
            try:
                found.add(ipaddress.ip_address(raw))
            except ValueError:
                continue
        _own = (time.monotonic(), frozenset(found))
        addresses = _own[1]
    return addresses


def acceptable(host: str) -> bool:
    """May the server send connectivity checks to this candidate address?"""
    if host.endswith(".local"):
        return True  # mDNS: resolved by the ICE agent to a LAN address of the browser
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # a DNS name would make the server resolve (and probe) any host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    own = _own_addresses()
    if ip.is_loopback:
        return any(a.is_loopback for a in own)
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return False
    return ip not in own


def candidate_host(line: str) -> str | None:
    """The address field of a candidate line ("candidate:…" or "a=candidate:…")."""
    parts = line.strip().removeprefix("a=").removeprefix("candidate:").split()
    return parts[4] if len(parts) >= 8 else None


def filter_sdp(sdp: str) -> str:
    """The SDP without candidate lines the server will not check."""
    out = []
    for line in sdp.splitlines(keepends=True):
        if line.startswith("a=candidate:"):
            host = candidate_host(line)
            if host is None or not acceptable(host):
                log.info("dropping remote candidate %s", host)
                continue
        out.append(line)
    return "".join(out)
