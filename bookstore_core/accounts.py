"""Roles, the permissions each grants, and the password policy (both apps).

Permissions are plain names a view asks for: ``authenticated`` (any signed-in
user), ``staff`` (staff or admin) and ``admin``. The API enforces them on every
call; the storefront uses the same table to decide which pages to show.
The password lengths are the ones ``openapi.yaml`` states for every password
field (a unit test holds the two together).
"""

from __future__ import annotations

from types import MappingProxyType

ROLES: tuple[str, ...] = ("customer", "staff", "admin")
STAFF_ROLES: frozenset[str] = frozenset({"staff", "admin"})

#: role -> the permissions it grants
ROLE_GRANTS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "customer": frozenset({"authenticated"}),
        "staff": frozenset({"authenticated", "staff"}),
        "admin": frozenset({"authenticated", "staff", "admin"}),
    }
)

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 1024


def grants(role: str | None, permission: str) -> bool:
    """Whether a user of ``role`` has ``permission`` (unknown roles have none)."""
    return role is not None and permission in ROLE_GRANTS.get(role, frozenset())


def is_staff_role(role: str | None) -> bool:
    return role in STAFF_ROLES


def password_problem(password: str) -> str | None:
    """Why ``password`` is not acceptable, or None."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"Use at least {PASSWORD_MIN_LENGTH} characters."
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"Use at most {PASSWORD_MAX_LENGTH} characters."
    return None
