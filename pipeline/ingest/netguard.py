"""The SSRF guard: feed fetches never reach loopback, private or otherwise non-public hosts.

The check runs where the TCP connection is opened (a custom httpcore network
backend), so it covers every redirect hop, and the socket connects to the very
address that was checked: a DNS answer that changes between check and connect
(DNS rebinding) cannot slip through. TLS still verifies the certificate against
the host name, because httpcore passes the name, not the address, as SNI.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to, as strings, in the order to try them.
Resolver = Callable[[str, int], list[str]]


class RefusedAddress(Exception):
    """The guard refused to connect: the host has a non-public address."""


class UnresolvableHost(Exception):
    """The host name has no address (DNS failure)."""


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``getaddrinfo`` gives for ``host`` (stream sockets), duplicates removed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f"cannot resolve {host!r}: {exc}") from None
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        if sockaddr[0] not in addresses:
            addresses.append(str(sockaddr[0]))
    return addresses


def non_public_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address (e.g. ``"loopback"``), or None if it is.

    IPv6 addresses that embed an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64)
    are judged by the embedded address as well.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and address in ipaddress.IPv6Network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = non_public_reason(embedded)
            if reason is not None:
                return f"{reason} (embedded in {address})"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("not globally routable", not address.is_global),
    )
    for reason, applies in checks:
        if applies:
            return reason
    return None


@dataclass(frozen=True)
class AddressGuard:
    """Resolves a host and says which of its addresses may be connected to.

    ``allow_private`` turns the check off (``FINSENT_ALLOW_PRIVATE_NETWORKS``).
    ``resolver`` and ``trusted`` exist for tests and for deployments that must
    reach one known internal mirror: ``trusted`` addresses pass even when not public.
    """

    allow_private: bool
    resolver: Resolver = system_resolver
    trusted: Collection[str] = field(default_factory=frozenset)

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``; :class:`RefusedAddress` if any is not public.

        A host with one public and one private address is refused outright:
        which one a client ends up using is up to the attacker.
        """
        host = host.strip("[]")
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        candidates = [host] if literal is not None else self.resolver(host, port)
        if not candidates:
            raise UnresolvableHost(f"{host!r} resolves to no address")
        if self.allow_private:
            return candidates
        trusted = {ipaddress.ip_address(a) for a in self.trusted}
        for candidate in candidates:
            address = ipaddress.ip_address(candidate.split("%", 1)[0])
            if address in trusted:
                continue
            reason = non_public_reason(address)
            if reason is not None:
                where = (
                    f"{address}"
                    if literal is not None
                    else f"{host!r} resolves to {address}, which"
                )
                raise RefusedAddress(
                    f"{where} is not public ({reason}); FINSENT_ALLOW_PRIVATE_NETWORKS is off"
                )
        return candidates


class _GuardedBackend(httpcore.SyncBackend):
    """Opens TCP connections only to addresses the guard accepted, trying each in turn."""

    def __init__(self, guard: AddressGuard) -> None:
        self.guard = guard

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in self.guard.addresses(host, port)[:4]:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error


def guarded_transport(guard: AddressGuard, *, max_connections: int) -> httpx.HTTPTransport:
    """An httpx transport whose every connection goes through ``guard``."""
    transport = httpx.HTTPTransport(retries=0)
    # httpx has no public hook for the network backend, so the connection pool is
    # rebuilt with the same settings plus the guarded backend.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=5.0,
        retries=0,
        network_backend=_GuardedBackend(guard),
    )
    return transport
