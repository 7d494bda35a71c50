"""Bearer-token authentication and role-based authorization.

``Authorization: Bearer <token>`` is resolved through the token service (Redis
first, PostgreSQL on a miss). Permissions are role names: ``authenticated`` (any
signed-in user), ``staff`` (staff or admin) and ``admin``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.security import Allowed, Denied


@dataclass(frozen=True)
class Identity:
    user_id: int
    email: str
    name: str
    role: str
    token_hash: bytes

    @property
    def is_staff(self) -> bool:
        return self.role in ("staff", "admin")


ROLE_GRANTS = {
    "customer": {"authenticated"},
    "staff": {"authenticated", "staff"},
    "admin": {"authenticated", "staff", "admin"},
}


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class TokenSecurityPolicy:
    def identity(self, request: Request) -> Identity | None:
        token = bearer_token(request)
        if token is None:
            return None
        from .accounts.services import TokenService

        return request.find_service(TokenService).authenticate(token)

    def authenticated_userid(self, request: Request) -> int | None:
        identity = request.identity
        return identity.user_id if identity is not None else None

    def permits(self, request: Request, context: object, permission: str) -> Allowed | Denied:
        identity = request.identity
        if identity is None:
            return Denied("not authenticated")
        if permission in ROLE_GRANTS.get(identity.role, set()):
            return Allowed(f"role {identity.role} grants {permission}")
        return Denied(f"role {identity.role} lacks {permission}")

    def remember(self, request: Request, userid: object, **kw: object) -> list:
        return []

    def forget(self, request: Request, **kw: object) -> list:
        return []


def includeme(config: Configurator) -> None:
    config.set_security_policy(TokenSecurityPolicy())
