"""Orders: checkout in one transaction, idempotency keys, and the order lifecycle."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include(".services")
