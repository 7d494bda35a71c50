"""Bearer-token authentication and role-based authorization.

``Authorization: Bearer <token>`` is resolved through the token service (Redis
first, PostgreSQL on a miss). Permissions are role names: ``authenticated`` (any
signed-in user), ``staff`` (staff or admin) and ``admin``.
"""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.security import Allowed, Denied

from bookstore_core import proxies
from bookstore_core.accounts import grants

from ..accounts.identity import Identity


def client_address(request: Request) -> str:
    """The shopper's address: the peer, or, when the peer is a trusted proxy (the load
    balancer, the storefront), the right-most untrusted address in X-Forwarded-For.
    Entries a client wrote itself sit further left and are never believed."""
    return proxies.client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"), request.registry["bookstore.trusted_proxies"]
    )


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class TokenSecurityPolicy:
    def identity(self, request: Request) -> Identity | None:
        """Resolved once per request (Pyramid asks again on every ``request.identity``)."""
        environ = request.environ
        if "bookstore.identity" not in environ:
            token = bearer_token(request)
            identity = None
            if token is not None:
                from ..accounts.services import TokenService

                identity = request.find_service(TokenService).authenticate(token)
            environ["bookstore.identity"] = identity
        return environ["bookstore.identity"]

    def authenticated_userid(self, request: Request) -> int | None:
        identity = request.identity
        return identity.user_id if identity is not None else None

    def permits(self, request: Request, context: object, permission: str) -> Allowed | Denied:
        identity = request.identity
        if identity is None:
            return Denied("not authenticated")
        if grants(identity.role, permission):
            return Allowed(f"role {identity.role} grants {permission}")
        return Denied(f"role {identity.role} lacks {permission}")

    def remember(self, request: Request, userid: object, **kw: object) -> list:
        return []

    def forget(self, request: Request, **kw: object) -> list:
        return []


def includeme(config: Configurator) -> None:
    config.set_security_policy(TokenSecurityPolicy())
    trusted = str(config.get_settings().get("bookstore.trusted_proxies", ""))
    config.registry["bookstore.trusted_proxies"] = proxies.parse_networks(trusted)
