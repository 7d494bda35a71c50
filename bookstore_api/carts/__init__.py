"""Carts: anonymous and signed-in shoppers' carts, merged at log-in, expired after 30 days."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include(".services")
