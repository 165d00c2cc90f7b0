"""Feeds stay outside the house: a feed URL may only reach public addresses.

Feed URLs come from staff, but the poller runs inside the network, next to the
database, the broker and the cloud metadata service. Unless the operator allows
it (``ALERTS_FEEDS_ALLOW_PRIVATE``), a feed whose host resolves to a loopback,
private, link-local, multicast, reserved or unspecified address (or an IPv6
form embedding one: IPv4-mapped, 6to4, NAT64, Teredo) is refused, when it is
added and on every request of every poll, redirects included.

The check is made on the addresses ``getaddrinfo`` returns, so numeric tricks
(``0x7f000001``, ``2130706433``, ``017700000001``, ``127.1``) are caught as the
addresses they are; and the transport connects to the very address it checked
(the Host header and TLS server name stay the feed's), so a name that resolves
to a public address for the check and to an internal one a moment later (DNS
rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
HINT = "set ALERTS_FEEDS_ALLOW_PRIVATE=true to allow internal feeds"


class AddressRefused(httpx.TransportError):
    """The feed's host is, or resolves to, an address the policy does not allow."""


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses a feed may be fetched from."""

    allow_private: bool = False
    # Exact (address, port) pairs allowed although not public: one known internal
    # server rather than the whole network.
    allowed: frozenset[tuple[str, int]] = frozenset()

    def permits(self, ip: IPAddress, port: int) -> bool:
        return self.allow_private or is_public(ip) or (str(ip), port) in self.allowed


PUBLIC_ONLY = AddressPolicy()  # the default: nothing inside the house


def is_public(ip: IPAddress) -> bool:
    """True for an address on the public internet, and nothing that leads back inside."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded:
            return all(is_public(v4) for v4 in embedded)
        if ip.is_site_local:
            return False
    # is_global alone lets through multicast (224.0.1.0/24) and some reserved space.
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_reserved
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_private
    )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to (mapped, 6to4, NAT64, Teredo)."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip in _NAT64:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.teredo is not None:
        return list(ip.teredo)
    return []


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"cannot resolve host {host[:100]!r}: {exc}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"); the address is before it.
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise AddressRefused(f"cannot resolve host {host[:100]!r}")
    return addresses


def checked_addresses(host: str, port: int, policy: AddressPolicy) -> list[IPAddress]:
    """The addresses of ``host``, refused if ANY of them is not allowed.

    One internal address among public ones is enough to refuse: the connection
    could go to any of them.
    """
    addresses = resolve(host, port)
    for ip in addresses:
        if not policy.permits(ip, port):
            shown = host[:100] if host == str(ip) else f"{host[:100]} resolves to {ip}, which"
            raise AddressRefused(f"{shown} is not a public address ({HINT})")
    return addresses


def check_url(url: str, policy: AddressPolicy) -> None:
    """Refuse a feed URL whose host is not allowed now (AddressRefused)."""
    if policy.allow_private:
        return
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise AddressRefused(f"not a usable URL: {exc}") from exc
    checked_addresses(_host(parsed), parsed.port or DEFAULT_PORTS[parsed.scheme], policy)


def _host(url: httpx.URL) -> str:
    # The ASCII (IDNA) form: what DNS and the TLS server name use.
    return url.raw_host.decode("ascii")


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that connects only to addresses the policy allows.

    Each request (the client sends every redirect hop through here) is resolved,
    checked, and sent to the checked address with the original Host header and
    TLS server name. One pool per origin name, so a TLS connection made for one
    name is never reused for another name on the same address.
    """

    def __init__(self, policy: AddressPolicy, verify: ssl.SSLContext | bool = True) -> None:
        self.policy = policy
        self._verify = verify  # certificates are checked against the feed's name, not the IP
        self._pools: dict[tuple[str, str, int], httpx.HTTPTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host, port = _host(url), url.port or DEFAULT_PORTS.get(url.scheme, 0)
        pool = self._pool(url.scheme, host, port)
        if self.policy.allow_private:
            return pool.handle_request(request)
        addresses = checked_addresses(host, port, self.policy)
        for position, ip in enumerate(addresses, start=1):
            pinned = httpx.Request(
                request.method,
                url.copy_with(host=str(ip)),
                headers=request.headers,  # Host: still the feed's name
                stream=request.stream,
                extensions={**request.extensions, "sni_hostname": host},
            )
            try:
                return pool.handle_request(pinned)
            except httpx.ConnectError:
                if position == len(addresses):
                    raise
        raise AssertionError("unreachable: resolve() returns at least one address")

    def _pool(self, scheme: str, host: str, port: int) -> httpx.HTTPTransport:
        key = (scheme, host, port)
        if key not in self._pools:
            self._pools[key] = httpx.HTTPTransport(verify=self._verify)
        return self._pools[key]

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
