"""Mail: the outbox model, the messages the shop sends, and the worker that sends them."""

from __future__ import annotations

from pyramid.config import Configurator

from .messages import MailComposer


def includeme(config: Configurator) -> None:
    """The composer every service that writes mail uses (``registry["mail"]``); ``bookstore send-mail`` sends."""
    settings = config.get_settings()
    config.registry["mail"] = MailComposer(
        str(settings["bookstore.storefront_url"]), str(settings.get("bookstore.shop_name", "Bookstore"))
    )
