"""The address book: a customer's saved shipping addresses, one of them the default."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include(".services")
