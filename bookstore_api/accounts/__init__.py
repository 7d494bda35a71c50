"""Accounts: users, roles, argon2 passwords, bearer tokens and log-in throttling."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include(".services")
