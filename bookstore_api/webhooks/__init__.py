"""Webhooks: staff-managed endpoints that receive signed events (orders, low stock).

Events are written in the transaction that caused them (:mod:`.events`); the
worker (:mod:`.delivery`, ``bookstore deliver-webhooks``) sends them later, so a
request never waits on a receiver. Where webhooks may go is :mod:`.addresses`;
signing and the encrypted secrets are :mod:`.signing`.
"""

from __future__ import annotations

from pyramid.config import Configurator

from bookstore_core.settings import as_bool

from .addresses import AddressPolicy
from .signing import secret_box


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    config.registry["webhook_secret_box"] = secret_box(settings)
    config.registry["webhook_address_policy"] = AddressPolicy(
        allow_loopback=as_bool(settings.get("webhooks.allow_loopback", False))
    )
    config.include(".services")
