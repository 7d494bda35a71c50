"""Checkout throughput: 32 concurrent buyers over 10 hot books, through waitress.

Starts PostgreSQL and Redis (embedded unless configured), serves the API with
``bookstore serve api`` in its own process, registers 32 buyers and lets them
check out one or two of 10 hot books in a loop for a fixed time (the stock runs
out part-way, so sold-out answers are exercised too). Then checks that nothing
was oversold: stock never negative, every order line matched by a ledger row,
stock + sold = initial for every book. Prints numbers; asserts nothing.

    .venv/bin/python bench/checkout.py --seconds 20
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
from common import api_server, rss_mb, services

TODAY = dt.date.today()
CARD = {"card_number": "4242424242424242", "expiry": f"{TODAY.month:02d}/{(TODAY.year + 4) % 100:02d}", "cvc": "123"}
ADDRESS = {"name": "Bench Buyer", "line1": "1 Load St", "city": "Porto", "postal_code": "4000", "country": "PT"}


def buyer_process(base: str, tokens: list[str], books: list[int], seconds: float, out: mp.Queue) -> None:
    counts = {"ok": 0, "sold_out": 0, "other": 0}
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def buyer(token: str, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
            while time.monotonic() < deadline:
                picks = rng.sample(books, rng.choice((1, 1, 2)))
                body = {
                    "items": [{"book_id": b, "quantity": 1} for b in picks],
                    "shipping_address": ADDRESS,
                    "payment": CARD,
                }
                started = time.perf_counter()
                response = client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
                elapsed = time.perf_counter() - started
                kind = "ok" if response.status_code == 201 else "sold_out" if response.status_code == 409 else "other"
                with lock:
                    counts[kind] += 1
                    if kind == "ok":
                        latencies.append(elapsed)

    threads = [threading.Thread(target=buyer, args=(t, i)) for i, t in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((counts, latencies))


def wrk_buyers(base: str, tokens: list[str], books: list[int], buyers: int, seconds: float):
    """The buyers as wrk connections (a C load generator leaves the CPU to the server)."""
    script = Path(__file__).parent / "wrk" / "checkout.lua"
    command = [
        "wrk",
        "-t2",
        f"-c{buyers}",
        f"-d{int(seconds)}s",
        "--latency",
        "--timeout",
        "30s",
        "-s",
        str(script),
        base,
    ]
    output = subprocess.run(
        [*command, "--", ",".join(tokens), ",".join(map(str, books))], capture_output=True, text=True, check=True
    ).stdout
    statuses = {int(code): int(count) for code, count in re.findall(r"^status (\d+) (\d+)$", output, re.M)}
    p50 = float(re.search(r"^latency_p50_ms ([\d.]+)$", output, re.M).group(1))
    p99 = float(re.search(r"^latency_p99_ms ([\d.]+)$", output, re.M).group(1))
    counts = {
        "ok": statuses.get(201, 0),
        "sold_out": statuses.get(409, 0),
        "other": sum(n for code, n in statuses.items() if code not in (201, 409)),
    }
    return counts, round(p50, 1), round(p99, 1)


def run(
    database_url: str,
    redis_url: str,
    buyers: int,
    seconds: float,
    stock: int,
    processes: int,
    threads: int | None = None,
    load_generator: str = "wrk" if shutil.which("wrk") else "httpx",
) -> dict:
    import psycopg2

    from bookstore_api.cli.migrate import upgrade
    from bookstore_dev.seed import make_isbn

    upgrade(database_url)
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        books = []
        for index in range(10):
            cursor.execute(
                "INSERT INTO books (isbn, title, price, currency, stock_quantity) VALUES (%s, %s, 12.50, 'USD', %s) RETURNING id",
                (make_isbn(900_000_000 + index), f"Hot Book {index}", stock),
            )
            books.append(cursor.fetchone()[0])
    # every buyer signs up from this one address: lift the per-address sign-up limit for the run
    signups = {"BOOKSTORE_SIGNUP_MAX_PER_ADDRESS": str(max(100, 2 * buyers))}
    with api_server(database_url, redis_url, threads=threads, extra_env=signups) as (base, proc):
        tokens = []
        with httpx.Client(base_url=base, timeout=30) as client:
            for index in range(buyers):
                email = f"bench-{index}@example.com"
                client.post("/api/v1/users", json={"email": email, "password": "bench password", "name": f"B{index}"})
                tokens.append(
                    client.post("/api/v1/auth/tokens", json={"email": email, "password": "bench password"}).json()[
                        "token"
                    ]
                )
        started = time.monotonic()
        if load_generator == "wrk":
            counts, p50, p99 = wrk_buyers(base, tokens, books, buyers, seconds)
            elapsed = time.monotonic() - started
        else:
            queue: mp.Queue = mp.Queue()
            per = [tokens[i::processes] for i in range(processes)]
            workers = [mp.Process(target=buyer_process, args=(base, chunk, books, seconds, queue)) for chunk in per]
            for worker in workers:
                worker.start()
            results = [queue.get() for _ in workers]
            for worker in workers:
                worker.join()
            elapsed = time.monotonic() - started
            counts = {"ok": 0, "sold_out": 0, "other": 0}
            latencies: list[float] = []
            for part, lat in results:
                for key in counts:
                    counts[key] += part[key]
                latencies += lat
            latencies.sort()
            p50 = round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None
            p99 = round(latencies[int(len(latencies) * 0.99)] * 1000, 1) if latencies else None
        server_rss = rss_mb(proc.pid)

    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT b.id, b.stock_quantity, COALESCE((SELECT sum(quantity) FROM order_lines l WHERE l.book_id = b.id), 0),"
            " COALESCE((SELECT -sum(delta) FROM stock_movements m WHERE m.book_id = b.id), 0) FROM books b"
        )
        rows = cursor.fetchall()
    oversold = [r for r in rows if r[1] < 0 or r[1] + r[2] != stock or r[2] != r[3] or r[2] > stock]
    return {
        "buyers": buyers,
        "seconds": round(elapsed, 1),
        "orders": counts["ok"],
        "orders_per_second": round(counts["ok"] / elapsed, 1),
        "sold_out_answers": counts["sold_out"],
        "errors": counts["other"],
        "p50_ms": p50,
        "p99_ms": p99,
        "load_generator": load_generator,
        "copies_sold": sum(r[2] for r in rows),
        "copies_available_at_start": stock * len(rows),
        "oversold_books": len(oversold),
        "api_peak_rss_mb": round(server_rss, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--stock", type=int, default=300, help="copies of each hot book")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--threads", type=int, default=None, help="API server threads (default: the product's)")
    parser.add_argument("--client", choices=["wrk", "httpx"], default="wrk" if shutil.which("wrk") else "httpx")
    args = parser.parse_args()
    with services("bench_checkout") as (database_url, redis_url):
        result = run(
            database_url, redis_url, args.buyers, args.seconds, args.stock, args.processes, args.threads, args.client
        )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
