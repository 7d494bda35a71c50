"""Who the client is behind proxies we trust, and redirects that never name a host.

* :func:`client_address`: the peer, or, when the peer is a trusted proxy (the load
  balancer; for the API also the storefront), the right-most address in
  ``X-Forwarded-For`` that is not a trusted proxy. Entries further left were
  written by the client itself and are never believed, so nobody can choose the
  address a limit counts them under.
* :func:`relative_location`: a redirect's ``Location`` as the app set it (a path),
  with anything that is not printable ASCII percent-encoded. WebOb would otherwise
  make it absolute from the request's ``Host`` header, which the client chose.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import quote

from webob import Response

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: what a Location may hold as it is: printable ASCII except space (RFC 3986 characters and %)
_LOCATION_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


def parse_networks(text: str) -> list[Network]:
    """``"10.0.0.0/16, ::1/128"`` -> networks (a bare address is a /32 or /128)."""
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in str(text or "").split(",") if entry.strip()]


def is_trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted: list[Network]) -> str:
    """The client's address, believing ``X-Forwarded-For`` only as far as trusted proxies wrote it."""
    peer = peer or "unknown"
    if not is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop if _is_address(hop) else peer
    return hops[0] if hops and _is_address(hops[0]) else peer


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class _KeptLocation(Response):
    """A response whose Location header goes out exactly as set (WebOb would add scheme and Host)."""

    def _abs_headerlist(self, environ):
        return list(self._headerlist)


def relative_location(response: Response) -> Response:
    """The response with its Location (if any) kept relative and free of control characters."""
    location = response.headers.get("Location")
    if location is None:
        return response
    kept = _KeptLocation(
        status=response.status,
        headerlist=list(response.headerlist),
        app_iter=response.app_iter,
        conditional_response=response.conditional_response,
    )
    kept.headers["Location"] = quote(location, safe=_LOCATION_SAFE)
    return kept
