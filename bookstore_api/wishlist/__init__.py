"""The wishlist: books a customer wants, and the back-in-stock mail when one returns."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include(".services")
