"""Carts: anonymous and owned, quantities, subtotal, merge and privacy."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from bookstore_api.carts.models import Cart
from tests.helpers.clients import Client, register_and_login
from tests.helpers.factories import make_book


@pytest.fixture
def books(dbsession):
    return [
        make_book(dbsession, title=f"Cart Book {i}", price=price, stock=5) for i, price in enumerate(["9.99", "20.00"])
    ]


def test_anonymous_cart_lifecycle(anon, books):
    cart = anon.post("/carts").json
    assert cart["items"] == [] and cart["subtotal"] == "0.00" and cart["currency"] == "USD"
    assert len(cart["id"]) >= 32  # unguessable
    cart = anon.put(f"/carts/{cart['id']}/items/{books[0].id}", {"quantity": 3}).json
    cart = anon.put(f"/carts/{cart['id']}/items/{books[1].id}", {"quantity": 1}).json
    assert cart["subtotal"] == "49.97"  # 3 x 9.99 + 20.00, exact decimals
    assert cart["item_count"] == 4
    cart = anon.put(f"/carts/{cart['id']}/items/{books[0].id}", {"quantity": 1}).json
    assert cart["subtotal"] == "29.99"
    cart = anon.delete(f"/carts/{cart['id']}/items/{books[1].id}", status=200).json
    assert [item["book_id"] for item in cart["items"]] == [books[0].id]
    assert anon.get(f"/carts/{cart['id']}").json == cart


@pytest.mark.parametrize("quantity", [0, 100, -1, "2", 1.5, None])
def test_quantities_outside_1_to_99_are_400(anon, books, quantity):
    cart = anon.post("/carts").json
    anon.put(f"/carts/{cart['id']}/items/{books[0].id}", {"quantity": quantity}, status=400)
    assert anon.get(f"/carts/{cart['id']}").json["items"] == []


def test_unknown_cart_and_book_are_404(anon, books):
    anon.get("/carts/not-a-real-cart-id", status=404)
    cart = anon.post("/carts").json
    anon.put(f"/carts/{cart['id']}/items/999999999", {"quantity": 1}, status=404)


def test_a_users_cart_is_private(testapp, books):
    owner, _ = register_and_login(testapp)
    other, _ = register_and_login(testapp)
    cart = owner.post("/carts").json
    assert owner.post("/carts", status=200).json["id"] == cart["id"]  # one cart per user
    owner.put(f"/carts/{cart['id']}/items/{books[0].id}", {"quantity": 1})
    Client(testapp).get(f"/carts/{cart['id']}", status=404)
    other.get(f"/carts/{cart['id']}", status=404)
    other.put(f"/carts/{cart['id']}/items/{books[0].id}", {"quantity": 5}, status=404)
    other.delete(f"/carts/{cart['id']}/items/{books[0].id}", status=404)
    assert owner.get(f"/carts/{cart['id']}").json["items"][0]["quantity"] == 1


def test_merge_folds_an_anonymous_cart_into_the_users(testapp, books):
    anon = Client(testapp)
    guest = anon.post("/carts").json
    anon.put(f"/carts/{guest['id']}/items/{books[0].id}", {"quantity": 2})
    anon.put(f"/carts/{guest['id']}/items/{books[1].id}", {"quantity": 1})
    user, _ = register_and_login(testapp)
    mine = user.post("/carts").json
    user.put(f"/carts/{mine['id']}/items/{books[0].id}", {"quantity": 98})
    merged = user.post(f"/carts/{mine['id']}/merge", {"from_cart_id": guest["id"]}, status=200).json
    quantities = {item["book_id"]: item["quantity"] for item in merged["items"]}
    assert quantities == {books[0].id: 99, books[1].id: 1}  # capped at 99
    anon.get(f"/carts/{guest['id']}", status=404)  # the anonymous cart is gone


def test_merge_rules(testapp, books):
    user, _ = register_and_login(testapp)
    other, _ = register_and_login(testapp)
    mine = user.post("/carts").json
    theirs = other.post("/carts").json
    Client(testapp).post(f"/carts/{mine['id']}/merge", {"from_cart_id": theirs["id"]}, status=401)
    user.post(f"/carts/{mine['id']}/merge", {"from_cart_id": theirs["id"]}, status=404)  # not anonymous
    user.post(f"/carts/{theirs['id']}/merge", {"from_cart_id": mine["id"]}, status=404)  # not yours
    user.post(f"/carts/{mine['id']}/merge", {"from_cart_id": "nope"}, status=404)
    guest = Client(testapp).post("/carts").json
    user.post(f"/carts/{guest['id']}/merge", {"from_cart_id": mine["id"]}, status=404)  # target must be owned


@pytest.mark.needs_db  # ages the cart in the database
def test_idle_carts_expire_after_30_days(anon, books, dbsession):
    cart = anon.post("/carts").json
    anon.put(f"/carts/{cart['id']}/items/{books[0].id}", {"quantity": 1})
    dbsession.execute(
        update(Cart).where(Cart.id == cart["id"]).values(updated_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=31))
    )
    dbsession.flush()
    anon.get(f"/carts/{cart['id']}", status=404)


def test_cart_shows_availability(anon, dbsession):
    scarce = make_book(dbsession, title="Scarce", stock=1)
    cart = anon.post("/carts").json
    item = anon.put(f"/carts/{cart['id']}/items/{scarce.id}", {"quantity": 3}).json["items"][0]
    assert item["available_quantity"] == 1 and item["in_stock"] is False
