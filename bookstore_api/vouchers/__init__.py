"""Vouchers: discount codes staff manage and shoppers apply at checkout, never over-redeemed."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include(".services")
