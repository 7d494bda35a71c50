"""Creating users outside a request: the CLI and the local demo accounts."""

from __future__ import annotations

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
                users.create(email, password, name, role)
                return True
            users.set_password(user, password)
            user.role = role
            return False
    finally:
        engine.dispose()
