"""Seeding rate and search latency on a generated catalog, timed in-process.

Starts its own PostgreSQL and Redis (embedded, non-durable) unless
BOOKSTORE_DATABASE_URL / BOOKSTORE_REDIS_URL are set, seeds N books, then runs 20
typical searches through the WSGI app (WebTest, no network) R times each and
prints p50/p99. Prints numbers; asserts nothing.

    .venv/bin/python bench/search_latency.py --books 100000 --rounds 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import in_process_api, services  # noqa: E402

QUERIES = [
    {"q": "hobbit"},
    {"q": "hobit"},
    {"q": "tolkein"},
    {"q": "dragon prophecy"},
    {"q": "lighthouse"},
    {"q": "the silent river"},
    {"q": "murder mystery detective"},
    {"q": "kyoto"},
    {"q": "garcia"},
    {"q": "ocean voyage", "sort": "price"},
    {"genre": "fantasy"},
    {"genre": "history", "sort": "newest"},
    {"q": "summer", "in_stock": "true"},
    {"min_price": "10", "max_price": "20", "sort": "price"},
    {"sort": "bestselling"},
    {"q": "jane austen"},
    {"q": "secret letter", "genre": "romance"},
    {"q": "machine"},
    {"sort": "title", "page": "50"},
    {"q": "wizard", "sort": "rating"},
]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", help="write results to this file")
    args = parser.parse_args()

    import webtest

    from bookstore_api.cli.migrate import upgrade
    from bookstore_api.infra.db import make_engine
    from bookstore_dev.seed import seed_catalog

    with services("bench_search") as (database_url, redis_url):
        upgrade(database_url)
        settings = {"sqlalchemy.url": database_url, "redis.url": redis_url, "bookstore.log_level": "WARNING"}
        engine = make_engine(settings)
        seeded = seed_catalog(engine, books=args.books, seed=1, progress=False)
        engine.dispose()
        print(f"seeded {seeded.books:,} books in {seeded.seconds:.2f}s = {seeded.rate:,.0f} books/s")

        app = webtest.TestApp(in_process_api(database_url, redis_url))
        for params in QUERIES:  # warm caches and connections
            app.get("/api/v1/books", params=params)
        timings: list[float] = []
        per_query: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for params in QUERIES:
                started = time.perf_counter()
                app.get("/api/v1/books", params=params)
                elapsed = (time.perf_counter() - started) * 1000
                timings.append(elapsed)
                per_query.setdefault(json.dumps(params), []).append(elapsed)
        result = {
            "books": args.books,
            "seed_seconds": round(seeded.seconds, 2),
            "seed_rate": round(seeded.rate),
            "search_p50_ms": round(statistics.median(timings), 2),
            "search_p99_ms": round(percentile(timings, 99), 2),
            "search_max_ms": round(max(timings), 2),
            "slowest_queries": sorted(
                ((q, round(statistics.median(v), 2)) for q, v in per_query.items()), key=lambda x: -x[1]
            )[:5],
        }
        print(json.dumps(result, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
