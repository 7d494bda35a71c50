"""Checkout payloads: cards (expiry dates computed from today), an address, Idempotency-Keys."""

from __future__ import annotations

import datetime as dt
import uuid


def expiry(years_from_now: int) -> str:
    """A card expiry ``MM/YY`` this many years from today (negative: in the past): never a time bomb."""
    today = dt.date.today()
    return f"{today.month:02d}/{(today.year + years_from_now) % 100:02d}"


FUTURE_EXPIRY = expiry(4)
PAST_EXPIRY = expiry(-2)
GOOD_CARD = {"card_number": "4242 4242 4242 4242", "expiry": FUTURE_EXPIRY, "cvc": "123"}
DECLINED_CARD = {"card_number": "4000000000000002", "expiry": FUTURE_EXPIRY, "cvc": "123"}
ADDRESS = {"name": "Ada Shopper", "line1": "1 Book Lane", "city": "Lisbon", "postal_code": "1100-001", "country": "PT"}


def checkout_body(items=None, cart_id=None, card=None, address=None) -> dict:
    body = {"shipping_address": address or ADDRESS, "payment": card or GOOD_CARD}
    if cart_id is not None:
        body["cart_id"] = cart_id
    else:
        body["items"] = [{"book_id": book_id, "quantity": quantity} for book_id, quantity in items]
    return body


def new_key() -> dict:
    return {"Idempotency-Key": uuid.uuid4().hex}
