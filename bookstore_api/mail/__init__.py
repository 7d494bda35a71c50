"""Mail: the outbox model, the messages the shop sends, and the worker that sends them."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    """Nothing to wire per request: services write outbox rows, ``bookstore send-mail`` sends them."""
