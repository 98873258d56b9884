"""Which local addresses ICE gathers host candidates on (the `ice_addresses` setting).

aioice offers every non-loopback address of every interface and never loopback, and aiortc gives
no way to choose. A media server with several interfaces (a public one, a court-internal one, a
container bridge) should offer only the ones parties can reach, and tests and benchmarks must
keep their media on 127.0.0.1. aioice looks the addresses up through the module-level
`aioice.ice.get_host_addresses` on every gathering, so replacing that one function limits every
peer connection in the process: the server's and the headless clients' (probe, tests, bench).

An entry is an IP address ("127.0.0.1", "fd00::2") or an interface name ("lo", "eth0"); loopback
is offered only when named. An empty list keeps aioice's own choice.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Final

import aioice.ice
import ifaddr

_AIOICE_DEFAULT: Final = aioice.ice.get_host_addresses


class HostAddressError(ValueError):
    """An `ice_addresses` entry names no address or interface of this machine."""


def _interfaces() -> list[tuple[str, str]]:
    """(interface name, address) of every configured address, loopback included."""
    out: list[tuple[str, str]] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                out.append((adapter.nice_name, ip.ip))
            elif ip.ip[2] == 0:  # IPv6 without a scope id (no link-local)
                out.append((adapter.nice_name, ip.ip[0]))
    return out


def _is_address(entry: str) -> bool:
    try:
        ipaddress.ip_address(entry)
    except ValueError:
        return False
    return True


def select_host_addresses(
    entries: Sequence[str], *, use_ipv4: bool = True, use_ipv6: bool = True, strict: bool = True
) -> list[str]:
    """The machine's addresses that `entries` name, in the machine's order.

    Raises `HostAddressError` for an entry that matches nothing here, so a typo in the setting
    is reported at start-up instead of silently leaving the server without candidates.
    """
    available = _interfaces()
    chosen: list[str] = []
    for entry in entries:
        if _is_address(entry):
            wanted = str(ipaddress.ip_address(entry))
            matches = [addr for _, addr in available if addr == wanted]
        else:
            matches = [addr for name, addr in available if name == entry]
        if not matches and strict:
            known = ", ".join(sorted({f"{n}={a}" for n, a in available}))
            raise HostAddressError(
                f"ice_addresses: {entry!r} is no address or interface of this machine ({known})"
            )
        chosen.extend(a for a in matches if a not in chosen)
    return [
        a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)
    ]


def limit_host_addresses(entries: Iterable[str]) -> list[str]:
    """Gather host candidates only on `entries` from now on, in this whole process.

    Returns the addresses chosen (empty when `entries` is empty: aioice's default again).
    """
    wanted = [e.strip() for e in entries if e.strip()]
    if not wanted:
        aioice.ice.get_host_addresses = _AIOICE_DEFAULT
        return []
    chosen = select_host_addresses(wanted)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        # Re-read the interfaces each time: an address may come and go while the server runs
        # (then it is skipped, not an error in the middle of a negotiation).
        return select_host_addresses(
            wanted, use_ipv4=use_ipv4, use_ipv6=use_ipv6, strict=False
        )

    aioice.ice.get_host_addresses = get_host_addresses
    return chosen


def current_host_addresses() -> list[str]:
    """The addresses the next gathering will offer (both families)."""
    return list(aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True))
