"""Checkout input rules and the order's public shape."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from ..http.errors import invalid
from ..payments.services import Card, parse_card
from .models import Order

MAX_LINES = 100
COUNTRY_CODES_HINT = "a two-letter country code such as US or DE"


@dataclass(frozen=True)
class Address:
    name: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str


@dataclass(frozen=True)
class CheckoutRequest:
    cart_id: str | None
    items: tuple[tuple[int, int], ...]  # (book_id, quantity), merged by book
    address: Address
    card: Card

    def fingerprint(self) -> str:
        """A hash of what the request asks for; the card appears only as brand, last4 and expiry."""
        data = {
            "cart_id": self.cart_id,
            "items": self.items,
            "address": self.address.__dict__,
            "card": [self.card.brand, self.card.last4, self.card.expiry_month, self.card.expiry_year],
        }
        return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value if 0 < len(value) <= limit else None


def parse_checkout(body: dict[str, Any]) -> CheckoutRequest:
    fields: dict[str, str] = {}
    cart_id = body.get("cart_id")
    raw_items = body.get("items")
    items: dict[int, int] = {}
    if (cart_id is None) == (raw_items is None):
        fields["cart_id"] = "Send either cart_id or items."
    elif cart_id is not None:
        if not isinstance(cart_id, str) or not 1 <= len(cart_id) <= 64:
            fields["cart_id"] = "Not a cart id."
    else:
        if not isinstance(raw_items, list) or not raw_items or len(raw_items) > MAX_LINES:
            fields["items"] = f"List 1 to {MAX_LINES} items."
        else:
            for index, item in enumerate(raw_items):
                book_id = item.get("book_id") if isinstance(item, dict) else None
                quantity = item.get("quantity") if isinstance(item, dict) else None
                if isinstance(book_id, bool) or not isinstance(book_id, int) or book_id < 1:
                    fields[f"items.{index}.book_id"] = "A book id."
                    continue
                if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 99:
                    fields[f"items.{index}.quantity"] = "A quantity from 1 to 99."
                    continue
                items[book_id] = items.get(book_id, 0) + quantity
            for book_id, quantity in items.items():
                if quantity > 99:
                    fields["items"] = f"At most 99 copies of book {book_id}."

    raw_address = body.get("shipping_address")
    address = None
    if not isinstance(raw_address, dict):
        fields["shipping_address"] = "A shipping address is required."
    else:
        values = {
            "name": _text(raw_address.get("name"), 200),
            "line1": _text(raw_address.get("line1"), 200),
            "city": _text(raw_address.get("city"), 100),
            "postal_code": _text(raw_address.get("postal_code"), 20),
        }
        for key, value in values.items():
            if value is None:
                fields[f"shipping_address.{key}"] = "Required (up to 200 characters)."
        line2 = raw_address.get("line2")
        if line2 not in (None, "") and _text(line2, 200) is None:
            fields["shipping_address.line2"] = "At most 200 characters."
        country = raw_address.get("country")
        if not isinstance(country, str) or len(country) != 2 or not country.isalpha() or not country.isascii():
            fields["shipping_address.country"] = f"Use {COUNTRY_CODES_HINT}."
        if not any(key.startswith("shipping_address") for key in fields):
            address = Address(
                values["name"],
                values["line1"],
                _text(line2, 200),
                values["city"],
                values["postal_code"],
                country.upper(),
            )

    card = None
    payment = body.get("payment")
    if not isinstance(payment, dict):
        fields["payment"] = "Card details are required."
    else:
        card, card_errors = parse_card(payment)
        fields.update(card_errors)
    if fields:
        raise invalid("Some checkout details are not valid.", fields)
    assert address is not None and card is not None
    return CheckoutRequest(cart_id, tuple(sorted(items.items())), address, card)


def order_out(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "status": order.status,
        "lines": [
            {
                "book_id": line.book_id,
                "title": line.title,
                "quantity": line.quantity,
                "unit_price": f"{line.unit_price:.2f}",
                "line_total": f"{line.unit_price * line.quantity:.2f}",
            }
            for line in order.lines
        ],
        "subtotal": f"{order.subtotal:.2f}",
        "shipping": f"{order.shipping:.2f}",
        "total": f"{order.total:.2f}",
        "currency": order.currency,
        "shipping_address": {
            "name": order.ship_name,
            "line1": order.ship_line1,
            "line2": order.ship_line2,
            "city": order.ship_city,
            "postal_code": order.ship_postal_code,
            "country": order.ship_country,
        },
        "payment": {"brand": order.payment_brand, "last4": order.payment_last4},
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
        "shipped_at": order.shipped_at.isoformat() if order.shipped_at else None,
        "delivered_at": order.delivered_at.isoformat() if order.delivered_at else None,
        "cancelled_at": order.cancelled_at.isoformat() if order.cancelled_at else None,
    }
