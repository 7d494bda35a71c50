"""Report rollups: the reports read from them equal the reports computed from the orders, always.

Runs on its own database (the rollup command commits in its own transactions), with
random orders over the last 400 days: before the command ever ran, after it, after
history changed behind it (an old order cancelled, a line edited, an order moved into a
closed day, a book's genres changed, orders today), after it rolled those changes in,
and with the watermark set back. The top-books search is also run with a tiny ``k`` so
its widening and last-resort paths are taken.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from bookstore_api.cli import main as cli
from bookstore_api.cli.migrate import upgrade
from bookstore_api.infra.db import make_engine
from bookstore_api.reports.rollup import Rollup, last_closable_day
from bookstore_api.reports.services import Period, ReportService
from tests.helpers.services import create_database, drop_database

pytestmark = [pytest.mark.needs_db, pytest.mark.slow]

TODAY = dt.datetime.now(dt.UTC).date()
STATUSES = ["paid", "shipped", "delivered", "cancelled"]
ROLLUP_TABLES = ("sales_daily", "book_sales_daily", "book_sales_monthly", "genre_sales_daily")


@pytest.fixture(scope="module")
def database_url(services):
    name = f"bookstore_rollup_{uuid.uuid4().hex[:8]}"
    url = create_database(services.server_url, name)
    upgrade(url)
    yield url
    drop_database(services.server_url, name)


@pytest.fixture(scope="module")
def engine(database_url):
    engine = make_engine({"sqlalchemy.url": database_url, "sqlalchemy.pool_size": 2})
    with engine.begin() as conn:
        fill(conn, random.Random(16))
    yield engine
    engine.dispose()


def placed(day: dt.date, rng: random.Random) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(seconds=rng.randrange(86400))


def add_order(conn, rng: random.Random, user_id: int, book_ids: list[int], day: dt.date, status: str) -> int:
    lines = [(rng.choice(book_ids), rng.randint(1, 3), Decimal(rng.randint(100, 5000)) / 100) for _ in range(3)]
    subtotal = sum(q * p for _, q, p in lines)
    order_id = conn.execute(
        text(
            "INSERT INTO orders (user_id, status, subtotal, shipping, total, currency, ship_name, ship_line1, "
            "ship_city, ship_postal_code, ship_country, payment_brand, payment_last4, payment_reference, created_at, "
            "updated_at) VALUES (:user, :status, :subtotal, 4.99, :total, 'USD', 'R', '1 Lane', 'City', '1000', 'PT', "
            "'visa', '4242', 'ref', :at, :at) RETURNING id"
        ),
        {
            "user": user_id,
            "status": status,
            "subtotal": subtotal,
            "total": subtotal + Decimal("4.99"),
            "at": placed(day, rng),
        },
    ).scalar()
    for book_id, quantity, price in lines[: rng.randint(1, 3)]:
        conn.execute(
            text(
                "INSERT INTO order_lines (order_id, book_id, title, quantity, unit_price) "
                "VALUES (:order, :book, 'line', :quantity, :price)"
            ),
            {"order": order_id, "book": book_id, "quantity": quantity, "price": price},
        )
    return order_id


def fill(conn, rng: random.Random) -> None:
    user_id = conn.execute(
        text("INSERT INTO users (email, name, password_hash) VALUES ('r@example.com', 'R', 'x') RETURNING id")
    ).scalar()
    genre_ids = [
        conn.execute(
            text("INSERT INTO genres (slug, name) VALUES (:slug, :name) RETURNING id"),
            {"slug": slug, "name": slug.title()},
        ).scalar()
        for slug in ("crime", "poetry", "travel", "science")
    ]
    book_ids = []
    for n in range(40):
        book_id = conn.execute(
            text(
                "INSERT INTO books (isbn, title, price, currency, stock_quantity) "
                "VALUES (:isbn, :title, 10, 'USD', 5) RETURNING id"
            ),
            {"isbn": f"97800000{n:05d}", "title": f"Book {n}"},
        ).scalar()
        book_ids.append(book_id)
        for genre_id in rng.sample(genre_ids, rng.randint(0, 2)):
            conn.execute(text("INSERT INTO book_genres VALUES (:b, :g)"), {"b": book_id, "g": genre_id})
    # best sellers stand out (the first books), with a long tail; some days have no order
    weights = [1 / (i + 1) for i in range(len(book_ids))]
    for _ in range(700):
        day = TODAY - dt.timedelta(days=int(rng.random() ** 2 * 400))
        status = rng.choices(STATUSES, [3, 2, 3, 1])[0]
        order_books = rng.choices(book_ids, weights, k=3)
        add_order(conn, rng, user_id, order_books, day, status)


def all_reports(engine, rollups: bool, first_k: int | None = None) -> dict:
    periods = {
        "30": Period(TODAY - dt.timedelta(days=29), TODAY),
        "366": Period(TODAY - dt.timedelta(days=365), TODAY),
        "old": Period(TODAY - dt.timedelta(days=300), TODAY - dt.timedelta(days=41)),
        "1096": Period(TODAY - dt.timedelta(days=1095), TODAY),
    }
    out = {}
    with Session(engine) as session:
        service = ReportService(session, "USD", rollups=rollups)
        if first_k is not None:
            service.FIRST_K = first_k
            service.MAX_K = 8
        for name, period in periods.items():
            if period.days <= 366:
                out[f"sales {name} day"] = service.sales(period, "day")
            out[f"sales {name} week"] = service.sales(period, "week")
            out[f"sales {name} month"] = service.sales(period, "month")
            for by in ("units", "revenue"):
                for limit in (1, 3, 10, 100):
                    out[f"books {name} {by} {limit}"] = service.top_books(period, by, limit)
                out[f"genres {name} {by}"] = service.top_genres(period, by, 10)
    return out


def assert_exact(engine) -> None:
    expected = all_reports(engine, rollups=False)
    assert expected["sales 366 day"]["totals"]["orders"] > 300  # the data is there
    assert len(expected["books 366 units 100"]["items"]) == 40
    for first_k in (None, 1):
        actual = all_reports(engine, rollups=True, first_k=first_k)
        for name, report in expected.items():
            assert actual[name] == report, f"{name} (k={first_k})"


def run(engine, **kwargs):
    return Rollup(engine, settle=dt.timedelta(0)).run(**kwargs)


def state(engine) -> tuple:
    with engine.connect() as conn:
        tables = tuple(
            tuple(conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2")).all()) for table in ROLLUP_TABLES
        )
        through = conn.execute(text("SELECT rolled_through FROM report_rollup_state")).scalar()
        dirty = conn.execute(text("SELECT count(*) FROM report_dirty_days")).scalar()
        changes = conn.execute(text("SELECT count(*) FROM report_genre_changes")).scalar()
    return tables, through, dirty, changes


def test_rollups_stay_exact_through_every_change(engine):
    # the command never ran: every day is computed from the orders
    assert state(engine)[1] is None
    assert_exact(engine)

    first = run(engine)
    tables, through, dirty, changes = state(engine)
    assert through == TODAY - dt.timedelta(days=1) and dirty == 0 and changes == 0
    assert first.days_closed >= 390 and len(tables[2]) > 0  # monthly rows exist
    assert_exact(engine)

    # the second run changes nothing
    again = run(engine)
    assert (again.days_closed, again.days_rerolled, again.genre_changes) == (0, 0, 0)
    assert state(engine)[0] == tables

    # history changes behind the rollups
    rng = random.Random(7)
    with engine.begin() as conn:
        old = (
            conn.execute(
                text(
                    "SELECT id FROM orders WHERE status = 'delivered' AND created_at < now() - interval '60 days' "
                    "ORDER BY id LIMIT 2"
                )
            )
            .scalars()
            .all()
        )
        conn.execute(text("UPDATE orders SET status = 'cancelled' WHERE id = :id"), {"id": old[0]})
        conn.execute(
            text(
                "UPDATE order_lines SET quantity = quantity + 5 WHERE id = (SELECT min(id) FROM order_lines "
                "WHERE order_id = :id)"
            ),
            {"id": old[1]},
        )
        conn.execute(
            text(
                "UPDATE orders SET created_at = created_at - interval '3 days' WHERE id = "
                "(SELECT min(id) FROM orders WHERE status = 'paid' AND created_at < now() - interval '20 days')"
            )
        )
        user_id = conn.execute(text("SELECT id FROM users")).scalar()
        books = conn.execute(text("SELECT id FROM books ORDER BY id")).scalars().all()
        add_order(conn, rng, user_id, books[:3], TODAY - dt.timedelta(days=100), "shipped")
        add_order(conn, rng, user_id, books[:3], TODAY, "paid")
        best = books[0]
        conn.execute(text("DELETE FROM book_genres WHERE book_id = :b"), {"b": best})
        conn.execute(
            text("INSERT INTO book_genres SELECT :b, id FROM genres WHERE slug IN ('poetry', 'science')"), {"b": best}
        )
    _, _, dirty, changes = state(engine)
    assert dirty >= 4 and changes >= 2  # the triggers saw them
    assert_exact(engine)  # exact before the command runs again

    rerun = run(engine)
    assert rerun.days_rerolled >= 4 and rerun.genre_changes >= 2
    tables, _, dirty, changes = state(engine)
    assert dirty == 0 and changes == 0
    assert_exact(engine)

    # rolling everything again from scratch gives the same rows
    run(engine, since=TODAY - dt.timedelta(days=1000))
    assert state(engine)[0] == tables

    # days after the watermark come from the orders
    with engine.begin() as conn:
        conn.execute(text("UPDATE report_rollup_state SET rolled_through = :d"), {"d": TODAY - dt.timedelta(days=45)})
        conn.execute(text("DELETE FROM sales_daily WHERE day > :d"), {"d": TODAY - dt.timedelta(days=45)})
    assert_exact(engine)
    closing = run(engine)
    assert closing.days_closed == 44
    assert state(engine)[0] == tables


def test_cli_is_idempotent(engine, database_url, monkeypatch, capsys, services):
    monkeypatch.setenv("BOOKSTORE_DATABASE_URL", database_url)
    monkeypatch.setenv("BOOKSTORE_REDIS_URL", services.redis_url)
    assert cli(["rollup-reports", "--settle-minutes", "0"]) == 0
    before = state(engine)
    assert cli(["rollup-reports", "--settle-minutes", "0"]) == 0
    assert "0 days closed, 0 days rolled again, 0 genre changes folded" in capsys.readouterr().out
    assert state(engine) == before
    assert cli(["rollup-reports", "--since", "yesterday"]) == 2


def test_a_day_closes_only_after_it_settled():
    midnight = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    settle = dt.timedelta(minutes=15)
    assert last_closable_day(midnight + dt.timedelta(minutes=14), settle) == dt.date(2026, 2, 28)
    assert last_closable_day(midnight + dt.timedelta(minutes=15), settle) == dt.date(2026, 3, 1)
