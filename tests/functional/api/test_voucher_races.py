"""Vouchers under concurrency: real threads against a real waitress server, with real commits.

Each test gets a fresh database (the ``live_api`` fixture of test_races) so that
concurrent checkouts really commit and really contend for the voucher's row.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.functional.api.test_races import live_api, make_book, make_buyers, race, sql  # noqa: F401
from tests.helpers.commerce import checkout_body

pytestmark = [pytest.mark.needs_db, pytest.mark.slow]


def make_voucher(database_url: str, code: str, **limits) -> int:
    columns = ", ".join(["code", "kind", "value", *limits])
    marks = ", ".join(["%s"] * (3 + len(limits)))
    return sql(
        database_url,
        f"INSERT INTO vouchers ({columns}) VALUES ({marks}) RETURNING id",
        code,
        "fixed",
        "2.00",
        *limits.values(),
    )[0][0]


def with_voucher(body: dict, code: str) -> dict:
    return body | {"voucher_code": code}


def test_forty_buyers_race_for_a_voucher_with_five_uses(live_api):  # noqa: F811
    base, database_url = live_api
    book_id = make_book(database_url, stock=100)
    voucher_id = make_voucher(database_url, "FIVE", max_uses=5)
    tokens = make_buyers(base, 40)
    body = with_voucher(checkout_body([(book_id, 1)]), "five")
    responses = race(base, [(token, body, uuid.uuid4().hex) for token in tokens])
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 5, statuses
    assert statuses.count(409) == 35, statuses
    refusals = [r.json()["error"] for r in responses if r.status_code == 409]
    assert all(e["code"] == "voucher_invalid" and e["details"]["reason"] == "exhausted" for e in refusals)
    assert all(r.json()["discount"] == "2.00" for r in responses if r.status_code == 201)
    assert sql(database_url, "SELECT uses FROM vouchers WHERE id = %s", voucher_id) == [(5,)]
    assert sql(database_url, "SELECT count(*), sum(discount) FROM orders WHERE voucher_code = 'FIVE'")[0] == (5, 10)
    assert sql(database_url, "SELECT count(*) FROM voucher_redemptions WHERE voucher_id = %s", voucher_id) == [(5,)]
    assert sql(database_url, "SELECT sum(uses) FROM voucher_customer_uses WHERE voucher_id = %s", voucher_id) == [(5,)]
    # the losers took no stock (their charge was refunded by the aborted transaction)
    assert sql(database_url, "SELECT stock_quantity FROM books WHERE id = %s", book_id) == [(95,)]


def test_ten_parallel_checkouts_of_one_customer_with_a_one_per_customer_voucher(live_api):  # noqa: F811
    base, database_url = live_api
    book_id = make_book(database_url, stock=100)
    voucher_id = make_voucher(database_url, "ONEEACH", max_uses_per_customer=1)
    (token,) = make_buyers(base, 1)
    body = with_voucher(checkout_body([(book_id, 1)]), "ONEEACH")
    responses = race(base, [(token, body, uuid.uuid4().hex) for _ in range(10)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, [r.text for r in responses]
    assert statuses.count(409) == 9, statuses
    assert all(r.json()["error"]["details"]["reason"] == "customer_limit" for r in responses if r.status_code == 409)
    assert sql(database_url, "SELECT uses FROM voucher_customer_uses WHERE voucher_id = %s", voucher_id) == [(1,)]
    assert sql(database_url, "SELECT count(*) FROM orders")[0][0] == 1
    # cancelling gives the use back: the same customer may use it once more
    order_id = next(r.json()["id"] for r in responses if r.status_code == 201)
    with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        client.post(f"/orders/{order_id}/cancel").raise_for_status()
        again = client.post("/orders", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert again.status_code == 201, again.text
    assert sql(database_url, "SELECT uses FROM voucher_customer_uses WHERE voucher_id = %s", voucher_id) == [(1,)]
    standing = "SELECT count(*) FROM voucher_redemptions WHERE voucher_id = %s AND released_at IS NULL"
    assert sql(database_url, standing, voucher_id) == [(1,)]


def test_ten_parallel_checkouts_of_one_customer_with_a_capped_voucher(live_api):  # noqa: F811
    base, database_url = live_api
    book_id = make_book(database_url, stock=100)
    voucher_id = make_voucher(database_url, "CAPPED", max_uses=3, max_uses_per_customer=2)
    (token,) = make_buyers(base, 1)
    body = with_voucher(checkout_body([(book_id, 1)]), "capped")
    responses = race(base, [(token, body, uuid.uuid4().hex) for _ in range(10)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 2 and statuses.count(409) == 8, statuses
    reasons = {r.json()["error"]["details"]["reason"] for r in responses if r.status_code == 409}
    assert reasons == {"customer_limit"}
    assert sql(database_url, "SELECT uses FROM vouchers WHERE id = %s", voucher_id) == [(2,)]
