"""Catalogue import and export: books in and out as CSV, upserted by ISBN in batches."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include(".services")
