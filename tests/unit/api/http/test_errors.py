"""Domain exceptions map to the documented status codes and error bodies."""

from __future__ import annotations

import orjson
import pytest
from pyramid.testing import DummyRequest

from bookstore_api.exceptions import (
    Conflict,
    Forbidden,
    IllegalTransition,
    InsufficientStock,
    InvalidInput,
    NotFound,
    OutOfStock,
    PaymentDeclined,
)
from bookstore_api.http.errors import domain_error_view


@pytest.mark.parametrize(
    ("exc", "status", "code", "details"),
    [
        (InvalidInput("Bad.", {"rating": "1 to 5"}), 400, "invalid_input", {"fields": {"rating": "1 to 5"}}),
        (InvalidInput("The cart is empty.", {"cart_id": "empty"}, code="cart_empty"), 400, "cart_empty", None),
        (PaymentDeclined("card_declined"), 402, "payment_declined", {"reason": "card_declined"}),
        (Forbidden(), 403, "forbidden", {}),
        (Forbidden("Buyers only.", code="not_a_buyer"), 403, "not_a_buyer", {}),
        (NotFound("order"), 404, "not_found", {}),
        (Conflict("email_taken", "Taken."), 409, "email_taken", {}),
        (OutOfStock("Sold out.", [{"book_id": 1}]), 409, "out_of_stock", {"books": [{"book_id": 1}]}),
        (InsufficientStock(3, 1, -2), 409, "insufficient_stock", {"book_id": 3, "stock_quantity": 1, "delta": -2}),
        (IllegalTransition("shipped", "cancelled"), 409, "illegal_state", {"status": "shipped"}),
    ],
)
def test_each_domain_error_has_its_status_and_body(exc, status, code, details):
    response = domain_error_view(exc, DummyRequest())
    body = orjson.loads(response.body)["error"]
    assert response.status_int == status
    assert body["code"] == code and body["message"] == exc.message
    if details is not None:
        assert body["details"] == details


def test_not_found_names_what_is_missing():
    assert NotFound("order").message == "The order was not found."
