"""Staff reports: sales by period, best-selling books and genres, the value and health of the stock."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include(".services")
