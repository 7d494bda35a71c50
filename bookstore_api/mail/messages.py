"""Every mail the shop sends, rendered from ``templates/`` and queued in the outbox.

One rendering function, :meth:`MailComposer.render`, turns a kind of message and its
context into a subject, a plain-text body and an HTML body (Jinja2; the HTML with
autoescaping, so names, titles and addresses a customer typed are escaped). Each
kind is a pair of templates, ``<kind>.txt`` (which also sets ``subject``) and
``<kind>.html``, on the shared ``base.txt`` / ``base.html`` (the shop's look, with
inline styles as mail clients need). :meth:`MailComposer.queue` writes the outbox
row in the caller's transaction; ``bookstore send-mail`` sends it as
multipart/alternative.

Links point at the storefront (``bookstore.storefront_url``): ``/orders/{id}``,
``/reset-password/{token}``, ``/verify-email/{token}``, ``/books/{id}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import insert
from sqlalchemy.orm import Session

from .models import OutboxMessage

TEMPLATES = Path(__file__).with_name("templates")
#: addresses that never receive mail (closed accounts get one of these)
UNDELIVERABLE_DOMAIN = "deleted.invalid"


def _money(value: Any) -> str:
    return f"{Decimal(value):.2f}"


def _environment() -> jinja2.Environment:
    """``*.html`` templates are autoescaped; ``*.txt`` ones are plain text and are not."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )
    env.filters["money"] = _money
    return env


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def deliverable(address: str) -> bool:
    return not address.lower().endswith("@" + UNDELIVERABLE_DOMAIN)


class MailComposer:
    """Renders the shop's mails and queues them in the outbox."""

    def __init__(self, storefront_url: str, shop_name: str = "Bookstore"):
        self.storefront_url = storefront_url.rstrip("/")
        self.shop_name = shop_name
        self._templates = _environment()

    def link(self, path: str) -> str:
        """An absolute link to a storefront page (``path`` starts with ``/``)."""
        return self.storefront_url + path

    def render(self, kind: str, **context: Any) -> RenderedMail:
        context = {"shop_name": self.shop_name, "shop_url": self.storefront_url, **context}
        module = self._templates.get_template(f"{kind}.txt").make_module(context)
        subject = " ".join(str(module.subject).split())
        text = str(module).strip() + "\n"
        html = self._templates.get_template(f"{kind}.html").render(context, subject=subject)
        return RenderedMail(subject, text, html)

    def row(self, kind: str, recipient: str, payload: dict | None = None, **context: Any) -> dict[str, Any]:
        """The outbox row for one mail (for a plain INSERT of one or many)."""
        mail = self.render(kind, **context)
        return {
            "kind": kind,
            "recipient": recipient,
            "subject": mail.subject[:300],
            "body": mail.text,
            "html_body": mail.html,
            "payload": payload or {},
        }

    def queue(
        self, db: Session, kind: str, recipient: str, payload: dict | None = None, **context: Any
    ) -> dict[str, Any] | None:
        """Write one mail to the outbox in the caller's transaction (never to a closed account's address)."""
        if not deliverable(recipient):
            return None
        row = self.row(kind, recipient, payload, **context)
        db.execute(insert(OutboxMessage), [row])  # an ORM insert: the transaction knows it wrote
        return row

    # -- what the orders' mails share -------------------------------------------------

    def order_context(self, order: Any, name: str) -> dict[str, Any]:
        address = [
            part
            for part in (
                order.ship_name,
                order.ship_line1,
                order.ship_line2,
                " ".join(p for p in (order.ship_postal_code, order.ship_city) if p),
                order.ship_region,
                order.ship_country,
            )
            if part
        ]
        return {"order": order, "name": name, "order_url": self.link(f"/orders/{order.id}"), "address": address}
