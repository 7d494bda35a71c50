"""Creating users outside a request: the CLI and the local demo accounts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import transaction

from ..accounts.services import PasswordService, UserService
from ..infra.db import make_engine, make_session_factory


def ensure_user(settings: dict[str, Any], email: str, password: str, name: str, role: str) -> bool:
    """Create the user, or set its password and role if it exists. True when created."""
    engine = make_engine(settings, application_name="bookstore cli")
    factory = make_session_factory(engine)
    try:
        with transaction.manager:
            session = factory()
            users = UserService(session, PasswordService())
            user = users.by_email(email)
            if user is None:
                # made by whoever runs the shop, not by a stranger signing up: the address counts as verified
                users.create(email, password, name, role).email_verified_at = dt.datetime.now(dt.UTC)
                return True
            users.set_password(user, password)
            user.role = role
            return False
    finally:
        engine.dispose()
