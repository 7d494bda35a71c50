"""What the API tells each caller they may do: an order's ``actions`` and a book's ``can_review``."""

from __future__ import annotations

import orjson
import pytest

from tests.helpers.commerce import checkout_body, new_key
from tests.helpers.factories import make_book


@pytest.fixture
def novel(dbsession):
    return make_book(dbsession, title="Gamma", price="9.00", stock=10)


def place(client, book, quantity: int = 1) -> dict:
    return client.post("/orders", checkout_body([(book.id, quantity)]), headers=new_key()).json


def test_a_new_order_carries_the_actions_its_customer_may_take(customer, novel):
    key = new_key()
    order = customer.post("/orders", checkout_body([(novel.id, 1)]), headers=key).json
    assert order["status"] == "paid" and order["actions"] == ["cancel"]
    # repeating the request answers with the same order and the same actions
    again = customer.post("/orders", checkout_body([(novel.id, 1)]), headers=key, status=200).json
    assert again["id"] == order["id"] and again["actions"] == ["cancel"]


def test_actions_per_role_through_the_lifecycle(customer, staff, novel):
    order = place(customer, novel)
    oid = order["id"]
    assert customer.get(f"/orders/{oid}").json["actions"] == ["cancel"]
    assert staff.get(f"/orders/{oid}").json["actions"] == ["cancel", "ship"]

    shipped = staff.post(f"/orders/{oid}/ship", status=200).json
    assert shipped["status"] == "shipped" and shipped["actions"] == ["deliver"]
    assert customer.get(f"/orders/{oid}").json["actions"] == []
    assert staff.get(f"/orders/{oid}").json["actions"] == ["deliver"]

    delivered = staff.post(f"/orders/{oid}/deliver", status=200).json
    assert delivered["status"] == "delivered" and delivered["actions"] == []
    assert customer.get(f"/orders/{oid}").json["actions"] == []


def test_a_cancelled_order_allows_nothing(customer, staff, novel):
    oid = place(customer, novel)["id"]
    cancelled = customer.post(f"/orders/{oid}/cancel", status=200).json
    assert cancelled["status"] == "cancelled" and cancelled["actions"] == []
    assert staff.get(f"/orders/{oid}").json["actions"] == []


def test_staff_may_cancel_a_paid_order(customer, staff, novel):
    oid = place(customer, novel)["id"]
    assert staff.post(f"/orders/{oid}/cancel", status=200).json["actions"] == []


def test_listings_carry_actions_for_the_caller(customer, staff, novel):
    paid = place(customer, novel)
    shipped = place(customer, novel)
    staff.post(f"/orders/{shipped['id']}/ship", status=200)
    mine = {o["id"]: o["actions"] for o in customer.get("/orders").json["items"]}
    assert mine == {paid["id"]: ["cancel"], shipped["id"]: []}
    listed = {o["id"]: o["actions"] for o in staff.get("/orders", params={"per_page": 100}).json["items"]}
    assert listed[paid["id"]] == ["cancel", "ship"] and listed[shipped["id"]] == ["deliver"]
    to_ship = staff.get("/orders", params={"status": "paid", "per_page": 100}).json["items"]
    assert all(o["actions"] == ["cancel", "ship"] for o in to_ship)


def test_an_action_not_listed_is_refused(customer, staff, novel):
    oid = place(customer, novel)["id"]
    assert "deliver" not in staff.get(f"/orders/{oid}").json["actions"]
    assert staff.post(f"/orders/{oid}/deliver", status=409).json["error"]["code"] == "illegal_state"
    assert "ship" not in customer.get(f"/orders/{oid}").json["actions"]
    customer.post(f"/orders/{oid}/ship", status=403)


def test_can_review_before_buying_after_buying_and_after_reviewing(customer, novel, verify_email):
    verify_email(customer)
    assert customer.get(f"/books/{novel.id}").json["can_review"] is False
    place(customer, novel)
    assert customer.get(f"/books/{novel.id}").json["can_review"] is True
    customer.post(f"/books/{novel.id}/reviews", {"rating": 5, "body": "Lovely."}, status=201)
    assert customer.get(f"/books/{novel.id}").json["can_review"] is False


def test_a_cancelled_purchase_does_not_make_a_reviewer(customer, novel):
    oid = place(customer, novel)["id"]
    customer.post(f"/orders/{oid}/cancel", status=200)
    assert customer.get(f"/books/{novel.id}").json["can_review"] is False


def test_can_review_is_per_caller_and_private(anon, customer, staff, novel):
    place(customer, novel)
    anon.get(f"/books/{novel.id}")  # builds the shared entry
    mine = customer.get(f"/books/{novel.id}")
    assert mine.json["can_review"] is True
    assert "private" in mine.headers["Cache-Control"]
    shared = anon.get(f"/books/{novel.id}")
    assert "can_review" not in shared.json
    assert "public" in shared.headers["Cache-Control"]
    assert shared.headers["ETag"] != mine.headers["ETag"]
    assert "can_review" not in staff.get(f"/books/{novel.id}").json


@pytest.mark.needs_db  # looks into the shared cache in Redis
def test_can_review_is_per_caller_and_never_in_the_shared_cache(testapp, anon, customer, staff, novel, redis_clean):
    place(customer, novel)
    anon.get(f"/books/{novel.id}")  # builds the shared entry
    mine = customer.get(f"/books/{novel.id}")
    assert mine.json["can_review"] is True
    assert "private" in mine.headers["Cache-Control"]

    shared = anon.get(f"/books/{novel.id}")  # a hit, answered by the cache tween
    assert "can_review" not in shared.json
    assert "public" in shared.headers["Cache-Control"]
    assert shared.headers["ETag"] != mine.headers["ETag"]
    client = redis_clean.client
    keys = list(client.scan_iter(match=redis_clean.key("book", novel.id, "*")))
    assert keys  # the shared entry is there ...
    assert not [
        key for key in keys if client.type(key) == b"string" and b"can_review" in client.get(key)
    ]  # ... and shared

    assert "can_review" not in staff.get(f"/books/{novel.id}").json
    anonymous_body = orjson.loads(anon.get(f"/books/{novel.id}").body)
    assert {k: v for k, v in mine.json.items() if k != "can_review"} == anonymous_body
