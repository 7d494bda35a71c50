"""Catalogue: books, authors, genres, search, and the Redis read-through cache of catalogue reads."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include(".cache")
    config.include(".services")
