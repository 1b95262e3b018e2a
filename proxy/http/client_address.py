"""The client's address: the direct peer, or what a trusted reverse proxy says in X-Forwarded-For.

Each proxy appends the address it received the request from, so the list is read from the right:
the first hop that is not one of TRUSTED_PROXIES is the client. Anything left of it was written
by the client itself and proves nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import web

from proxy.state import SETTINGS

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: Address, networks: Iterable[Network]) -> bool:
    return any(address in network for network in networks)


def forwarded_client(
    peer: str | None, forwarded_for: list[str], trusted: tuple[Network, ...]
) -> str:
    """The client address given the direct `peer`, the X-Forwarded-For header values in order,
    and the trusted proxies."""
    peer_address = _parse(peer or "")
    if peer_address is None or not _trusted(peer_address, trusted):
        return peer or "unknown"
    client = peer_address
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break  # a malformed entry: the last proxy we trust is as far as we can see
        client = address
        if not _trusted(address, trusted):
            break
    return str(client)


def client_address(request: web.Request) -> str:
    trusted = request.config_dict[SETTINGS].trusted_proxies
    if not trusted:
        return request.remote or "unknown"
    return forwarded_client(request.remote, request.headers.getall("X-Forwarded-For", []), trusted)
