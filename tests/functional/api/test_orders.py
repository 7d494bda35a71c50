"""Checkout, payment, idempotency, the order lifecycle, the ledger and reviews."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bookstore_api.inventory.models import StockMovement
from bookstore_api.mail.models import OutboxMessage
from tests.helpers.clients import Client, register_and_login
from tests.helpers.commerce import DECLINED_CARD, FUTURE_EXPIRY, PAST_EXPIRY, checkout_body, new_key
from tests.helpers.factories import current_stock, make_book


@pytest.fixture
def shelf(dbsession):
    return {
        "a": make_book(dbsession, title="Alpha", price="12.50", stock=5),
        "b": make_book(dbsession, title="Beta", price="40.00", stock=2),
    }


def stock(dbsession, book) -> int:
    return current_stock(dbsession, book.id)


def ledger_of(staff, book) -> list[tuple]:
    """The book's stock ledger as staff read it, oldest first."""
    items = staff.get(f"/books/{book.id}/stock-movements", per_page="100").json["items"]
    return [(m["delta"], m["reason"], m["resulting_quantity"], m.get("order_id")) for m in reversed(items)]


def test_checkout_from_items(customer, staff, shelf, dbsession):
    response = customer.post("/orders", checkout_body([(shelf["a"].id, 2)]), headers=new_key())
    order = response.json
    assert response.status_int == 201
    assert order["status"] == "paid"
    assert order["lines"] == [
        {"book_id": shelf["a"].id, "title": "Alpha", "quantity": 2, "unit_price": "12.50", "line_total": "25.00"}
    ]
    assert (order["subtotal"], order["shipping"], order["total"], order["currency"]) == (
        "25.00",
        "4.99",
        "29.99",
        "USD",
    )
    assert order["payment"] == {"brand": "visa", "last4": "4242"}
    assert stock(dbsession, shelf["a"]) == 3
    assert ledger_of(staff, shelf["a"])[-1] == (-2, "order", 3, order["id"])


@pytest.mark.needs_db  # the ledger row and the outbox row, written with the order
def test_checkout_writes_its_ledger_row_and_one_confirmation(customer, shelf, dbsession):
    order = customer.post("/orders", checkout_body([(shelf["a"].id, 2)]), headers=new_key()).json
    ledger = dbsession.scalars(select(StockMovement).where(StockMovement.book_id == shelf["a"].id)).all()
    assert [(m.delta, m.reason, m.resulting_quantity, m.order_id) for m in ledger] == [(-2, "order", 3, order["id"])]
    mail = dbsession.scalars(select(OutboxMessage).where(OutboxMessage.payload["order_id"].astext == str(order["id"])))
    assert len(mail.all()) == 1


def test_free_shipping_from_50(customer, shelf):
    order = customer.post("/orders", checkout_body([(shelf["b"].id, 2)]), headers=new_key()).json
    assert (order["subtotal"], order["shipping"], order["total"]) == ("80.00", "0.00", "80.00")


def test_checkout_from_cart_empties_it(customer, shelf):
    cart = customer.post("/carts").json
    customer.put(f"/carts/{cart['id']}/items/{shelf['a'].id}", {"quantity": 1})
    customer.put(f"/carts/{cart['id']}/items/{shelf['b'].id}", {"quantity": 1})
    order = customer.post("/orders", checkout_body(cart_id=cart["id"]), headers=new_key()).json
    assert sorted(line["title"] for line in order["lines"]) == ["Alpha", "Beta"]
    assert order["total"] == "52.50"
    assert customer.get(f"/carts/{cart['id']}").json["items"] == []
    again = customer.post("/orders", checkout_body(cart_id=cart["id"]), headers=new_key(), status=400)
    assert again.json["error"]["code"] == "cart_empty"


def test_the_price_is_a_snapshot(customer, staff, shelf):
    order = customer.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=new_key()).json
    staff.patch(f"/books/{shelf['a'].id}", {"price": "99.00"})
    assert customer.get(f"/orders/{order['id']}").json["lines"][0]["unit_price"] == "12.50"


def test_out_of_stock_is_409_listing_the_books_and_takes_nothing(customer, shelf, dbsession):
    response = customer.post(
        "/orders", checkout_body([(shelf["a"].id, 1), (shelf["b"].id, 3)]), headers=new_key(), status=409
    )
    error = response.json["error"]
    assert error["code"] == "out_of_stock"
    assert error["details"]["books"] == [{"book_id": shelf["b"].id, "requested": 3, "available": 2}]
    assert stock(dbsession, shelf["a"]) == 5 and stock(dbsession, shelf["b"]) == 2


def test_declined_payment_is_402_and_takes_no_stock(customer, shelf, dbsession):
    response = customer.post(
        "/orders", checkout_body([(shelf["a"].id, 1)], card=DECLINED_CARD), headers=new_key(), status=402
    )
    assert response.json["error"]["code"] == "payment_declined"
    assert stock(dbsession, shelf["a"]) == 5
    assert customer.get("/orders").json["total"] == 0


@pytest.mark.parametrize(
    ("card", "field"),
    [
        ({"card_number": "4242424242424241", "expiry": FUTURE_EXPIRY, "cvc": "123"}, "payment.card_number"),  # Luhn
        ({"card_number": "abcd", "expiry": FUTURE_EXPIRY, "cvc": "123"}, "payment.card_number"),
        ({"card_number": "4242424242424242", "expiry": PAST_EXPIRY, "cvc": "123"}, "payment.expiry"),
        ({"card_number": "4242424242424242", "expiry": "13/30", "cvc": "123"}, "payment.expiry"),
        ({"card_number": "4242424242424242", "expiry": FUTURE_EXPIRY, "cvc": "12"}, "payment.cvc"),
    ],
)
def test_bad_cards_are_400(customer, shelf, card, field):
    response = customer.post("/orders", checkout_body([(shelf["a"].id, 1)], card=card), headers=new_key(), status=400)
    assert field in response.json["error"]["details"]["fields"]


@pytest.mark.parametrize(
    "body",
    [
        {"items": [], "shipping_address": {}, "payment": {}},
        {"items": [{"book_id": 1, "quantity": 0}]},
        {"cart_id": "x", "items": [{"book_id": 1, "quantity": 1}]},
    ],
)
def test_bad_checkout_bodies_are_400(customer, body):
    customer.post("/orders", body, headers=new_key(), status=400)


def test_checkout_needs_a_token_and_a_key(anon, customer, shelf):
    anon.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=new_key(), status=401)
    response = customer.post("/orders", checkout_body([(shelf["a"].id, 1)]), status=400)
    assert "Idempotency-Key" in str(response.json["error"]["details"])


@pytest.mark.needs_db  # reads the rows themselves
def test_the_card_number_is_never_stored(customer, shelf, dbsession):
    customer.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=new_key())
    from sqlalchemy import text

    dump = dbsession.execute(text("SELECT row_to_json(o)::text FROM orders o")).scalars().all()
    dump += dbsession.execute(text("SELECT row_to_json(k)::text FROM idempotency_keys k")).scalars().all()
    dump += dbsession.execute(text("SELECT row_to_json(m)::text FROM outbox_messages m")).scalars().all()
    assert dump and not any("4242424242424242" in row or "4242 4242" in row for row in dump)


def test_same_key_same_order_and_different_body_is_409(customer, shelf, dbsession):
    key = new_key()
    first = customer.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=key)
    second = customer.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=key, status=200)
    assert first.json["id"] == second.json["id"]
    assert stock(dbsession, shelf["a"]) == 4
    reused = customer.post("/orders", checkout_body([(shelf["a"].id, 2)]), headers=key, status=409)
    assert reused.json["error"]["code"] == "idempotency_key_reused"


def test_keys_belong_to_their_user(testapp, shelf):
    key = new_key()
    alice, _ = register_and_login(testapp)
    bob, _ = register_and_login(testapp)
    first = alice.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=key).json
    second = bob.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=key, status=201).json
    assert first["id"] != second["id"]


def test_a_failed_attempt_does_not_burn_the_key(customer, shelf, dbsession):
    """A declined card leaves the key free: the shopper retries with another card under the same key."""
    key = new_key()
    customer.post("/orders", checkout_body([(shelf["a"].id, 1)], card=DECLINED_CARD), headers=key, status=402)
    assert stock(dbsession, shelf["a"]) == 5  # the decline took no stock
    order = customer.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=key, status=201).json
    assert order["status"] == "paid"
    assert stock(dbsession, shelf["a"]) == 4
    # and the key now names that order: a replay returns it, never a second one
    again = customer.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=key, status=200).json
    assert again["id"] == order["id"]
    assert stock(dbsession, shelf["a"]) == 4


def test_cancel_restores_stock_through_the_ledger(customer, staff, shelf, dbsession):
    order = customer.post("/orders", checkout_body([(shelf["a"].id, 2)]), headers=new_key()).json
    cancelled = customer.post(f"/orders/{order['id']}/cancel", status=200).json
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"]
    assert stock(dbsession, shelf["a"]) == 5
    assert [(delta, reason) for delta, reason, *_ in ledger_of(staff, shelf["a"])][-2:] == [
        (-2, "order"),
        (2, "cancel"),
    ]
    customer.post(f"/orders/{order['id']}/cancel", status=409)


@pytest.mark.needs_db  # the refund reference is not in the API
def test_cancel_refunds_the_payment(customer, shelf, dbsession):
    order = customer.post("/orders", checkout_body([(shelf["a"].id, 2)]), headers=new_key()).json
    customer.post(f"/orders/{order['id']}/cancel", status=200)
    from bookstore_api.orders.models import Order

    assert dbsession.get(Order, order["id"]).refund_reference.startswith("test_re_")


def test_lifecycle_and_illegal_transitions(customer, staff, shelf):
    order = customer.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=new_key()).json
    oid = order["id"]
    assert staff.post(f"/orders/{oid}/deliver", status=409).json["error"]["code"] == "illegal_state"
    customer.post(f"/orders/{oid}/ship", status=403)
    shipped = staff.post(f"/orders/{oid}/ship", status=200).json
    assert shipped["status"] == "shipped" and shipped["shipped_at"]
    assert customer.post(f"/orders/{oid}/cancel", status=409).json["error"]["details"]["status"] == "shipped"
    staff.post(f"/orders/{oid}/ship", status=409)
    assert staff.post(f"/orders/{oid}/deliver", status=200).json["status"] == "delivered"
    staff.post(f"/orders/{oid}/cancel", status=409)


def test_no_customer_sees_anothers_order(testapp, shelf):
    alice, _ = register_and_login(testapp)
    mallory, _ = register_and_login(testapp)
    order = alice.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=new_key()).json
    oid = order["id"]
    for response in (
        mallory.get(f"/orders/{oid}", status=404),
        mallory.post(f"/orders/{oid}/cancel", status=404),
    ):
        assert response.json["error"]["code"] == "not_found"
    assert mallory.get("/orders").json["total"] == 0
    Client(testapp).get(f"/orders/{oid}", status=401)
    assert alice.get(f"/orders/{oid}").json["status"] == "paid"  # untouched


def test_listing_own_orders_and_staff_filters(testapp, staff, shelf):
    alice, _ = register_and_login(testapp)
    bob, _ = register_and_login(testapp)
    a1 = alice.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=new_key()).json
    a2 = alice.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=new_key()).json
    b1 = bob.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=new_key()).json
    assert [o["id"] for o in alice.get("/orders").json["items"]] == [a2["id"], a1["id"]]
    staff.post(f"/orders/{b1['id']}/ship", status=200)
    shipped = staff.get("/orders", params={"status": "shipped"}).json["items"]
    assert {o["status"] for o in shipped} == {"shipped"}  # newest first: b1 leads, a1 and a2 are not there
    assert shipped[0]["id"] == b1["id"] and not {a1["id"], a2["id"]} & {o["id"] for o in shipped}
    assert staff.get("/orders").json["total"] >= 3
    staff.get("/orders", status=400, params={"status": "lost"})


def test_staff_stock_movements_and_ledger(staff, customer, shelf, dbsession):
    book = shelf["b"]
    created = staff.post(
        f"/books/{book.id}/stock-movements", {"delta": 10, "reason": "restock", "note": "supplier"}
    ).json
    assert (created["delta"], created["resulting_quantity"], created["reason"]) == (10, 12, "restock")
    staff.post(f"/books/{book.id}/stock-movements", {"delta": -2, "reason": "adjustment", "note": "damaged"})
    response = staff.post(f"/books/{book.id}/stock-movements", {"delta": -11, "reason": "adjustment"}, status=409)
    assert response.json["error"]["code"] == "insufficient_stock"
    staff.post(f"/books/{book.id}/stock-movements", {"delta": -1, "reason": "restock"}, status=400)
    staff.post(f"/books/{book.id}/stock-movements", {"delta": 0, "reason": "adjustment"}, status=400)
    staff.post(f"/books/{book.id}/stock-movements", {"delta": 1, "reason": "order"}, status=400)
    staff.post("/books/999999999/stock-movements", {"delta": 1, "reason": "restock"}, status=404)
    customer.post(f"/books/{book.id}/stock-movements", {"delta": 1, "reason": "restock"}, status=403)
    ledger = staff.get(f"/books/{book.id}/stock-movements").json
    # newest first (on a deployed shop the factory's own restock comes before these)
    assert [(m["delta"], m["resulting_quantity"]) for m in ledger["items"]][:2] == [(-2, 10), (10, 12)]
    assert stock(dbsession, book) == 10
    customer.get(f"/books/{book.id}/stock-movements", status=403)


def test_low_stock_report(staff, dbsession):
    nearly_gone = make_book(dbsession, title="Nearly Gone", stock=1)
    plenty = make_book(dbsession, title="Plenty", stock=500)
    # lowest stock first, then oldest: the newest book with one copy is the last at threshold 1
    total = staff.get("/inventory/low-stock", threshold="1", per_page="1").json["total"]
    last_page = staff.get("/inventory/low-stock", threshold="1", per_page="100", page=str((total + 99) // 100)).json
    ids = [b["id"] for b in last_page["items"]]
    assert ids[-1] == nearly_gone.id and plenty.id not in ids
    staff.get("/inventory/low-stock", threshold="-1", status=400)


def test_reviews_only_from_buyers_once_and_rating_is_exact(testapp, shelf, dbsession, verify_email):
    buyer, _ = register_and_login(testapp, name="Rita Reader")
    other_buyer, _ = register_and_login(testapp)
    browser, _ = register_and_login(testapp)
    for client in (buyer, other_buyer, browser):
        verify_email(client)
    book = shelf["a"]
    review = {"rating": 5, "title": "Loved it", "body": "A gem."}
    assert browser.post(f"/books/{book.id}/reviews", review, status=403).json["error"]["code"] == "not_a_buyer"
    buyer.post("/orders", checkout_body([(book.id, 1)]), headers=new_key())
    other_buyer.post("/orders", checkout_body([(book.id, 1)]), headers=new_key())
    created = buyer.post(f"/books/{book.id}/reviews", review).json
    assert created["reviewer_name"] == "Rita Reader" and created["rating"] == 5
    assert buyer.post(f"/books/{book.id}/reviews", review, status=409).json["error"]["code"] == "already_reviewed"
    other_buyer.post(f"/books/{book.id}/reviews", {"rating": 2, "body": "Not for me."})
    detail = Client(testapp).get(f"/books/{book.id}").json
    assert (detail["average_rating"], detail["rating_count"]) == ("3.50", 2)
    listing = Client(testapp).get(f"/books/{book.id}/reviews").json
    assert [r["rating"] for r in listing["items"]] == [2, 5] and listing["total"] == 2
    for bad in ({"rating": 6, "body": "x"}, {"rating": 0, "body": "x"}, {"rating": 3}, {"rating": 3, "body": ""}):
        other_buyer.post(f"/books/{book.id}/reviews", bad, status=400)
    Client(testapp).post(f"/books/{book.id}/reviews", review, status=401)


def test_a_cancelled_purchase_does_not_allow_a_review(customer, shelf):
    order = customer.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=new_key()).json
    customer.post(f"/orders/{order['id']}/cancel", status=200)
    customer.post(f"/books/{shelf['a'].id}/reviews", {"rating": 4, "body": "ok"}, status=403)


def test_an_ordered_book_is_archived_not_deleted(staff, customer, shelf):
    customer.post("/orders", checkout_body([(shelf["a"].id, 1)]), headers=new_key())
    staff.delete(f"/books/{shelf['a'].id}")
    assert staff.get(f"/books/{shelf['a'].id}").json["archived"] is True


def test_an_order_larger_than_the_database_can_hold_is_a_400_and_charges_nothing(customer, dbsession):
    dear = [make_book(dbsession, title=f"Dear {n}", price="99999999.99", stock=99) for n in range(2)]
    body = checkout_body([(book.id, 99) for book in dear])
    response = customer.post("/orders", body, headers=new_key(), status=400)
    assert response.json["error"]["details"]["fields"] == {"items": "The order's total is too large."}
    assert [stock(dbsession, book) for book in dear] == [99, 99]
