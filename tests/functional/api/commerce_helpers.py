"""Shared checkout payloads for the commerce tests."""

from __future__ import annotations

import uuid

GOOD_CARD = {"card_number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123"}
DECLINED_CARD = {"card_number": "4000000000000002", "expiry": "12/34", "cvc": "123"}
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
