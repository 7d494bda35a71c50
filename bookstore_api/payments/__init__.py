"""Payments: the provider interface and the built-in test provider (cards as the well-known test numbers)."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include(".services")
