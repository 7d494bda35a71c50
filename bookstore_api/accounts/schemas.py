"""Account input normalisation and output shapes (``openapi.yaml`` states the input rules)."""

from __future__ import annotations

from typing import Any

from .models import User


def parse_registration(body: dict[str, Any]) -> tuple[str, str, str]:
    """``(email, password, name)`` from a registration the spec has checked: trimmed, the email in lower case."""
    return body["email"].strip().lower(), body["password"], body["name"].strip()


def user_out(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "email_verified": user.email_verified_at is not None,
    }
