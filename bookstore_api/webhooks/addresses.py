"""Where webhooks may go: public http(s) addresses only (no SSRF into the shop's own network).

A URL is refused when it is not ``http``/``https``, carries credentials, or names a
host that resolves to an address that is not public: loopback, private (RFC 1918,
unique local IPv6), link-local (and with it the cloud metadata service at
169.254.169.254 / fd00:ec2::254), carrier-grade NAT (100.64.0.0/10), multicast,
reserved, unspecified, or an IPv6 address embedding one of those (IPv4-mapped,
6to4, Teredo, NAT64). Every address a name resolves to is checked, at creation
and again at each delivery, and the delivery connects to an address it checked
(never resolving the name a second time, so DNS rebinding gains nothing).

``webhooks.allow_loopback`` (development and tests only) lets 127.0.0.0/8 and ::1
through; everything else stays refused.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: cloud metadata services, named in refusals (each is also inside a refused range)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2", "192.0.0.192")
)
#: ranges refused whatever the ``ipaddress`` module of this Python thinks of them
NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
        "2001:db8::/32",
    )
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")

Resolver = Callable[[str, int], list[IPAddress]]


class RefusedURL(ValueError):
    """The URL may not receive webhooks; the message says why (safe to show to staff)."""


#: name lookups run here, so a slow resolver costs a request (or a delivery) at most RESOLVE_TIMEOUT
_LOOKUPS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")
RESOLVE_TIMEOUT = 3.0


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an address literal resolves to itself), within a few seconds."""
    lookup = _LOOKUPS.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout=RESOLVE_TIMEOUT)
    except FutureTimeout as exc:
        raise RefusedURL(f"The host name {host} did not resolve in time.") from exc
    except (OSError, UnicodeError) as exc:
        raise RefusedURL(f"The host name {host} does not resolve.") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise RefusedURL(f"The host name {host} does not resolve.")
    return addresses


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why webhooks may not go to ``address`` (None when they may)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_problem(embedded, allow_loopback=allow_loopback)
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if isinstance(address, ipaddress.IPv4Address) and address in CGNAT:
        return "a carrier-grade NAT address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global or any(address in network for network in NOT_PUBLIC):
        return "a reserved address"
    return None


@dataclass(frozen=True)
class Target:
    """A URL that passed the checks, and the addresses its host resolved to (all checked)."""

    url: str
    parts: SplitResult
    host: str
    port: int
    addresses: list[IPAddress]

    @property
    def https(self) -> bool:
        return self.parts.scheme == "https"

    @property
    def path(self) -> str:
        return (self.parts.path or "/") + (f"?{self.parts.query}" if self.parts.query else "")


def parse_url(url: str) -> tuple[SplitResult, str, int]:
    """The parts, host and port of a webhook URL; :class:`RefusedURL` if it is not one we send to."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedURL("The URL is not valid.") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise RefusedURL("Only http and https URLs can receive webhooks.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise RefusedURL("The URL must not carry a user name or password.")
    if parts.fragment or url.rstrip().endswith("#"):
        raise RefusedURL("The URL must not have a fragment (#…).")
    host = parts.hostname
    if not host:
        raise RefusedURL("The URL has no host.")
    scheme = parts.scheme.lower()
    return parts._replace(scheme=scheme), host, port or (443 if scheme == "https" else 80)


class AddressPolicy:
    """Checks webhook URLs: their form, then every address their host resolves to."""

    def __init__(self, *, allow_loopback: bool = False, resolver: Resolver = resolve):
        self.allow_loopback = allow_loopback
        self.resolver = resolver

    def check(self, url: str) -> Target:
        """The checked target of ``url``, or :class:`RefusedURL` saying why not."""
        parts, host, port = parse_url(url)
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            addresses = self.resolver(host, port)
        for address in addresses:
            problem = address_problem(address, allow_loopback=self.allow_loopback)
            if problem is not None:
                shown = host if str(address) == host else f"{host} ({address})"
                raise RefusedURL(f"Webhooks cannot be sent to {shown}: it is {problem}.")
        return Target(url, parts, host, port, addresses)
