"""Concurrency: real threads against a real waitress server, with real commits.

No rolled-back transaction here: each test gets a fresh database so that
concurrent requests really commit and really contend for rows.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg2
import pytest
import waitress

from bookstore_api.cli.migrate import upgrade
from tests.helpers.commerce import checkout_body
from tests.helpers.services import app_settings_for, create_database, drop_database

pytestmark = [pytest.mark.needs_db, pytest.mark.slow]
PASSWORD = "race password 123"


@pytest.fixture
def live_api(services):
    from bookstore_api import main

    name = f"bookstore_race_{uuid.uuid4().hex[:8]}"
    database_url = create_database(services.server_url, name)
    upgrade(database_url)
    settings = app_settings_for(services, **{"sqlalchemy.pool_size": 20, "sqlalchemy.max_overflow": 40})
    settings["sqlalchemy.url"] = database_url
    app = main({}, **settings)
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=32, connection_limit=200)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.effective_port}/api/v1"
    yield base, database_url
    server.close()
    app.registry["dbengine"].dispose()
    drop_database(services.server_url, name)


def sql(database_url: str, statement: str, *args):
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(statement, args)
        return cursor.fetchall() if cursor.description else None


def make_book(database_url: str, stock: int, title: str = "Hot Book") -> int:
    from bookstore_dev.seed import make_isbn

    isbn = make_isbn(uuid.uuid4().int % 10**9)
    return sql(
        database_url,
        "INSERT INTO books (isbn, title, price, currency, stock_quantity) VALUES (%s, %s, 10, 'USD', %s) RETURNING id",
        isbn,
        title,
        stock,
    )[0][0]


def make_buyers(base: str, count: int) -> list[str]:
    def one(index: int) -> str:
        email = f"buyer-{index}-{uuid.uuid4().hex[:6]}@example.com"
        with httpx.Client(base_url=base, timeout=30) as client:
            client.post(
                "/users", json={"email": email, "password": PASSWORD, "name": f"Buyer {index}"}
            ).raise_for_status()
            response = client.post("/auth/tokens", json={"email": email, "password": PASSWORD})
            response.raise_for_status()
            return response.json()["token"]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def race(base: str, requests: list[tuple[str, dict, str]]) -> list[httpx.Response]:
    """Fire all requests at once (a barrier releases them together)."""
    barrier = threading.Barrier(len(requests))

    def go(request):
        token, body, key = request
        with httpx.Client(base_url=base, timeout=60) as client:
            barrier.wait()
            return client.post(
                "/orders", json=body, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key}
            )

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(go, requests))


def test_fifty_buyers_race_for_five_copies(live_api):
    base, database_url = live_api
    book_id = make_book(database_url, stock=5)
    tokens = make_buyers(base, 50)
    responses = race(base, [(token, checkout_body([(book_id, 1)]), uuid.uuid4().hex) for token in tokens])
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 5, statuses
    assert statuses.count(409) == 45, statuses
    assert all(r.json()["error"]["code"] == "out_of_stock" for r in responses if r.status_code == 409)
    assert sql(database_url, "SELECT stock_quantity, sales_count FROM books WHERE id = %s", book_id) == [(0, 5)]
    ledger = sql(database_url, "SELECT delta, reason FROM stock_movements WHERE book_id = %s", book_id)
    assert ledger == [(-1, "order")] * 5
    assert sql(database_url, "SELECT count(*) FROM orders")[0][0] == 5


def test_eight_concurrent_retries_with_one_key_make_one_order(live_api):
    base, database_url = live_api
    book_id = make_book(database_url, stock=10)
    (token,) = make_buyers(base, 1)
    key = uuid.uuid4().hex
    responses = race(base, [(token, checkout_body([(book_id, 1)]), key)] * 8)
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    assert sum(r.status_code == 201 for r in responses) == 1
    assert len({r.json()["id"] for r in responses}) == 1
    assert sql(database_url, "SELECT stock_quantity FROM books WHERE id = %s", book_id) == [(9,)]
    assert sql(database_url, "SELECT count(*) FROM orders")[0][0] == 1


def test_opposite_lock_orders_never_deadlock(live_api):
    base, database_url = live_api
    book_a = make_book(database_url, stock=1000, title="A")
    book_b = make_book(database_url, stock=1000, title="B")
    tokens = make_buyers(base, 2)
    rounds = 25
    results: list[int] = []
    lock = threading.Lock()

    def buyer(token: str, items: list[tuple[int, int]]):
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(rounds):
                response = client.post(
                    "/orders",
                    json=checkout_body(items),
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
                )
                with lock:
                    results.append(response.status_code)

    threads = [
        threading.Thread(target=buyer, args=(tokens[0], [(book_a, 1), (book_b, 1)])),
        threading.Thread(target=buyer, args=(tokens[1], [(book_b, 1), (book_a, 1)])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [201] * (2 * rounds)
    stock = dict(sql(database_url, "SELECT id, stock_quantity FROM books WHERE id IN (%s, %s)", book_a, book_b))
    assert stock == {book_a: 1000 - 2 * rounds, book_b: 1000 - 2 * rounds}
    assert sql(database_url, "SELECT count(*) FROM stock_movements")[0][0] == 4 * rounds
