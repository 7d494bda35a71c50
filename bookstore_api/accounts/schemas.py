"""Input rules and output shapes for accounts."""

from __future__ import annotations

import re
from typing import Any

from ..http.errors import invalid
from .models import User

EMAIL = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
MIN_PASSWORD = 10
MAX_PASSWORD = 1024


def parse_registration(body: dict[str, Any]) -> tuple[str, str, str]:
    fields: dict[str, str] = {}
    email = str(body.get("email", "")).strip()
    password = body.get("password", "")
    name = str(body.get("name", "")).strip()
    if not EMAIL.match(email) or len(email) > 254:
        fields["email"] = "Enter a valid email address."
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        fields["password"] = f"Use at least {MIN_PASSWORD} characters."
    elif len(password) > MAX_PASSWORD:
        fields["password"] = f"Use at most {MAX_PASSWORD} characters."
    if not name or len(name) > 200:
        fields["name"] = "Enter your name (1 to 200 characters)."
    if fields:
        raise invalid("Some fields are not valid.", fields)
    return email.lower(), password, name


def user_out(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role}
