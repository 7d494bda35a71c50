"""The staff reports' queries at a million books and a million orders.

Starts its own PostgreSQL and Redis (embedded, non-durable, shared_buffers 1 GB)
unless BOOKSTORE_DATABASE_URL / BOOKSTORE_REDIS_URL are set. Seeds the catalogue
with the ``bookstore seed`` machinery (``bookstore_dev.seed.seed_catalog``), then
bulk-inserts customers, orders spread over the last two years (a tenth of them
cancelled) and one to three lines each with SQL ``generate_series`` (best sellers
skewed towards a few books), runs ``VACUUM ANALYZE``, builds the rollups with
``bookstore rollup-reports`` (timed), and times each report query through
``ReportService`` (the code the API runs) three ways in the same run: computed
from the orders (``rollups=False``), from the rollups, and from the rollups after 20
old orders on 20 different days were cancelled behind them (those days computed
live); then times rolling those 20 days again. First run and median of the next
five. Writes bench/results/reports-<time>.json (with the load average); asserts nothing.

    .venv/bin/python bench/reports.py --books 1000000 --orders 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import services  # noqa: E402

USERS = 1000

INSERT_USERS = """
INSERT INTO users (email, name, password_hash)
SELECT 'bench-' || g || '@example.com', 'Bench ' || g, 'not-a-hash' FROM generate_series(1, :users) g
"""

INSERT_ORDERS = """
INSERT INTO orders (user_id, status, subtotal, shipping, total, currency, ship_name, ship_line1, ship_city,
                    ship_postal_code, ship_country, payment_brand, payment_last4, payment_reference, created_at, updated_at)
SELECT u.first_id + (g % :users), status, subtotal, shipping, subtotal + shipping, 'USD', 'Bench', '1 Lane', 'City',
       '1000', 'PT', 'visa', '4242', 'bench-' || g, placed, placed
FROM (SELECT min(id) AS first_id FROM users WHERE email LIKE 'bench-%') u,
LATERAL (
    SELECT g, CASE WHEN r < 0.1 THEN 'cancelled' WHEN r < 0.55 THEN 'delivered' WHEN r < 0.8 THEN 'shipped' ELSE 'paid' END AS status,
           s AS subtotal, CASE WHEN s >= 50 THEN 0 ELSE 4.99 END AS shipping,
           now() - random() * interval '730 days' AS placed
    FROM (SELECT g, random() AS r, round((5 + random() * 95)::numeric, 2) AS s
          FROM generate_series(1, :orders) g) x
) o
"""

INSERT_LINES = """
INSERT INTO order_lines (order_id, book_id, title, quantity, unit_price)
SELECT o.id, b.first_id + floor(b.span * power(random(), 3))::bigint, 'Bench line',
       1 + floor(random() * 3)::int, round((3 + random() * 57)::numeric, 2)
FROM (SELECT min(id) AS first_id, max(id) - min(id) + 1 AS span FROM books) b,
     orders o, generate_series(1, 1 + (o.id % 3)::int) s
"""


def timed(run, repeats: int = 5) -> dict:
    started = time.perf_counter()
    run()
    first = time.perf_counter() - started
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        runs.append(time.perf_counter() - started)
    return {
        "first_ms": round(first * 1000, 1),
        "median_ms": round(statistics.median(runs) * 1000, 1),
        "best_ms": round(min(runs) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    args = parser.parse_args()

    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from bookstore_api.cli.migrate import upgrade
    from bookstore_api.infra.db import make_engine
    from bookstore_api.reports.rollup import Rollup
    from bookstore_api.reports.services import Period, ReportService
    from bookstore_dev.seed import seed_catalog

    results: dict = {"books": args.books, "orders": args.orders, "timings": {}, "loading": {}, "rollup": {}}
    with services("bench_reports") as (database_url, _redis_url):
        upgrade(database_url)
        engine = make_engine({"sqlalchemy.url": database_url, "sqlalchemy.pool_size": 2})
        started = time.monotonic()
        seed_catalog(engine, books=args.books, seed=1, progress=False)
        results["loading"]["seed_books_s"] = round(time.monotonic() - started, 1)
        print(f"seeded {args.books:,} books in {results['loading']['seed_books_s']} s", flush=True)
        with engine.begin() as connection:
            connection.execute(text("SET statement_timeout = 0"))
            connection.execute(text("SET synchronous_commit = off"))
            for name, statement, params in (
                ("users", INSERT_USERS, {"users": USERS}),
                ("orders", INSERT_ORDERS, {"users": USERS, "orders": args.orders}),
                ("order_lines", INSERT_LINES, {}),
            ):
                started = time.monotonic()
                count = connection.execute(text(statement), params).rowcount
                results["loading"][f"insert_{name}_s"] = round(time.monotonic() - started, 1)
                print(f"inserted {count:,} {name} in {results['loading'][f'insert_{name}_s']} s", flush=True)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("SET statement_timeout = 0"))
            started = time.monotonic()
            connection.execute(text("VACUUM ANALYZE orders, order_lines, books, book_genres"))
            connection.execute(text("CHECKPOINT"))
            results["loading"]["vacuum_analyze_s"] = round(time.monotonic() - started, 1)
            results["order_lines"] = connection.execute(text("SELECT count(*) FROM order_lines")).scalar()

        today = dt.datetime.now(dt.UTC).date()

        def last(days: int) -> Period:
            return Period(today - dt.timedelta(days=days - 1), today)

        cases = {
            "sales 30 days by day": lambda s: s.sales(last(30), "day"),
            "sales 366 days by day": lambda s: s.sales(last(366), "day"),
            "sales 366 days by week": lambda s: s.sales(last(366), "week"),
            "sales 1096 days by month": lambda s: s.sales(last(1096), "month"),
            "top books 30 days by revenue": lambda s: s.top_books(last(30), "revenue", 10),
            "top books 366 days by units": lambda s: s.top_books(last(366), "units", 10),
            "top books 366 days by revenue": lambda s: s.top_books(last(366), "revenue", 10),
            "top books 1096 days by units": lambda s: s.top_books(last(1096), "units", 10),
            "top genres 30 days": lambda s: s.top_genres(last(30), "revenue", 10),
            "top genres 366 days": lambda s: s.top_genres(last(366), "revenue", 10),
            "stock (slow movers, 90 days)": lambda s: s.stock(90, 20),
        }
        rollup = Rollup(engine, settle=dt.timedelta(0))
        results["load_average_before"] = os.getloadavg()
        built = rollup.run()
        results["rollup"]["build_s"] = round(built.seconds, 1)
        results["rollup"]["build"] = built.summary()
        print(f"built the rollups: {built.summary()}", flush=True)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("SET statement_timeout = 0"))
            connection.execute(
                text("VACUUM ANALYZE sales_daily, book_sales_daily, book_sales_monthly, genre_sales_daily")
            )
            for table in ("sales_daily", "book_sales_daily", "book_sales_monthly", "genre_sales_daily"):
                results["rollup"][f"{table}_rows"] = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()

        def measure(label: str, rollups: bool) -> None:
            with Session(engine) as session:
                session.execute(text("SET statement_timeout = 0"))
                service = ReportService(session, "USD", rollups=rollups)
                for name, case in cases.items():
                    timing = timed(lambda case=case: case(service))
                    results["timings"].setdefault(name, {})[label] = timing
                    print(
                        f"{label:8s} {name:34s} first {timing['first_ms']:8.1f} ms   median {timing['median_ms']:8.1f} ms",
                        flush=True,
                    )
                session.rollback()

        with Session(engine) as session:
            checks = {}
            for rollups in (False, True):
                service = ReportService(session, "USD", rollups=rollups)
                checks[rollups] = [case(service) for case in cases.values()]
                session.rollback()
            results["rollup_equals_raw"] = checks[False] == checks[True]
            results["sample_30_day_totals"] = checks[True][0]["totals"]
        print(f"rollup reports equal the raw ones: {results['rollup_equals_raw']}", flush=True)
        measure("raw", False)
        measure("rollup", True)
        with engine.begin() as connection:
            cancelled = connection.execute(
                text(
                    "UPDATE orders SET status = 'cancelled' WHERE id IN ("
                    " SELECT DISTINCT ON (CAST(created_at AS date)) id FROM orders"
                    " WHERE status = 'delivered' AND created_at < now() - interval '40 days'"
                    " AND created_at > now() - interval '340 days' ORDER BY CAST(created_at AS date), id LIMIT 20)"
                )
            ).rowcount
        results["rollup"]["dirty_orders"] = cancelled
        measure("dirty", True)
        rerolled = rollup.run()
        results["rollup"]["reroll_s"] = round(rerolled.seconds, 1)
        results["rollup"]["reroll"] = rerolled.summary()
        print(f"rolled the changed days again: {rerolled.summary()}", flush=True)
        results["load_average_after"] = os.getloadavg()
    out = ROOT / "bench" / "results" / f"reports-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
