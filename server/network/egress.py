"""Where the server may send webhooks: public addresses only, unless configured otherwise.

A webhook URL is chosen by a court admin or an external system's API key; without this check it
could make the server probe or call internal services (SSRF). The same resolver is used when a
webhook is registered and for every delivery, so a DNS name that later resolves to a private
address (rebinding) is refused at send time too.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver


class EgressRefused(OSError):
    """The target resolves to an address the server must not call."""


def forbidden_address(host: str) -> bool:
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


class PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then refuses private/loopback/link-local
    results unless `allow_private` is set (tests, or an on-premises receiver by choice)."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self.allow_private:
            return results
        allowed = [r for r in results if not forbidden_address(r["host"])]
        if not allowed:
            raise EgressRefused(f"webhook target {host} resolves only to non-public addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


async def check_target(url_host: str, port: int, allow_private: bool) -> None:
    """Raise EgressRefused when the host may not be called (used at registration)."""
    resolver = PublicOnlyResolver(allow_private)
    try:
        await resolver.resolve(url_host, port, socket.AF_UNSPEC)
    except EgressRefused:
        raise
    except OSError as exc:
        raise EgressRefused(f"webhook target {url_host} cannot be resolved: {exc}") from exc
    finally:
        await resolver.close()


def connector_kwargs(allow_private: bool) -> dict[str, Any]:
    return {"resolver": PublicOnlyResolver(allow_private)}
