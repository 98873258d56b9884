"""Where the server may send webhooks: globally reachable addresses only, unless configured
otherwise (`webhook_allow_private_targets`).

A webhook URL is chosen by a court admin or an external system's API key; without this check it
could make the server probe or call internal services (SSRF), such as a cloud metadata service
(169.254.169.254, or Alibaba Cloud's 100.100.100.200 in the shared address space 100.64.0.0/10).

A name is resolved exactly once per connection, by the connector's `PublicOnlyResolver`, and
aiohttp connects only to the addresses that resolver returned after checking them: a DNS name
that answers a public address to a first lookup and an internal one to a second (rebinding)
never gets that second lookup. Every address of a name must be allowed, not just one: a
receiver with an internal address among its records is refused rather than silently trimmed.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.helpers import is_ip_address
from aiohttp.resolver import DefaultResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class EgressRefused(OSError):
    """The target resolves to an address the server must not call."""


# IANA special-purpose blocks that are not globally reachable, listed here as well as asking
# `is_global`: Python 3.11's tables predate several of them (it calls 64:ff9b:1::/48, fec0::/10
# and ::ffff:100.64.0.1 global), and the verdict must not change with the interpreter's patch
# level. The embedding forms (::ffff:0:0/96, 64:ff9b::/96, 2002::/16) are unwrapped instead.
_NOT_GLOBAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space (CGNAT); holds Alibaba Cloud's metadata service
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments (whole block: no webhook receiver there)
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/8",  # unspecified, loopback, IPv4-compatible (deprecated)
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",
        "2001::/23",  # includes Teredo (2001::/32)
        "2001:db8::/32",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a packet to `ip` actually reaches: through the kernel's mapped socket,
    a NAT64 gateway or a 6to4 relay."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def _globally_reachable(ip: IPAddress) -> bool:
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return False
    return not any(ip in net for net in _NOT_GLOBAL if net.version == ip.version)


def forbidden_address(host: str) -> bool:
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            # The outer prefix says nothing about where the packet ends up (::ffff:0:0/96 even
            # counts as reserved): judge the IPv4 address it carries.
            return not _globally_reachable(inner)
    return not _globally_reachable(ip)


def address_kind(host: str) -> str:
    """A word for why an address is not public, for refusal messages."""
    ip = ipaddress.ip_address(_literal(host).split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and _embedded_ipv4(ip) is not None:
        return f"carries IPv4 {_embedded_ipv4(ip)}"
    for word in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
        if getattr(ip, f"is_{word}"):
            return word.replace("_", "-")
    if ip.version == 4 and ip in ipaddress.IPv4Network("100.64.0.0/10"):
        return "shared address space"
    return "special-purpose"


def _literal(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def ip_literal(url_host: str) -> IPAddress | None:
    """The address a URL's host spells, or None for a name. Brackets (`[fd00::5]`, as pydantic
    gives the host) and an IPv6 zone (`fe80::1%eth0`) are allowed; only canonical forms count,
    the loose ones (`127.1`) are left to `check_literal`, which refuses them."""
    host = _literal(url_host).split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_literal(url_host: str) -> bool:
    host = _literal(url_host)
    return ip_literal(host) is not None or is_ip_address(host)


class PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then refuses the name if any result is not
    globally reachable, unless `allow_private` is set (tests, or an on-premises receiver by
    choice). As the connector's resolver, what it returns is exactly what gets connected to."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        literal = ip_literal(host)
        if literal is not None:
            # An address is never looked up: asked with the wrong family (AF_INET for an IPv6
            # address) getaddrinfo fails, and an IPv6 target was refused as "cannot be resolved".
            check_literal(host, self.allow_private)
            return [
                {
                    "hostname": host,
                    "host": _literal(host),
                    "port": port,
                    "family": socket.AF_INET6 if literal.version == 6 else socket.AF_INET,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            ]
        results = await self._inner.resolve(host, port, family)
        if self.allow_private:
            return results
        refused = sorted({r["host"] for r in results if forbidden_address(r["host"])})
        if refused or not results:
            raise EgressRefused(
                f"webhook target {host} resolves to non-public address(es) {', '.join(refused)}"
            )
        return results

    async def close(self) -> None:
        await self._inner.close()


def check_literal(url_host: str, allow_private: bool) -> None:
    """Refuse an IP-literal host before connecting: aiohttp never asks the resolver about a
    host it takes for an address, so the connector's check does not cover it. Names are left to
    the connector (resolved once, there)."""
    host = _literal(url_host)
    if allow_private or not _is_literal(host):
        return
    try:
        refused = forbidden_address(host)
    except ValueError:
        # aiohttp's test is loose ("127.1", "2130706433" count as addresses) and the socket
        # layer would still read such a host as 127.0.0.1: refuse anything not canonical.
        raise EgressRefused(f"webhook target {host} is not a canonical IP address") from None
    if refused:
        raise EgressRefused(
            f"webhook target {host} is a non-public address ({address_kind(host)}); "
            "private targets are not allowed (webhook_allow_private_targets)"
        )


async def check_target(url_host: str, port: int, allow_private: bool) -> None:
    """Raise EgressRefused when the host may not be called (used at registration, where no
    connection follows; delivery checks again through the connector)."""
    host = _literal(url_host)
    check_literal(host, allow_private)
    if _is_literal(host):
        return  # an address: judged above, never handed to a resolver
    resolver = PublicOnlyResolver(allow_private)
    try:
        await resolver.resolve(host, port, socket.AF_UNSPEC)
    except EgressRefused:
        raise
    except OSError as exc:
        raise EgressRefused(f"webhook target {host} cannot be resolved: {exc}") from exc
    finally:
        await resolver.close()


def refusal(exc: BaseException) -> EgressRefused | None:
    """The EgressRefused behind an aiohttp connection error, if that is what stopped it
    (aiohttp wraps the resolver's OSError in a ClientConnectorError)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None or isinstance(seen, EgressRefused):
            return seen
        os_error = getattr(seen, "os_error", None)
        seen = os_error if isinstance(os_error, BaseException) else seen.__cause__
    return None


def connector_kwargs(allow_private: bool) -> dict[str, Any]:
    return {"resolver": PublicOnlyResolver(allow_private)}
