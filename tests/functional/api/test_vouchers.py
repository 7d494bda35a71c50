"""Vouchers: staff management, every refusal, the pricing rules, cancel, and preview == charge."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bookstore_api.catalog.models import Book
from bookstore_api.mail.models import OutboxMessage
from tests.helpers.clients import register_and_login
from tests.helpers.commerce import DECLINED_CARD, checkout_body, new_key
from tests.helpers.factories import make_book, make_genre

pytestmark = pytest.mark.needs_db

NOW = dt.datetime.now(dt.UTC)


def iso(delta: dt.timedelta) -> str:
    return (NOW + delta).isoformat()


@pytest.fixture
def shelf(dbsession):
    make_genre(dbsession, "poetry")
    make_genre(dbsession, "crime")
    return {
        "poem": make_book(dbsession, title="Odes", price="9.99", stock=20, genres=("poetry",)),
        "crime": make_book(dbsession, title="Noir", price="20.00", stock=20, genres=("crime",)),
        "cheap": make_book(dbsession, title="Pamphlet", price="7.50", stock=20),
    }


def voucher(staff, **fields) -> dict:
    body = {"code": "SAVE10", "kind": "percent", "value": "10"} | fields
    return staff.post("/vouchers", body).json


def order(client, items, voucher_code=None, status=201, **kw):
    body = checkout_body(items, **kw)
    if voucher_code is not None:
        body["voucher_code"] = voucher_code
    return client.post("/orders", body, headers=new_key(), status=status).json


def stock(dbsession, book) -> int:
    dbsession.expire_all()
    return dbsession.get(Book, book.id).stock_quantity


# -- staff management -----------------------------------------------------------


def test_staff_create_read_list_and_change_a_voucher(staff, shelf):
    created = voucher(
        staff,
        code="Spring-25",
        value="25",
        min_subtotal="15",
        starts_at=iso(dt.timedelta(days=-1)),
        ends_at=iso(dt.timedelta(days=30)),
        max_uses=100,
        max_uses_per_customer=2,
        genres=["poetry", "crime"],
    )
    assert created["code"] == "SPRING-25"  # case-insensitive codes are kept in upper case
    assert (created["kind"], created["value"], created["min_subtotal"]) == ("percent", "25.00", "15.00")
    assert (created["max_uses"], created["max_uses_per_customer"], created["uses"]) == (100, 2, 0)
    assert created["genres"] == ["crime", "poetry"] and created["active"] is True
    assert staff.get(f"/vouchers/{created['id']}").json == created

    listed = staff.get("/vouchers", per_page=1).json
    assert listed["total"] >= 1 and listed["per_page"] == 1 and listed["items"][0]["id"] == created["id"]

    changed = staff.patch(f"/vouchers/{created['id']}", {"active": False, "genres": [], "max_uses": None}).json
    assert changed["active"] is False and changed["genres"] == [] and changed["max_uses"] is None
    assert [v["id"] for v in staff.get("/vouchers", active="false").json["items"]] == [created["id"]]
    assert all(v["id"] != created["id"] for v in staff.get("/vouchers", active="true").json["items"])


def test_codes_are_unique_whatever_their_case(staff):
    first = voucher(staff, code="UNIQUE1")
    response = staff.post("/vouchers", {"code": "unique1", "kind": "fixed", "value": "5"}, status=409)
    assert response.json["error"]["code"] == "voucher_code_taken"
    other = voucher(staff, code="UNIQUE2")
    staff.patch(f"/vouchers/{other['id']}", {"code": "Unique1"}, status=409)
    assert staff.patch(f"/vouchers/{first['id']}", {"code": "unique1"}).json["code"] == "UNIQUE1"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "percent", "value": "100.01"}, "value"),
        ({"kind": "percent", "value": "0"}, "value"),
        ({"kind": "fixed", "value": "0.00"}, "value"),
        ({"kind": "fixed", "value": "-5"}, "value"),
        ({"kind": "fixed", "value": "5.999"}, "value"),
        ({"kind": "coupon", "value": "5"}, "kind"),
        ({"kind": "fixed", "value": "5", "code": "a b"}, "code"),
        ({"kind": "fixed", "value": "5", "code": "AB"}, "code"),
        ({"kind": "fixed", "value": "5", "genres": ["no-such-genre"]}, "genres"),
        ({"kind": "fixed", "value": "5", "max_uses": 0}, "max_uses"),
        ({"kind": "fixed", "value": "5", "max_uses_per_customer": 0}, "max_uses_per_customer"),
        ({"kind": "fixed", "value": "5", "min_subtotal": "ten"}, "min_subtotal"),
        (
            {"kind": "fixed", "value": "5", "starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"},
            "ends_at",
        ),
        ({"kind": "fixed", "value": "5", "ends_at": "yesterday"}, "ends_at"),
        ({"kind": "fixed", "value": "5", "surprise": True}, None),
    ],
)
def test_invalid_vouchers_are_400_naming_the_field(staff, body, field):
    response = staff.post("/vouchers", {"code": "BAD-ONE"} | body, status=400)
    assert response.json["error"]["code"] == "invalid_input"
    if field:
        assert field in str(response.json["error"]["details"])
    staff.get("/vouchers/999999999", status=404)


def test_changes_are_checked_against_the_stored_voucher(staff):
    fixed = voucher(staff, code="FIXED50", kind="fixed", value="50", starts_at=iso(dt.timedelta(days=1)))
    assert staff.patch(f"/vouchers/{fixed['id']}", {"kind": "percent"}).json["value"] == "50.00"  # 50 % is fine ...
    staff.patch(f"/vouchers/{fixed['id']}", {"value": "150"}, status=400)  # ... 150 % is not
    staff.patch(f"/vouchers/{fixed['id']}", {"ends_at": iso(dt.timedelta(hours=1))}, status=400)
    staff.patch(f"/vouchers/{fixed['id']}", {}, status=400)
    staff.patch("/vouchers/999999999", {"active": False}, status=404)


def test_only_staff_manage_vouchers(testapp, staff, customer, anon):
    made = voucher(staff, code="STAFFONLY")
    for client, status in ((customer, 403), (anon, 401)):
        client.post("/vouchers", {"code": "MINE", "kind": "fixed", "value": "5"}, status=status)
        client.get("/vouchers", status=status)
        client.get(f"/vouchers/{made['id']}", status=status)
        client.patch(f"/vouchers/{made['id']}", {"value": "99"}, status=status)
    assert staff.get(f"/vouchers/{made['id']}").json["value"] == "10.00"


# -- pricing ------------------------------------------------------------------------


def test_percent_rounds_down_to_the_cent_and_shipping_is_not_discounted(staff, customer, shelf, dbsession):
    voucher(staff, code="PCT15", value="15")
    placed = order(customer, [(shelf["poem"].id, 1)], "pct15")  # any case
    # 15 % of 9.99 is 1.4985: the shop keeps the fraction
    assert (placed["subtotal"], placed["discount"], placed["shipping"], placed["total"]) == (
        "9.99",
        "1.49",
        "4.99",
        "13.49",
    )
    assert placed["voucher_code"] == "PCT15"
    assert customer.get(f"/orders/{placed['id']}").json["discount"] == "1.49"
    mail = dbsession.scalars(
        select(OutboxMessage).where(OutboxMessage.payload["order_id"].astext == str(placed["id"]))
    ).one()
    assert "Discount (PCT15): -1.49 USD" in mail.body and "Total: 13.49 USD" in mail.body


def test_a_fixed_discount_never_exceeds_what_the_books_cost(staff, customer, shelf):
    voucher(staff, code="TWENTY", kind="fixed", value="20")
    placed = order(customer, [(shelf["cheap"].id, 1)], "TWENTY")
    assert (placed["subtotal"], placed["discount"], placed["shipping"], placed["total"]) == (
        "7.50",
        "7.50",
        "4.99",
        "4.99",
    )


def test_free_shipping_looks_at_the_subtotal_before_the_discount(staff, customer, shelf):
    voucher(staff, code="HALF", value="50")
    placed = order(customer, [(shelf["crime"].id, 3)], "HALF")
    assert (placed["subtotal"], placed["discount"], placed["shipping"], placed["total"]) == (
        "60.00",
        "30.00",
        "0.00",
        "30.00",
    )


def test_a_genre_voucher_discounts_only_books_in_its_genres(staff, customer, shelf):
    voucher(staff, code="POEMS", value="50", genres=["poetry"])
    placed = order(customer, [(shelf["poem"].id, 2), (shelf["crime"].id, 1)], "POEMS")
    assert (placed["subtotal"], placed["discount"], placed["total"]) == ("39.98", "9.99", "34.98")
    refused = order(customer, [(shelf["crime"].id, 1)], "POEMS", status=409)
    assert refused["error"]["details"]["reason"] == "not_applicable"


# -- refusals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (None, "unknown"),
        ({"active": False}, "inactive"),
        ({"ends_at": iso(dt.timedelta(days=-1)), "starts_at": iso(dt.timedelta(days=-10))}, "expired"),
        ({"starts_at": iso(dt.timedelta(days=1))}, "not_started"),
        ({"min_subtotal": "30.00"}, "below_minimum"),
        ({"genres": ["crime"]}, "not_applicable"),
    ],
)
def test_each_refusal_is_409_with_its_reason_and_takes_nothing(staff, customer, shelf, dbsession, fields, reason):
    if fields is not None:
        voucher(staff, code="REFUSE", **fields)
    cart = customer.post("/carts").json
    customer.put(f"/carts/{cart['id']}/items/{shelf['poem'].id}", {"quantity": 1})
    preview = customer.get(f"/carts/{cart['id']}", voucher_code="refuse").json
    assert preview["voucher_error"]["reason"] == reason and "discount" not in preview
    assert preview["total"] == "14.98"  # without the voucher

    response = customer.post(
        "/orders", checkout_body(cart_id=cart["id"]) | {"voucher_code": "refuse"}, headers=new_key(), status=409
    )
    error = response.json["error"]
    assert error["code"] == "voucher_invalid" and error["details"]["reason"] == reason
    if reason == "below_minimum":
        assert error["details"]["minimum"] == "30.00"
    assert stock(dbsession, shelf["poem"]) == 20
    assert customer.get("/orders").json["total"] == 0
    assert len(customer.get(f"/carts/{cart['id']}").json["items"]) == 1  # the cart is kept


def test_exhausted_and_customer_limit(staff, testapp, shelf):
    made = voucher(staff, code="ONCE", max_uses=2, max_uses_per_customer=1)
    first, _ = register_and_login(testapp)
    second, _ = register_and_login(testapp)
    third, _ = register_and_login(testapp)
    order(first, [(shelf["poem"].id, 1)], "ONCE")
    again = order(first, [(shelf["poem"].id, 1)], "ONCE", status=409)
    assert again["error"]["details"]["reason"] == "customer_limit"
    order(second, [(shelf["poem"].id, 1)], "ONCE")
    late = order(third, [(shelf["poem"].id, 1)], "ONCE", status=409)
    assert late["error"]["details"]["reason"] == "exhausted"
    assert staff.get(f"/vouchers/{made['id']}").json["uses"] == 2


def test_a_declined_card_uses_nothing(staff, customer, shelf):
    made = voucher(staff, code="DECLINE", max_uses=1)
    order(customer, [(shelf["poem"].id, 1)], "DECLINE", status=402, card=DECLINED_CARD)
    assert staff.get(f"/vouchers/{made['id']}").json["uses"] == 0


def test_a_cancelled_order_gives_its_use_back(staff, customer, shelf):
    made = voucher(staff, code="COMEBACK", max_uses=1, max_uses_per_customer=1)
    placed = order(customer, [(shelf["poem"].id, 1)], "COMEBACK")
    assert staff.get(f"/vouchers/{made['id']}").json["uses"] == 1
    order(customer, [(shelf["poem"].id, 1)], "COMEBACK", status=409)
    cancelled = customer.post(f"/orders/{placed['id']}/cancel", status=200).json
    assert cancelled["status"] == "cancelled" and cancelled["discount"] == "0.99"  # the order keeps its record
    assert staff.get(f"/vouchers/{made['id']}").json["uses"] == 0
    assert order(customer, [(shelf["poem"].id, 1)], "COMEBACK")["discount"] == "0.99"  # usable again
    assert staff.get(f"/vouchers/{made['id']}").json["uses"] == 1


def test_a_retried_checkout_redeems_once(staff, customer, shelf):
    made = voucher(staff, code="RETRY", max_uses=5)
    body = checkout_body([(shelf["poem"].id, 1)]) | {"voucher_code": "RETRY"}
    key = new_key()
    first = customer.post("/orders", body, headers=key).json
    again = customer.post("/orders", body, headers=key, status=200).json
    assert first["id"] == again["id"] and again["discount"] == "0.99"
    assert staff.get(f"/vouchers/{made['id']}").json["uses"] == 1
    other = customer.post("/orders", body | {"voucher_code": "OTHER"}, headers=key, status=409).json
    assert other["error"]["code"] == "idempotency_key_reused"


# -- the cart preview ---------------------------------------------------------------


def test_the_previewed_total_is_the_amount_charged(staff, customer, shelf):
    voucher(staff, code="PREVIEW", value="12.5", genres=["poetry"])
    cart = customer.post("/carts").json
    customer.put(f"/carts/{cart['id']}/items/{shelf['poem'].id}", {"quantity": 3})
    customer.put(f"/carts/{cart['id']}/items/{shelf['cheap'].id}", {"quantity": 1})
    plain = customer.get(f"/carts/{cart['id']}").json
    assert (plain["subtotal"], plain["shipping"], plain["total"]) == ("37.47", "4.99", "42.46")
    assert "discount" not in plain and "voucher_error" not in plain
    preview = customer.get(f"/carts/{cart['id']}", voucher_code="preview").json
    # 12.5 % of 29.97 = 3.74625 -> 3.74
    assert (preview["subtotal"], preview["discount"], preview["shipping"], preview["total"]) == (
        "37.47",
        "3.74",
        "4.99",
        "38.72",
    )
    assert preview["voucher_code"] == "PREVIEW"
    placed = customer.post(
        "/orders", checkout_body(cart_id=cart["id"]) | {"voucher_code": "preview"}, headers=new_key()
    ).json
    assert (placed["subtotal"], placed["discount"], placed["shipping"], placed["total"]) == (
        preview["subtotal"],
        preview["discount"],
        preview["shipping"],
        preview["total"],
    )


def test_every_cart_answer_carries_shipping_and_total(anon, shelf):
    cart = anon.post("/carts").json
    assert (cart["subtotal"], cart["shipping"], cart["total"]) == ("0.00", "0.00", "0.00")
    cart = anon.put(f"/carts/{cart['id']}/items/{shelf['crime'].id}", {"quantity": 3}).json
    assert (cart["subtotal"], cart["shipping"], cart["total"]) == ("60.00", "0.00", "60.00")
    cart = anon.put(f"/carts/{cart['id']}/items/{shelf['crime'].id}", {"quantity": 1}).json
    assert (cart["subtotal"], cart["shipping"], cart["total"]) == ("20.00", "4.99", "24.99")


def test_an_anonymous_preview_and_the_customer_limit(staff, testapp, anon, shelf):
    voucher(staff, code="PERHEAD", max_uses_per_customer=1)
    buyer, _ = register_and_login(testapp)
    order(buyer, [(shelf["poem"].id, 1)], "PERHEAD")
    cart = buyer.post("/carts").json
    buyer.put(f"/carts/{cart['id']}/items/{shelf['poem'].id}", {"quantity": 1})
    assert buyer.get(f"/carts/{cart['id']}", voucher_code="PERHEAD").json["voucher_error"]["reason"] == "customer_limit"
    guest = anon.post("/carts").json
    anon.put(f"/carts/{guest['id']}/items/{shelf['poem'].id}", {"quantity": 1})
    assert anon.get(f"/carts/{guest['id']}", voucher_code="PERHEAD").json["discount"] == "0.99"
    anon.get(f"/carts/{guest['id']}", voucher_code="x" * 33, status=400)


def test_a_cap_set_later_counts_the_uses_so_far(staff, testapp, shelf):
    made = voucher(staff, code="LATECAP")
    buyers = [register_and_login(testapp)[0] for _ in range(3)]
    first = order(buyers[0], [(shelf["poem"].id, 1)], "LATECAP")
    order(buyers[1], [(shelf["poem"].id, 1)], "LATECAP")
    assert staff.get(f"/vouchers/{made['id']}").json["uses"] == 2
    assert staff.patch(f"/vouchers/{made['id']}", {"max_uses": 2}).json["uses"] == 2
    refused = order(buyers[2], [(shelf["poem"].id, 1)], "LATECAP", status=409)
    assert refused["error"]["details"]["reason"] == "exhausted"
    buyers[0].post(f"/orders/{first['id']}/cancel", status=200)
    assert staff.get(f"/vouchers/{made['id']}").json["uses"] == 1
    order(buyers[2], [(shelf["poem"].id, 1)], "LATECAP")
    assert staff.patch(f"/vouchers/{made['id']}", {"max_uses": None}).json["uses"] == 2
    order(buyers[0], [(shelf["poem"].id, 1)], "LATECAP")  # no cap any more
    assert staff.get(f"/vouchers/{made['id']}").json["uses"] == 3


@pytest.mark.needs_db  # changes the app's settings
def test_guessing_codes_is_limited_per_address_not_per_code(staff, anon, testapp, dbsession, api_app, monkeypatch):
    monkeypatch.setitem(api_app.registry.settings, "bookstore.voucher_unknown_max_per_address", 3)
    book = make_book(dbsession, stock=5)
    voucher(staff, code="REAL10", kind="percent", value="10")
    cart = anon.post("/carts", {}).json
    anon.put(f"/carts/{cart['id']}/items/{book.id}", {"quantity": 1})
    guesser = {"X-Forwarded-For": "203.0.113.66"}
    elsewhere = {"X-Forwarded-For": "198.51.100.7"}
    for guess in ("AAAA1", "AAAA2", "AAAA3"):
        answer = anon.get(f"/carts/{cart['id']}", params={"voucher_code": guess}, headers=guesser).json
        assert answer["voucher_error"]["reason"] == "unknown"
    # a known code does not count as a guess, but once over the limit every code waits
    limited = anon.get(f"/carts/{cart['id']}", params={"voucher_code": "REAL10"}, headers=guesser, status=429)
    assert limited.json["error"]["code"] == "rate_limited" and int(limited.headers["Retry-After"]) > 0
    # checkout with a code from that address waits too (before any card is charged)
    buyer, _ = register_and_login(testapp)
    body = checkout_body(items=[(book.id, 1)]) | {"voucher_code": "REAL10"}
    buyer.post("/orders", body, headers={**new_key(), **guesser}, status=429)
    # the real code still works for everyone else
    other = anon.get(f"/carts/{cart['id']}", params={"voucher_code": "REAL10"}, headers=elsewhere).json
    assert other["discount"] and "voucher_error" not in other
    # a cart without a code is never limited
    anon.get(f"/carts/{cart['id']}", headers=guesser, status=200)
