"""Checkout input beyond the spec: copies per book, card checks, normalisation."""

import datetime as dt

import pytest

from bookstore_api.exceptions import InvalidInput
from bookstore_api.orders.schemas import parse_checkout

NEXT_YEAR = dt.date.today().year + 1
ADDRESS = {
    "name": " Ann   Reader ",
    "line1": "1 Main St",
    "line2": "",
    "city": "Springfield",
    "postal_code": "12345",
    "country": "us",
}
CARD = {"card_number": "4242 4242 4242 4242", "expiry": f"12/{NEXT_YEAR % 100:02d}", "cvc": "123"}


def test_lines_of_one_book_add_up_and_the_address_is_tidied():
    checkout = parse_checkout(
        {
            "items": [{"book_id": 7, "quantity": 2}, {"book_id": 3, "quantity": 1}, {"book_id": 7, "quantity": 3}],
            "shipping_address": ADDRESS,
            "payment": CARD,
        }
    )
    assert checkout.items == ((3, 1), (7, 5))
    assert (checkout.address.name, checkout.address.line2, checkout.address.country) == ("Ann Reader", None, "US")
    assert (checkout.card.brand, checkout.card.last4, checkout.card.expiry_year) == ("visa", "4242", NEXT_YEAR)


def test_more_than_99_copies_of_a_book_in_all_is_a_400():
    body = {
        "items": [{"book_id": 7, "quantity": 60}, {"book_id": 7, "quantity": 40}],
        "shipping_address": ADDRESS,
        "payment": CARD,
    }
    with pytest.raises(InvalidInput) as raised:
        parse_checkout(body)
    assert list(raised.value.details["fields"]) == ["items"]


@pytest.mark.parametrize(
    ("card", "field"),
    [
        ({"card_number": "4242424242424241"}, "payment.card_number"),
        ({"expiry": f"01/{(dt.date.today().year - 1) % 100:02d}"}, "payment.expiry"),
    ],
)
def test_card_checks_name_the_field(card, field):
    with pytest.raises(InvalidInput) as raised:
        parse_checkout({"cart_id": "abc", "shipping_address": ADDRESS, "payment": {**CARD, **card}})
    assert raised.value.code == "invalid_input" and list(raised.value.details["fields"]) == [field]


def test_the_fingerprint_follows_the_request_not_the_card_number():
    body = {"cart_id": "abc", "shipping_address": ADDRESS, "payment": CARD}
    same = parse_checkout({**body, "payment": {**CARD, "card_number": "4242-4242-4242-4242"}})
    other = parse_checkout({**body, "cart_id": "abd"})
    assert parse_checkout(body).fingerprint() == same.fingerprint() != other.fingerprint()
