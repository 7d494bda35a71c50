"""Roles, the permissions each grants, and the password policy (both apps).

Permissions are plain names a view asks for: ``authenticated`` (any signed-in
user), ``staff`` (staff or admin) and ``admin``. The API enforces them on every
call; the storefront uses the same table to decide which pages to show.
The password lengths are the ones ``openapi.yaml`` states for every password
field (a unit test holds the two together). The rest of the password policy is
here too, so the storefront can say what is wrong before it asks the API (which
applies the same rule and is the authority): no password that is all white
space, one character repeated, one of the 10,000 most common passwords (an
offline list shipped in ``data/``; see its licence file), or the account's
e-mail address or its local part (also with digits or symbols added at the end).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
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


COMMON_PASSWORDS_FILE = Path(__file__).with_name("data") / "common-passwords.txt"
#: digits, symbols and white space people add at the end of a word to pass a length rule
_DECORATION = re.compile(r"[\W\d_]+$")


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-cased."""
    return frozenset(line for line in COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").split("\n") if line)


def _variants(password: str) -> set[str]:
    """The password as a guesser would try it: lower case, then without what is added at the end."""
    plain = password.strip().lower()
    return {plain, _DECORATION.sub("", plain)} - {""}


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why ``password`` is not acceptable (for the account ``email`` when given), or None."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"Use at least {PASSWORD_MIN_LENGTH} characters."
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"Use at most {PASSWORD_MAX_LENGTH} characters."
    if not password.strip():
        return "Use something besides spaces."
    if len(set(password)) == 1:
        return "Use more than one character, repeated."
    variants = _variants(password)
    if email:
        address = email.strip().lower()
        local = address.partition("@")[0]
        if variants & ({address, local, _DECORATION.sub("", local)} - {""}):
            return "Do not use your email address as your password."
    if variants & common_passwords():
        return "This password is too common; choose one that is harder to guess."
    return None
