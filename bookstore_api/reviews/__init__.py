"""Reviews: one per buyer and book, with the book's rating kept in the same transaction."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include(".services")
