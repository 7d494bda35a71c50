"""Webhook delivery throughput: signed deliveries per second to a receiver on 127.0.0.1.

Queues N deliveries (events of N/3 orders, three per order, so the in-order rule is
exercised), starts a small fast HTTP receiver in its own process (it answers 204
and counts), then runs ``bookstore deliver-webhooks`` (the real command, W worker
processes sharing the queue with ``FOR UPDATE SKIP LOCKED``) until every delivery
is delivered. Checks that the receiver got each delivery exactly once, each order's
events in order, and that signatures verify. Prints numbers; asserts nothing.

    .venv/bin/python bench/webhooks.py --deliveries 3000 --workers 2
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common import ROOT, rss_mb, services

from bookstore_dev.servers import free_port


def receiver_process(port: int, secret: str, ready) -> None:
    """Answers 204 to every POST; GET returns what it saw (count, duplicates, order breaks, bad signatures)."""
    seen: set[str] = set()
    last_type: dict[int, int] = {}
    stats = {"received": 0, "duplicates": 0, "out_of_order": 0, "bad_signatures": 0}
    rank = {"order.paid": 0, "order.shipped": 1, "order.delivered": 2}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            delivery = self.headers["Bookstore-Delivery"]
            stats["received"] += 1
            if delivery in seen:
                stats["duplicates"] += 1
            seen.add(delivery)
            fields = dict(part.split("=", 1) for part in self.headers["Bookstore-Signature"].split(","))
            expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, fields["v1"]):
                stats["bad_signatures"] += 1
            event = json.loads(body)
            order_id, position = event["data"]["id"], rank[event["type"]]
            if last_type.get(order_id, -1) != position - 1:
                stats["out_of_order"] += 1
            last_type[order_id] = position
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            payload = json.dumps(stats).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 512  # the listen backlog: every worker thread connects at once

    server = Server(("127.0.0.1", port), Handler)
    ready.set()
    server.serve_forever()


def receiver_stats(port: int) -> dict:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/")
    return json.loads(connection.getresponse().read())


def run(database_url: str, deliveries: int = 3000, workers: int = 2, concurrency: int = 8) -> dict:
    import psycopg2

    from bookstore_api.cli.migrate import upgrade
    from bookstore_api.settings import build_settings
    from bookstore_api.webhooks.signing import new_secret, secret_box

    upgrade(database_url)
    env = dict(
        os.environ,
        BOOKSTORE_DATABASE_URL=database_url,
        BOOKSTORE_ENV="development",
        BOOKSTORE_WEBHOOKS_ALLOW_LOOPBACK="true",
        BOOKSTORE_LOG_LEVEL="WARNING",
    )
    box = secret_box(build_settings({}, env))
    secret = new_secret()
    port = free_port()
    orders = deliveries // 3
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO webhook_endpoints (url, events, secret_ciphertext) VALUES (%s, %s, %s) RETURNING id",
            (
                f"http://127.0.0.1:{port}/hooks",
                ["order.paid", "order.shipped", "order.delivered"],
                box.encrypt(secret),
            ),
        )
        endpoint_id = cursor.fetchone()[0]
        # three events per order, in the order they happen, each with a realistic order body
        cursor.execute(
            """
            INSERT INTO webhook_events (id, type, ordering_key, data, created_at)
            SELECT gen_random_uuid(), kind.type, 'order:' || o, jsonb_build_object(
                       'id', o, 'status', kind.status, 'total', '27.49', 'currency', 'USD',
                       'lines', jsonb_build_array(jsonb_build_object('book_id', 7, 'title', 'A Book',
                                                                     'quantity', 2, 'unit_price', '11.25'))),
                   now()
            FROM generate_series(1, %s) AS o,
                 (VALUES (0, 'order.paid', 'paid'), (1, 'order.shipped', 'shipped'),
                         (2, 'order.delivered', 'delivered')) AS kind(n, type, status)
            ORDER BY kind.n, o
            """,
            (orders,),
        )
        cursor.execute(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, ordering_key) "
            "SELECT %s, id, type, ordering_key FROM webhook_events "
            "ORDER BY CASE type WHEN 'order.paid' THEN 0 WHEN 'order.shipped' THEN 1 ELSE 2 END, ordering_key",
            (endpoint_id,),
        )
    total = orders * 3

    ready = mp.Event()
    receiver = mp.Process(target=receiver_process, args=(port, secret, ready), daemon=True)
    receiver.start()
    ready.wait(10)
    command = [
        sys.executable,
        "-m",
        "bookstore_api.cli",
        "deliver-webhooks",
        "--interval",
        "0.05",
        "--concurrency",
        str(concurrency),
    ]
    started = time.monotonic()
    procs = [
        subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(workers)
    ]
    peak_rss = 0.0
    try:
        with psycopg2.connect(database_url) as connection:
            connection.autocommit = True
            with connection.cursor() as cursor:
                while True:
                    cursor.execute("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
                    if cursor.fetchone()[0] == 0:
                        break
                    if time.monotonic() - started > 600 or any(p.poll() is not None for p in procs):
                        raise RuntimeError("the webhook workers stopped or took too long")
                    peak_rss = max([peak_rss, *(rss_mb(p.pid) for p in procs)])
                    time.sleep(0.05)
        elapsed = time.monotonic() - started
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
    stats = receiver_stats(port)
    receiver.terminate()
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status = 'delivered'), count(*) FILTER (WHERE attempts > 1), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY last_duration_ms), "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY last_duration_ms) FROM webhook_deliveries"
        )
        delivered, retried, p50, p99 = cursor.fetchone()
    return {
        "deliveries": total,
        "orders": orders,
        "workers": workers,
        "concurrency_per_worker": concurrency,
        "seconds": round(elapsed, 2),
        "deliveries_per_second": round(total / elapsed, 1),
        "delivered": delivered,
        "retried": retried,
        "received": stats["received"],
        "duplicates": stats["duplicates"],
        "out_of_order": stats["out_of_order"],
        "bad_signatures": stats["bad_signatures"],
        "attempt_p50_ms": p50,
        "attempt_p99_ms": p99,
        "worker_peak_rss_mb": round(peak_rss, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2, help="deliver-webhooks processes")
    parser.add_argument("--concurrency", type=int, default=8, help="deliveries in flight per worker")
    args = parser.parse_args()
    with services("bench_webhooks") as (database_url, _redis_url):
        result = run(database_url, args.deliveries, args.workers, args.concurrency)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
