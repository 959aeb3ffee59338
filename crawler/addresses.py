"""Which hosts are public: the guard against being steered onto private networks (SSRF).

A URL the user configured may point anywhere, their own network included: they chose it. A
URL that reaches us from the web (a redirect, a link in a feed, a link on a page) is not the
user's choice; when it leads from a public address to a loopback, private, link-local or
reserved one it is refused, so a hostile feed cannot make veye probe the network it runs in.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Collection, Sequence

__all__ = ["AddressGuard", "Resolver", "is_public_address", "system_resolver"]

#: Resolves a host name to the addresses it would be connected to.
Resolver = Callable[[str], Awaitable[Sequence[str]]]


async def system_resolver(host: str) -> list[str]:
    """The addresses the system resolver gives for ``host`` (the ones the fetcher connects to)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address; false for loopback, private, link-local,
    shared, reserved, multicast and unspecified ones, and for what does not parse."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address smuggled into IPv6 is judged as the IPv4 address it carries.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            ip = embedded
    return ip.is_global and not ip.is_multicast


class AddressGuard:
    """Classifies hosts as public or not, once per host per guard.

    ``public_hosts`` are taken as public whatever they resolve to: for a split-horizon DNS
    that gives internal addresses to public outlets, and for tests on 127.0.0.1."""

    def __init__(
        self, resolver: Resolver | None = None, public_hosts: Collection[str] = ()
    ) -> None:
        self._resolve = resolver or system_resolver
        self._public_hosts = frozenset(h.lower() for h in public_hosts)
        self._known: dict[str, bool] = {}

    async def is_public(self, host: str) -> bool:
        """True when every address ``host`` resolves to is public.

        A host that does not resolve is taken as public: the request to it fails anyway,
        with a clearer error than ours."""
        host = host.lower().strip("[]")
        if host in self._public_hosts:
            return True
        if host in self._known:
            return self._known[host]
        try:
            addresses: Sequence[str] = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = await self._resolve(host)
            except (OSError, UnicodeError):
                addresses = []
        public = all(is_public_address(a) for a in addresses)
        self._known[host] = public
        return public
