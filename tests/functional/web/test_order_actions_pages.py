"""The storefront shows what the API allows: the review form from ``can_review``, the cancel
and staff buttons from an order's ``actions``; it decides none of it itself."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from bookstore_api.accounts.models import User
from bookstore_api.orders.models import Order, OrderLine
from tests.helpers.clients import Client
from tests.helpers.commerce import checkout_body, new_key
from tests.helpers.factories import make_book

from .account_helpers import confirm_address
from .conftest import PASSWORD, add_to_cart, checkout, register, staff_member


def insert_orders(dbsession, user_id: int, books: list, status: str = "paid") -> list[int]:
    """One order per book for the user, written straight to the database (oldest first)."""
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "user_id": user_id,
            "status": status,
            "created_at": now,
            "updated_at": now,
            "subtotal": Decimal("10.00"),
            "shipping": Decimal("0.00"),
            "total": Decimal("10.00"),
            "currency": "USD",
            "ship_name": "Ada Reader",
            "ship_line1": "1 Library Lane",
            "ship_city": "Springfield",
            "ship_postal_code": "12345",
            "ship_country": "US",
            "payment_brand": "visa",
            "payment_last4": "4242",
            "payment_reference": f"test_ch_{index}",
        }
        for index, _ in enumerate(books)
    ]
    ids = list(dbsession.scalars(insert(Order).returning(Order.id), rows))
    dbsession.execute(
        insert(OrderLine),
        [
            {"order_id": order_id, "book_id": book.id, "title": book.title, "quantity": 1, "unit_price": book.price}
            for order_id, book in zip(ids, books, strict=True)
        ],
    )
    dbsession.flush()
    return ids


def place_orders(testapp, email: str, books: list) -> tuple[Client, list[int]]:
    """Orders of the shopper ``email`` (signed up on the storefront) placed through the API, one per book."""
    token = Client(testapp).post("/auth/tokens", {"email": email, "password": PASSWORD}).json["token"]
    shopper = Client(testapp, token)
    return shopper, [
        shopper.post("/orders", checkout_body([(book.id, 1)]), headers=new_key()).json["id"] for book in books
    ]


def user_id(dbsession, email: str) -> int:
    return dbsession.scalar(select(User.id).where(User.email == email.lower()))


def test_the_review_form_follows_can_review(web, book, dbsession):
    confirm_address(web, dbsession, register(web))  # reviews need a confirmed address
    assert web.get(f"/books/{book.id}").html.find(id="review-form") is None
    add_to_cart(web, book.id, 1)
    checkout(web).submit()
    assert web.get(f"/books/{book.id}").html.find(id="review-form") is not None


@pytest.mark.needs_db  # orders written straight to the database
def test_a_shopper_with_more_than_100_orders_may_review_a_book_from_the_first(web, dbsession, book):
    email = register(web)
    confirm_address(web, dbsession, email)
    other = make_book(dbsession, title="Another Story", stock=500)
    # the book is in the oldest order; 120 newer orders hold another book
    insert_orders(dbsession, user_id(dbsession, email), [book] + [other] * 120)

    page = web.get(f"/books/{book.id}")

    assert page.html.find(id="review-form") is not None


def test_the_review_form_is_gone_for_a_shopper_who_did_not_buy(web, testapp, dbsession, book):
    email = register(web)
    confirm_address(web, dbsession, email)
    other = make_book(dbsession, title="Another Story", stock=500)
    place_orders(testapp, email, [other] * 3)
    assert web.get(f"/books/{book.id}").html.find(id="review-form") is None
    assert web.get(f"/books/{other.id}").html.find(id="review-form") is not None


def cancel_forms(page) -> list:
    return [form for form in page.forms.values() if form.action.endswith("/cancel")]


def test_the_cancel_button_follows_the_orders_actions(web, testapp, staff, book):
    email = register(web)
    shopper, (paid, shipped, delivered, cancelled) = place_orders(testapp, email, [book] * 4)
    staff.post(f"/orders/{shipped}/ship", status=200)
    staff.post(f"/orders/{delivered}/ship", status=200)
    staff.post(f"/orders/{delivered}/deliver", status=200)
    shopper.post(f"/orders/{cancelled}/cancel", status=200)

    assert len(cancel_forms(web.get(f"/orders/{paid}"))) == 1
    for order_id in (shipped, delivered, cancelled):
        assert cancel_forms(web.get(f"/orders/{order_id}")) == []


@pytest.mark.needs_db  # orders written straight to the database
def test_an_old_order_of_a_busy_shopper_can_still_be_cancelled(web, dbsession, book):
    email = register(web)
    first, *_ = insert_orders(dbsession, user_id(dbsession, email), [book] * 105)
    assert len(cancel_forms(web.get(f"/orders/{first}"))) == 1


def test_staff_buttons_follow_the_orders_actions(web, testapp, staff, dbsession, api_app, book):
    shopper = register(web)
    _, (paid, shipped, delivered) = place_orders(testapp, shopper, [book] * 3)
    staff.post(f"/orders/{shipped}/ship", status=200)
    staff.post(f"/orders/{delivered}/ship", status=200)
    staff.post(f"/orders/{delivered}/deliver", status=200)
    web.reset()
    staff_member(dbsession, api_app, web)

    def buttons(order_id: int) -> list[str]:
        page = web.get(f"/staff/orders/{order_id}")
        return sorted(form.action.rsplit("/", 1)[-1] for form in page.forms.values() if "/staff/orders/" in form.action)

    assert buttons(paid) == ["ship"]
    assert buttons(shipped) == ["deliver"]
    assert buttons(delivered) == []
