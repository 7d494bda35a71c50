"""Accounts: users, roles, argon2 passwords, bearer tokens, log-in throttling, mailed one-time links
(password reset, e-mail verification), the profile and the account's personal data."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include(".services")
    config.include(".recovery")
