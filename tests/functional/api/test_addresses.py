"""The address book: one default, a cap, other people's addresses out of reach, orders that copy."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from bookstore_api.addresses.models import SavedAddress
from bookstore_api.addresses.services import MAX_ADDRESSES
from tests.helpers.clients import register_and_login
from tests.helpers.commerce import GOOD_CARD, new_key
from tests.helpers.factories import make_book

HOME = {"name": "Ada Home", "line1": "1 Book Lane", "city": "Lisbon", "postal_code": "1100-001", "country": "pt"}
WORK = {
    "name": "Ada Work",
    "line1": "2 Office Road",
    "line2": "Floor 3",
    "city": "Porto",
    "region": "Norte",
    "postal_code": "4000-001",
    "country": "PT",
}


def test_saved_addresses_with_one_default(customer):
    home = customer.post("/me/addresses", HOME).json
    assert home["is_default"] is True and home["country"] == "PT" and home["line2"] is None and home["region"] is None
    work = customer.post("/me/addresses", {**WORK, "is_default": True}).json
    listing = customer.get("/me/addresses").json
    assert [(a["id"], a["is_default"]) for a in listing["items"]] == [(work["id"], True), (home["id"], False)]
    assert listing["total"] == 2

    changed = customer.patch(f"/me/addresses/{home['id']}", {"is_default": True, "city": "Lisboa"}).json
    assert (changed["is_default"], changed["city"]) == (True, "Lisboa")
    assert [a["is_default"] for a in customer.get("/me/addresses").json["items"]] == [True, False]
    customer.patch(f"/me/addresses/{home['id']}", {"is_default": False})
    assert not any(a["is_default"] for a in customer.get("/me/addresses").json["items"])

    customer.delete(f"/me/addresses/{work['id']}")
    assert [a["id"] for a in customer.get("/me/addresses").json["items"]] == [home["id"]]
    customer.delete(f"/me/addresses/{work['id']}", status=404)


@pytest.mark.parametrize(
    "body",
    [
        {**HOME, "country": "Portugal"},
        {**HOME, "name": ""},
        {**HOME, "line1": "x" * 201},
        {**HOME, "city": "Lis\nbon"},
        {**HOME, "extra": 1},
        {k: v for k, v in HOME.items() if k != "postal_code"},
    ],
)
def test_bad_addresses_are_400(customer, body):
    customer.post("/me/addresses", body, status=400)


def test_another_customers_address_is_404(testapp, customer, dbsession):
    theirs = customer.post("/me/addresses", HOME).json
    other, _ = register_and_login(testapp)
    other.patch(f"/me/addresses/{theirs['id']}", {"city": "Elsewhere"}, status=404)
    other.delete(f"/me/addresses/{theirs['id']}", status=404)
    assert other.get("/me/addresses").json["items"] == []
    book = make_book(dbsession, title="Shipped Elsewhere", stock=2)
    body = {"items": [{"book_id": book.id, "quantity": 1}], "address_id": theirs["id"], "payment": GOOD_CARD}
    assert other.post("/orders", body, headers=new_key(), status=404).json["error"]["code"] == "not_found"
    assert other.get(f"/books/{book.id}").json["stock_quantity"] == 2


def test_an_account_keeps_a_bounded_number_of_addresses(customer):
    for n in range(MAX_ADDRESSES):
        customer.post("/me/addresses", {**HOME, "line1": f"{n} Book Lane"})
    full = customer.post("/me/addresses", HOME, status=409)
    assert full.json["error"]["code"] == "too_many_addresses"
    assert customer.get("/me/addresses", per_page=100).json["total"] == MAX_ADDRESSES


def test_an_order_keeps_its_own_copy_of_a_saved_address(customer, dbsession):
    book = make_book(dbsession, title="Copied Address", stock=2)
    work = customer.post("/me/addresses", WORK).json
    body = {"items": [{"book_id": book.id, "quantity": 1}], "address_id": work["id"], "payment": GOOD_CARD}
    order = customer.post("/orders", body, headers=new_key(), status=201).json
    expected = {k: WORK[k] for k in ("name", "line1", "line2", "city", "region", "postal_code", "country")}
    assert order["shipping_address"] == expected

    customer.patch(f"/me/addresses/{work['id']}", {"line1": "99 New Street"})
    customer.delete(f"/me/addresses/{work['id']}")
    assert customer.get(f"/orders/{order['id']}").json["shipping_address"] == expected


def test_an_order_needs_exactly_one_way_to_say_where_it_goes(customer, dbsession):
    book = make_book(dbsession, title="Nowhere", stock=2)
    home = customer.post("/me/addresses", HOME).json
    items = [{"book_id": book.id, "quantity": 1}]
    customer.post("/orders", {"items": items, "payment": GOOD_CARD}, headers=new_key(), status=400)
    both = {"items": items, "payment": GOOD_CARD, "address_id": home["id"], "shipping_address": HOME}
    customer.post("/orders", both, headers=new_key(), status=400)


@pytest.mark.needs_db
def test_the_database_holds_one_default_per_customer(customer, dbsession):
    first = customer.post("/me/addresses", HOME).json
    user_id = dbsession.get(SavedAddress, first["id"]).user_id
    fields = {k: v for k, v in HOME.items()} | {"country": "PT"}
    with pytest.raises(IntegrityError), dbsession.begin_nested():
        dbsession.add(SavedAddress(user_id=user_id, is_default=True, **fields))
        dbsession.flush()
