"""Checkout input beyond the spec (card checks, copies per book), normalisation, the order's public shape."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from ..exceptions import InvalidInput
from ..payments.services import Card, parse_card
from ..vouchers.services import normalize_code
from .models import Order

#: copies of one book an order may hold (the spec bounds each line; lines of one book add up)
MAX_COPIES = 99


@dataclass(frozen=True)
class Address:
    name: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str
    region: str | None = None


@dataclass(frozen=True)
class CheckoutRequest:
    cart_id: str | None
    items: tuple[tuple[int, int], ...]  # (book_id, quantity), merged by book
    address: Address | None  # None when the order ships to a saved address (``address_id``)
    card: Card
    address_id: int | None = None
    voucher_code: str | None = None

    def fingerprint(self) -> str:
        """A hash of what the request asks for; the card appears only as brand, last4 and expiry."""
        data = {
            "cart_id": self.cart_id,
            "items": self.items,
            "address": _address_key(self.address),
            "address_id": self.address_id,
            "card": [self.card.brand, self.card.last4, self.card.expiry_month, self.card.expiry_year],
        }
        if self.voucher_code is not None:
            data["voucher_code"] = self.voucher_code
        return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _address_key(address: Address | None) -> dict | None:
    """The address as the fingerprint holds it (without ``region`` when there is none, as before regions)."""
    if address is None:
        return None
    data = dict(address.__dict__)
    if data.get("region") is None:
        data.pop("region", None)
    return data


def _text(value: str) -> str:
    """One line with runs of white space made single (the spec has checked length and characters)."""
    return " ".join(value.split())


def _address(raw: dict[str, Any]) -> Address:
    line2 = raw.get("line2")
    region = raw.get("region")
    return Address(
        _text(raw["name"]),
        _text(raw["line1"]),
        _text(line2) or None if line2 is not None else None,
        _text(raw["city"]),
        _text(raw["postal_code"]),
        raw["country"].upper(),
        _text(region) or None if region is not None else None,
    )


def _merged_items(raw_items: list[dict[str, int]], fields: dict[str, str]) -> tuple[tuple[int, int], ...]:
    """``(book_id, quantity)`` with the lines of one book added up; at most 99 copies of a book."""
    items: dict[int, int] = {}
    for item in raw_items:
        items[item["book_id"]] = items.get(item["book_id"], 0) + item["quantity"]
    for book_id, quantity in items.items():
        if quantity > MAX_COPIES:
            fields["items"] = f"At most {MAX_COPIES} copies of book {book_id}."
    return tuple(sorted(items.items()))


def parse_checkout(body: dict[str, Any]) -> CheckoutRequest:
    """A checkout from a body the spec has checked; a 400 for what it cannot state (card checks, copies)."""
    fields: dict[str, str] = {}
    items = _merged_items(body.get("items") or [], fields)
    card, card_errors = parse_card(body["payment"])
    fields.update(card_errors)
    if fields:
        raise InvalidInput("Some checkout details are not valid.", fields)
    assert card is not None
    address = _address(body["shipping_address"]) if body.get("shipping_address") is not None else None
    voucher_code = body.get("voucher_code")
    voucher_code = normalize_code(voucher_code) if voucher_code is not None else None
    return CheckoutRequest(body.get("cart_id"), items, address, card, body.get("address_id"), voucher_code)


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
        "discount": f"{order.discount or 0:.2f}",
        "voucher_code": order.voucher_code,
        "total": f"{order.total:.2f}",
        "currency": order.currency,
        "shipping_address": {
            "name": order.ship_name,
            "line1": order.ship_line1,
            "line2": order.ship_line2,
            "city": order.ship_city,
            "region": order.ship_region,
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
