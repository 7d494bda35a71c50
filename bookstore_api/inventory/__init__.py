"""Inventory: every change of a book's stock, through one service, recorded in the stock ledger."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include(".services")
