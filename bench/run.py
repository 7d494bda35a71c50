"""The benchmark suite: seeding, search latency and throughput through the real servers, in one run.

1. Seeds a fresh database in stages (10k, then grown to 100k, then to 1,000,000 books)
   and times each stage; at each size times 20 typical searches in-process (WebTest,
   no network), uncached (the API's Redis keys deleted before every query) and cached.
2. Serves the API (``bookstore serve api``) and the storefront (``bookstore serve web``,
   when ``bookstore_web`` is installed) as their own processes on loopback and loads
   each target with ``wrk`` for the same duration, one after another, at each connection
   count (``--connections``, default 16 and 64): ``/healthz`` (the ceiling, measured first,
   in the middle and last), a book cached and uncached, a mix of 20 searches, the
   storefront's ``/healthz``, home, catalogue (plain, and with filters and sorts), search
   results, author, genre and book pages.
3. Checkout orders/s (32 buyers, 10 hot books) with the oversell check, on databases of
   its own: one run with enough stock to measure the rate and, in the full run, one
   short run that sells out (so the last copies are fought over); and the same load
   with one shared 10 % voucher on every order, with a cap and without, next to the
   plain run (the ratio is what counting voucher uses exactly costs).
4. Webhook deliveries/s: ``bookstore deliver-webhooks`` (two worker processes) sending signed
   events to a small receiver on 127.0.0.1, with the exactly-once, in-order and signature checks.
5. Peak RSS (VmHWM) of every server process.

Prints a table with each figure, its ratio to ``/healthz`` req/s at the same connection
count (the API's for API figures, the storefront's for its pages) and the targets of
issues 7 and 17 (PASS/MISS is information only: the exit status is 0 unless the
suite itself breaks), and writes everything to ``bench/results/<UTC timestamp>.json``.

    .venv/bin/python bench/run.py            # the full run (1,000,000 books, ~10-15 min)
    .venv/bin/python bench/run.py --quick    # ~2 min: 100k books, short loads
    .venv/bin/python bench/run.py --checkout-only   # just the checkout runs (plain, voucher, sell-out)
    .venv/bin/python bench/run.py --stages 10000 --no-checkout --no-webhooks --connections 8,16,32,64
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
import warnings
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode, urlsplit

warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import checkout  # noqa: E402
import webhooks  # noqa: E402
from common import (  # noqa: E402
    ROOT,
    api_server,
    environment,
    fresh_database,
    in_process_api,
    parse_wrk,
    rss_mb,
    services,
    session_cookie,
    web_server,
)
from search_latency import QUERIES, percentile  # noqa: E402

WRK_SCRIPTS = BENCH / "wrk"
RESULTS = BENCH / "results"

PROFILES = {
    "full": {
        "stages": [10_000, 100_000, 1_000_000],
        "wrk_seconds": 10,
        "warmup_seconds": 2,
        "uncached_rounds": 5,
        "cached_rounds": 20,
        "search_budget_seconds": 40,
        "checkout_seconds": 15,
        "checkout_stock": 1000,
        "sellout_seconds": 5,
        "webhook_deliveries": 6000,
    },
    "quick": {
        "stages": [10_000, 100_000],
        "wrk_seconds": 3,
        "warmup_seconds": 1,
        "uncached_rounds": 3,
        "cached_rounds": 10,
        "search_budget_seconds": 8,
        "checkout_seconds": 6,
        "checkout_stock": 500,
        "sellout_seconds": None,  # the sell-out run costs ~30 s of set-up
        "webhook_deliveries": 3000,
    },
}

HEALTHZ_RUNS = ("api_healthz", "api_healthz_mid", "api_healthz_end")  # the ceiling is their mean
#: the storefront pages measured against the storefront's own /healthz at the same connection count
WEB_PAGES = ("web_home", "web_catalog", "web_catalog_filtered", "web_search", "web_author", "web_genre")
HOT_BOOKS = 16  # the "cached" book targets cycle through this many ids
MILLION = 1_000_000

TARGETS = {
    "seed_seconds": 120.0,
    "search_p99_uncached_ms": 50.0,
    "search_p99_cached_ms": 5.0,
    "search_p99_growth": 2.0,
    "api_book_cached_ratio": 0.6,
    "api_book_uncached_ratio": 0.25,
    "api_search_mix_ratio": 0.5,
    "web_book_ratio": 0.35,
    "web_page_ratio": 0.3,
    "checkout_orders_per_second": 150.0,
    "checkout_voucher_ratio": 0.8,
    "rss_mb": 150.0,
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- machine


def machine_info() -> dict:
    def command(*args: str) -> str | None:
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=10, cwd=ROOT).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            return None

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or None,
    )
    mem = next((line.split()[1] for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal:")), None)
    dirty = command("git", "status", "--porcelain", "--", "bookstore_api", "bookstore_web")
    wrk_version = command("wrk", "--version") if shutil.which("wrk") else None
    return {
        "nproc": int(command("nproc") or os.cpu_count() or 0),
        "loadavg_at_start": list(os.getloadavg()),
        "cpu_model": cpu,
        "mem_total_mb": round(int(mem) / 1024) if mem else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wrk": wrk_version.splitlines()[0] if wrk_version else None,
        "git_commit": command("git", "rev-parse", "HEAD"),
        "uncommitted_app_changes": dirty.splitlines() if dirty else [],
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


# --------------------------------------------------------------------------- seeding and search


def seeding_engine(database_url: str):
    """The engine ``bookstore seed`` uses, without its 15 s statement timeout (index rebuilds at 1M take longer)."""
    from sqlalchemy import event

    from bookstore_api.infra.db import make_engine

    engine = make_engine({"sqlalchemy.url": database_url}, application_name="bookstore seed")

    @event.listens_for(engine, "connect")
    def _no_statement_timeout(dbapi_connection, _record) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")
        dbapi_connection.commit()

    return engine


def redis_client(redis_url: str):
    import redis

    return redis.Redis.from_url(redis_url, socket_timeout=5)


def delete_prefix(client, prefix: str) -> int:
    """Delete every Redis key under ``prefix`` (the benchmark's own prefixes only)."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=prefix + "*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.delete(*batch)
            batch.clear()
    if batch:
        deleted += client.delete(*batch)
    return deleted


def summary(samples: list[float]) -> dict:
    if not samples:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 50), 2),
        "p99_ms": round(percentile(samples, 99), 2),
        "max_ms": round(max(samples), 2),
    }


def search_latency(database_url: str, redis_url: str, prefix: str, profile: dict) -> dict:
    """20 typical searches through the WSGI app: uncached (cache keys deleted before each) and cached."""
    import webtest

    client = redis_client(redis_url)
    router = in_process_api(database_url, redis_url, prefix)
    app = webtest.TestApp(router)
    statuses: Counter = Counter()

    def timed(params: dict) -> float:
        started = time.perf_counter()
        response = app.get("/api/v1/books", params=params, expect_errors=True)
        elapsed = (time.perf_counter() - started) * 1000
        statuses[response.status_int] += 1
        return elapsed

    def rounds(count: int, flush: bool) -> tuple[list[float], dict[str, list[float]]]:
        samples: list[float] = []
        per_query: dict[str, list[float]] = {}
        deadline = time.monotonic() + profile["search_budget_seconds"]
        for done in range(count):
            if done >= 2 and time.monotonic() > deadline:
                break
            for params in QUERIES:
                if flush:
                    delete_prefix(client, prefix)
                elapsed = timed(params)
                samples.append(elapsed)
                per_query.setdefault(urlencode(params), []).append(elapsed)
        return samples, per_query

    def slowest(per_query: dict[str, list[float]]) -> list:
        medians = ((query, round(percentile(values, 50), 2)) for query, values in per_query.items())
        return sorted(medians, key=lambda item: -item[1])[:5]

    try:
        for params in QUERIES:  # connections, imports, PostgreSQL's buffers
            timed(params)
        uncached, uncached_per_query = rounds(profile["uncached_rounds"], flush=True)
        delete_prefix(client, prefix)
        for params in QUERIES:  # fill the cache
            timed(params)
        cached, cached_per_query = rounds(profile["cached_rounds"], flush=False)
        keys = sum(1 for _ in client.scan_iter(match=prefix + "*", count=1000))
        delete_prefix(client, prefix)
    finally:
        registry = getattr(router, "registry", None)
        engine = registry.get("dbengine") if registry is not None else None
        if engine is not None:
            engine.dispose()
        client.close()
    return {
        "uncached": summary(uncached),
        "cached": summary(cached),
        "slowest_uncached": slowest(uncached_per_query),
        "slowest_cached": slowest(cached_per_query),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "redis_keys_after_cached_pass": keys,
    }


def settle(engine) -> float:
    """Let the seed's writes reach the disk before timing searches; return how long that took.

    A million-book load leaves about a gigabyte of dirty pages: written back while the
    searches run, they would be measured as search latency.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    started = time.monotonic()
    try:
        with engine.connect() as connection:
            connection.execute(text("CHECKPOINT"))
    except DBAPIError:  # not a superuser on a configured server: the OS flush below still helps
        pass
    os.sync()
    time.sleep(1)
    return round(time.monotonic() - started, 2)


def seed_and_search(database_url: str, redis_url: str, profile: dict, results: dict) -> None:
    from bookstore_api.cli.migrate import upgrade
    from bookstore_dev.seed import catalog_size, seed_catalog

    started = time.monotonic()
    upgrade(database_url)
    results["migrate_seconds"] = round(time.monotonic() - started, 2)
    engine = seeding_engine(database_url)
    stages = results.setdefault("stages", [])
    previous = 0
    try:
        for number, size in enumerate(profile["stages"], start=1):
            add = size - previous
            log(f"seeding {add:,} books (catalog {previous:,} -> {size:,})")
            seeded = seed_catalog(engine, books=add, seed=number, progress=False)
            previous = size
            stage = {
                "books": catalog_size(engine),
                "added": add,
                "seed_seconds": round(seeded.seconds, 2),
                "seed_rate": round(seeded.rate),
            }
            stages.append(stage)
            log(f"  {seeded.seconds:.1f} s ({seeded.rate:,.0f} books/s); timing searches at {stage['books']:,} books")
            stage["settle_seconds"] = settle(engine)
            stage["search"] = search_latency(database_url, redis_url, f"bench-search-{os.getpid()}-{number}:", profile)
            s = stage["search"]
            log(
                f"  search uncached p50 {s['uncached']['p50_ms']} ms p99 {s['uncached']['p99_ms']} ms; "
                f"cached p50 {s['cached']['p50_ms']} ms p99 {s['cached']['p99_ms']} ms"
            )
    finally:
        engine.dispose()
    results["seed_total_seconds"] = round(sum(s["seed_seconds"] for s in stages), 2)
    results["seed_final_books"] = stages[-1]["books"] if stages else 0


# --------------------------------------------------------------------------- load through the servers


def run_wrk(base: str, seconds: float, connections: int, threads: int, script: str, args: list[str], cookie: str):
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    command += ["-s", str(WRK_SCRIPTS / script), base + "/", "--", *args]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()[-500:]}")
    return parse_wrk(completed.stdout)


def preflight(base: str, path: str, cookie: str) -> dict:
    """One request, to record the status and the caching headers the code sends."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        started = time.perf_counter()
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        connection.close()
    return {
        "path": path,
        "status": response.status,
        "bytes": len(body),
        "ms": round(elapsed, 2),
        "cache_control": response.getheader("Cache-Control"),
        "etag": response.getheader("ETag"),
        "content_type": response.getheader("Content-Type"),
    }


def catalog_ids(database_url: str) -> tuple[int, int, list[int], list[int], list[str]]:
    """The id range, the hot book ids, a few authors with books and a few genre slugs with books."""
    import psycopg2

    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM books")
        low, high = cursor.fetchone()
        step = max(1, (high - low) // HOT_BOOKS)
        cursor.execute(
            "SELECT id FROM books WHERE id = ANY(%s) ORDER BY id", ([low + i * step for i in range(HOT_BOOKS)],)
        )
        hot = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT DISTINCT author_id FROM book_authors WHERE book_id = ANY(%s) ORDER BY author_id LIMIT 8", (hot,)
        )
        authors = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT g.slug FROM genres g WHERE EXISTS (SELECT 1 FROM book_genres bg WHERE bg.genre_id = g.id)"
            " ORDER BY g.slug LIMIT 8"
        )
        genres = [row[0] for row in cursor.fetchall()]
    connection.close()
    return low, high, hot or [low], authors, genres


#: the storefront's search results pages (what a shopper types in the search box)
WEB_SEARCHES = ["hobbit", "dragon prophecy", "lighthouse", "murder mystery", "kyoto", "jane austen", "wizard", "ocean"]
#: the storefront's catalogue with filters and sorts
WEB_FILTERS = [
    {"genre": "fantasy", "sort": "price"},
    {"min_price": "10", "max_price": "20", "sort": "rating"},
    {"in_stock": "1", "sort": "newest"},
    {"genre": "history", "in_stock": "1", "sort": "title"},
    {"q": "river", "sort": "bestselling"},
    {"min_price": "5", "sort": "price", "page": "3"},
]


def connection_counts(text: str) -> list[int]:
    counts = sorted({int(part) for part in str(text).replace(" ", "").split(",") if part})
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError("connections: positive integers, comma-separated (e.g. 16,64)")
    return counts


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = _read(f"/proc/{pid}/stat").rsplit(")", 1)[-1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if len(fields) > 12 else 0.0


def load_servers(database_url: str, redis_url: str, profile: dict, args: argparse.Namespace, results: dict) -> None:
    """Every target at each connection count; ``results["load"]["<count>"][<target>]``."""
    low, high, hot, authors, genres = catalog_ids(database_url)
    search_paths = ["/api/v1/books?" + urlencode(params) for params in QUERIES]
    api_prefix = f"bench-api-{os.getpid()}:"
    client = redis_client(redis_url)
    load = results.setdefault("load", {})
    results["load_settings"] = {
        "generator": "wrk",
        "threads": args.wrk_threads,
        "connections": args.connections,
        "seconds": profile["wrk_seconds"],
        "warmup_seconds": profile["warmup_seconds"],
        "hot_book_ids": hot,
        "author_ids": authors,
        "genre_slugs": genres,
        "random_id_range": [low, high],
        "server_threads": "product defaults (BOOKSTORE_THREADS, BOOKSTORE_DB_POOL_SIZE unset)",
    }
    try:
        import bookstore_web  # noqa: F401

        have_web = not args.no_web
    except ImportError:
        have_web = False
        log("bookstore_web is not installed: no storefront figures")

    with ExitStack() as stack:
        api_url, api_proc = stack.enter_context(
            api_server(database_url, redis_url, threads=None, extra_env={"BOOKSTORE_REDIS_PREFIX": api_prefix})
        )
        servers = {"api": api_proc}
        web_url, cookie = None, ""
        if have_web:
            web_url, web_proc = stack.enter_context(
                # one Redis namespace, as deployed: the storefront's page cache reads the API's book versions
                web_server(api_url, redis_url, extra_env={"BOOKSTORE_REDIS_PREFIX": api_prefix})
            )
            servers["web"] = web_proc
        book_paths = [f"/api/v1/books/{book_id}" for book_id in hot]
        plan = [
            ("api_healthz", api_url, "paths.lua", ["/healthz"], False),
            ("api_book_cached", api_url, "paths.lua", book_paths, False),
            ("api_book_uncached", api_url, "random_id.lua", ["/api/v1/books/", str(low), str(high)], True),
            ("api_search_mix", api_url, "paths.lua", search_paths, False),
            ("api_healthz_mid", api_url, "paths.lua", ["/healthz"], False),
        ]
        if web_url:
            plan += [
                ("web_healthz", web_url, "paths.lua", ["/healthz"], False),
                ("web_home", web_url, "paths.lua", ["/"], False),
                ("web_catalog", web_url, "paths.lua", ["/books"], False),
                ("web_catalog_filtered", web_url, "paths.lua", ["/books?" + urlencode(f) for f in WEB_FILTERS], False),
                ("web_search", web_url, "paths.lua", ["/books?" + urlencode({"q": q}) for q in WEB_SEARCHES], False),
                ("web_author", web_url, "paths.lua", [f"/authors/{a}" for a in authors] or ["/authors/1"], False),
                (
                    "web_genre",
                    web_url,
                    "paths.lua",
                    ["/books?" + urlencode({"genre": g}) for g in genres] or ["/books"],
                    False,
                ),
                ("web_book", web_url, "paths.lua", [f"/books/{book_id}" for book_id in hot], False),
            ]
        plan.append(("api_healthz_end", api_url, "paths.lua", ["/healthz"], False))
        checked: dict[str, dict] = {}
        for connections in args.connections:
            at = load.setdefault(str(connections), {})
            log(f"load at {connections} connections")
            for name, base, script, script_args, uncached in plan:
                if base == web_url and not cookie:
                    # a returning shopper's session, made after the uncached runs have emptied the namespace
                    cookie = session_cookie(web_url)
                cookie_header = cookie if base == web_url else ""
                paths = script_args if script == "paths.lua" else [f"{script_args[0]}{(low + high) // 2}"]
                try:
                    if name not in checked:
                        # Every path once, in order: records the status and caching headers, and fills the
                        # caches (a first search at 1M books can take a second; it belongs to the uncached
                        # figures); then a short warm-up: imports, templates, pools, caches.
                        checks = [preflight(base, path, cookie_header) for path in paths]
                        checked[name] = checks[0] | {"statuses": dict(Counter(str(c["status"]) for c in checks))}
                        run_wrk(base, profile["warmup_seconds"], 4, 1, script, script_args, cookie_header)
                    elif not uncached:
                        # the last count's uncached run emptied the caches: fill them again, as the first time
                        for path in paths:
                            preflight(base, path, cookie_header)
                    if uncached:
                        delete_prefix(client, api_prefix)
                    server = servers["web" if base == web_url else "api"]
                    cpu_before = process_cpu_seconds(server.pid)
                    result = run_wrk(
                        base,
                        profile["wrk_seconds"],
                        connections,
                        args.wrk_threads,
                        script,
                        script_args,
                        cookie_header,
                    )
                except Exception as exc:
                    log(f"{name} c{connections}: failed: {exc}")
                    results.setdefault("errors", []).append(
                        {"phase": f"load {name} c{connections}", "error": repr(exc)}
                    )
                    continue
                result["preflight"] = checked[name]
                result["loadavg"] = round(os.getloadavg()[0], 2)
                # the server's CPU time per request: unlike req/s, hardly moved by what else the machine runs
                spent = process_cpu_seconds(server.pid) - cpu_before
                result["server_cpu_us_per_request"] = (
                    round(spent / result["requests"] * 1e6) if result["requests"] else None
                )
                at[name] = result
                log(
                    f"{name:<22} c{connections:<3} {result['rps']:>8.0f} req/s  p50 {result['p50_ms']} ms"
                    f"  p99 {result['p99_ms']} ms  status {checked[name]['status']}"
                    f"  errors {result['non_2xx_3xx'] + result['socket_errors']}  load {result['loadavg']}"
                )
                time.sleep(0.3)
        results["rss_mb"] = {name: round(rss_mb(proc.pid), 1) for name, proc in servers.items()}
    delete_prefix(client, api_prefix)
    client.close()


def webhook_run(database_url: str, redis_url: str, profile: dict, results: dict) -> None:
    """Webhook deliveries/s on a database of its own, to a receiver on 127.0.0.1."""
    count = profile["webhook_deliveries"]
    log(f"webhooks: {count} deliveries, 2 workers, to a receiver on 127.0.0.1")
    result = webhooks.run(fresh_database(database_url, "bench_webhooks"), deliveries=count, workers=2)
    results["webhooks"] = result
    log(
        f"  {result['deliveries_per_second']} deliveries/s, {result['duplicates']} duplicates, "
        f"{result['out_of_order']} out of order, {result['bad_signatures']} bad signatures"
    )


def checkout_runs(database_url: str, redis_url: str, profile: dict, results: dict) -> None:
    """Checkout on databases of its own (the oversell check reads every book's stock)."""
    runs = {
        "checkout": ("bench_checkout", profile["checkout_seconds"], profile["checkout_stock"], None),
        # the same load with one shared voucher on every order, right after: the ratio is what exact
        # voucher counting costs (with a cap, every order holds the voucher's row lock to its commit)
        "checkout_voucher": (
            "bench_checkout_voucher",
            profile["checkout_seconds"],
            profile["checkout_stock"],
            "capped",
        ),
        "checkout_voucher_uncapped": (
            "bench_checkout_voucher_uncapped",
            profile["checkout_seconds"],
            profile["checkout_stock"],
            "uncapped",
        ),
    }
    if profile["sellout_seconds"]:
        runs["checkout_sellout"] = ("bench_checkout_sellout", profile["sellout_seconds"], 20, None)
    for name, (database, seconds, stock, voucher) in runs.items():
        with_voucher = f" with a voucher ({voucher}) on every order" if voucher else ""
        log(f"{name}: 32 buyers, 10 hot books, {stock} copies each, {seconds} s{with_voucher}")
        try:
            with environment(BOOKSTORE_REDIS_PREFIX=f"bench-{name}-{os.getpid()}:"):
                url = fresh_database(database_url, database)
                result = checkout.run(
                    url, redis_url, buyers=32, seconds=seconds, stock=stock, processes=2, voucher=voucher
                )
        except Exception as exc:
            log(f"{name}: failed: {exc}")
            results.setdefault("errors", []).append({"phase": name, "error": repr(exc)})
            continue
        finally:
            client = redis_client(redis_url)
            delete_prefix(client, f"bench-{name}-{os.getpid()}:")
            client.close()
        results[name] = result
        log(
            f"  {result['orders_per_second']} orders/s, {result['orders']} orders, {result['sold_out_answers']} sold out,"
            f" {result['errors']} errors, {result['oversold_books']} oversold books"
        )


# --------------------------------------------------------------------------- the table


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else "PASS" if ok else "MISS"


def table_rows(results: dict) -> list[dict]:
    rows: list[dict] = []
    load = results.get("load", {})
    first = load[min(load, key=int)] if load else {}
    ceilings = [first[k]["rps"] for k in HEALTHZ_RUNS if k in first and first[k]["rps"]]
    ceiling = sum(ceilings) / len(ceilings) if ceilings else None
    results["healthz_ceiling_rps"] = round(ceiling, 1) if ceiling else None
    stages = results.get("stages", [])
    at_million = bool(stages) and stages[-1]["books"] >= MILLION

    def add(figure, value, unit="", ratio=None, target="", ok=None, note=""):
        rows.append(
            {"figure": figure, "value": value, "unit": unit, "ratio": ratio, "target": target, "status": verdict(ok)}
            | ({"note": note} if note else {})
        )

    if stages:
        final = stages[-1]["books"]
        total = results.get("seed_total_seconds")
        parts = " + ".join(f"{stage['added']:,}" for stage in stages)
        add(
            f"seed to {final:,} books ({parts})",
            total,
            "s",
            target="<= 120 s at 1M",
            ok=(total <= TARGETS["seed_seconds"]) if at_million else None,
        )
        for stage in stages:
            add(f"  stage +{stage['added']:,}", stage["seed_seconds"], "s", note=f"{stage['seed_rate']:,} books/s")
        for stage in stages:
            search = stage.get("search")
            if not search:
                continue
            last = stage is stages[-1] and at_million
            for mode, limit in (("uncached", "search_p99_uncached_ms"), ("cached", "search_p99_cached_ms")):
                figure = search[mode]
                p99 = figure["p99_ms"]
                bad = {k: v for k, v in search["statuses"].items() if k != "200"}
                add(
                    f"search {stage['books']:,} {mode} p50 / p99",
                    f"{figure['p50_ms']} / {p99}",
                    "ms",
                    target=f"p99 <= {TARGETS[limit]:g} ms" if last else "",
                    ok=(p99 is not None and p99 <= TARGETS[limit]) if last else None,
                    note=f"non-200: {bad}" if bad else "",
                )
        if len(stages) >= 2:
            first, last_stage = stages[0].get("search"), stages[-1].get("search")
            if first and last_stage:
                for mode in ("uncached", "cached"):
                    a, b = first[mode]["p99_ms"], last_stage[mode]["p99_ms"]
                    growth = round(b / a, 2) if a and b else None
                    results.setdefault("search_p99_growth", {})[mode] = growth
                    add(
                        f"search p99 growth {stages[0]['books']:,} -> {stages[-1]['books']:,} {mode}",
                        growth,
                        "x",
                        target="<= 2x (10k -> 1M)",
                        ok=(growth is not None and growth <= TARGETS["search_p99_growth"]) if at_million else None,
                    )

    labels = {
        "api_healthz": "API /healthz (ceiling, first)",
        "api_book_cached": f"API GET /books/{{id}} cached ({HOT_BOOKS} ids)",
        "api_book_uncached": "API GET /books/{id} uncached (random id)",
        "api_search_mix": "API search mix (20 queries)",
        "api_healthz_mid": "API /healthz (ceiling, middle)",
        "web_healthz": "storefront /healthz (web ceiling)",
        "web_home": "storefront home /",
        "web_catalog": "storefront catalogue /books",
        "web_catalog_filtered": f"storefront catalogue, filters + sorts ({len(WEB_FILTERS)})",
        "web_search": f"storefront search results /books?q= ({len(WEB_SEARCHES)})",
        "web_author": "storefront author /authors/{id}",
        "web_genre": "storefront genre /books?genre=",
        "web_book": f"storefront book /books/{{id}} ({HOT_BOOKS} ids)",
        "api_healthz_end": "API /healthz (ceiling, last)",
    }
    ratio_targets = {
        "api_book_cached": TARGETS["api_book_cached_ratio"],
        "api_book_uncached": TARGETS["api_book_uncached_ratio"],
        "api_search_mix": TARGETS["api_search_mix_ratio"],
        "web_book": TARGETS["web_book_ratio"],
        **{key: TARGETS["web_page_ratio"] for key in WEB_PAGES},
    }
    ceilings_at = results.setdefault("healthz_ceiling_rps_at", {})
    for connections, at in sorted(load.items(), key=lambda item: int(item[0])):
        runs = [at[k]["rps"] for k in HEALTHZ_RUNS if k in at and at[k]["rps"]]
        api_ceiling = sum(runs) / len(runs) if runs else None
        web_ceiling = at["web_healthz"]["rps"] if at.get("web_healthz", {}).get("rps") else None
        ceilings_at[connections] = {"api": round(api_ceiling, 1) if api_ceiling else None, "web": web_ceiling}
        api_cpu = [
            at[k]["server_cpu_us_per_request"] for k in HEALTHZ_RUNS if at.get(k, {}).get("server_cpu_us_per_request")
        ]
        healthz_cpu = {
            "api": sum(api_cpu) / len(api_cpu) if api_cpu else None,
            "web": at.get("web_healthz", {}).get("server_cpu_us_per_request"),
        }
        for key, label in labels.items():
            if key not in at:
                continue
            result = at[key]
            base = web_ceiling if key.startswith("web_") and key != "web_healthz" else api_ceiling
            ratio = round(result["rps"] / base, 2) if base else None
            errors = result["non_2xx_3xx"] + result["socket_errors"]
            status = result["preflight"]["status"]
            notes = [f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, load {result.get('loadavg')}"]
            cpu = result.get("server_cpu_us_per_request")
            if cpu:
                ceiling_cpu = healthz_cpu["web" if key.startswith("web_") and key != "web_healthz" else "api"]
                cpu_ratio = f", {ceiling_cpu / cpu:.2f} x healthz's" if ceiling_cpu else ""
                notes.append(f"server CPU {cpu} us/request{cpu_ratio}")
            if errors:
                notes.append(f"{errors} errors")
            if status != 200:
                notes.append(f"HTTP {status}")
            other = {code: n for code, n in result["preflight"].get("statuses", {}).items() if code != "200"}
            if other:
                notes.append(f"warm-up answers {other}")
            limit = ratio_targets.get(key)
            ceiling_name = "web healthz" if key.startswith("web_") else "healthz"
            add(
                f"c{connections:<3} {label}",
                round(result["rps"]),
                "req/s",
                ratio,
                target=f">= {limit:g} x {ceiling_name}" if limit else "",
                ok=(ratio is not None and ratio >= limit and not errors and status == 200) if limit else None,
                note="; ".join(notes),
            )

    for name in ("checkout", "checkout_sellout"):
        result = results.get(name)
        if not result:
            continue
        rate = result["orders_per_second"]
        main = name == "checkout"
        add(
            "checkout orders/s" if main else "checkout sell-out run orders/s",
            rate,
            "orders/s",
            round(rate / ceiling, 3) if ceiling else None,
            target=">= 150, 0 oversold" if main else "0 oversold",
            ok=(rate >= TARGETS["checkout_orders_per_second"] if main else True)
            and result["oversold_books"] == 0
            and result["errors"] == 0,
            note=(
                f"{result['orders']} orders, {result['sold_out_answers']} sold out, {result['errors']} errors, "
                f"{result['oversold_books']} oversold books, p99 {result['p99_ms']} ms"
                + ("; stock ran out, so the rate is a lower bound" if main and result["sold_out_answers"] else "")
            ),
        )

    plain = results.get("checkout")
    for name, label in (("checkout_voucher", "a capped voucher"), ("checkout_voucher_uncapped", "an uncapped voucher")):
        voucher = results.get(name)
        if not voucher:
            continue
        rate = voucher["orders_per_second"]
        ratio = round(rate / plain["orders_per_second"], 3) if plain and plain["orders_per_second"] else None
        add(
            f"checkout with {label} orders/s",
            rate,
            "orders/s",
            round(rate / ceiling, 3) if ceiling else None,
            target=">= 0.8 x plain checkout, exact uses",
            ok=(ratio is not None and ratio >= TARGETS["checkout_voucher_ratio"])
            and voucher["oversold_books"] == 0
            and voucher["errors"] == 0
            and not voucher["voucher_uses_mismatch"],
            note=(
                f"{ratio} x plain checkout; {voucher['orders']} orders, {voucher['discounted_orders']} discounted,"
                f" uses {'exact' if not voucher['voucher_uses_mismatch'] else 'MISCOUNTED'},"
                f" {voucher['sold_out_answers']} sold out, {voucher['errors']} errors, p99 {voucher['p99_ms']} ms"
            ),
        )

    hooks = results.get("webhooks")
    if hooks:
        add(
            "webhook deliveries/s",
            hooks["deliveries_per_second"],
            "deliveries/s",
            target="each once, in order",
            ok=hooks["duplicates"] == 0
            and hooks["out_of_order"] == 0
            and hooks["bad_signatures"] == 0
            and hooks["received"] == hooks["deliveries"],
            note=(
                f"{hooks['deliveries']} deliveries, {hooks['workers']} workers x {hooks['concurrency_per_worker']},"
                f" attempt p50 {hooks['attempt_p50_ms']} ms, p99 {hooks['attempt_p99_ms']} ms"
            ),
        )

    rss = dict(results.get("rss_mb", {}))
    for name in ("checkout", "checkout_voucher", "checkout_voucher_uncapped", "checkout_sellout"):
        if results.get(name):
            rss[f"api ({name.replace('_', ' ')})"] = results[name]["api_peak_rss_mb"]
    for name, value in rss.items():
        add(f"peak RSS {name} server", value, "MB", target="<= 150 MB", ok=value <= TARGETS["rss_mb"])
    return rows


def print_table(rows: list[dict]) -> None:
    headers = ("figure", "value", "x healthz", "target", "", "notes")
    cells = [
        (
            row["figure"],
            f"{row['value']} {row['unit']}".strip() if row["value"] is not None else "-",
            f"{row['ratio']:.2f}" if row["ratio"] is not None else "",
            row["target"],
            row["status"] if row["status"] != "-" else "",
            row.get("note", ""),
        )
        for row in rows
    ]
    widths = [max(len(str(c[i])) for c in [headers, *cells]) for i in range(len(headers))]
    line = "  ".join(f"{{:>{w}}}" if i in (1, 2) else f"{{:<{w}}}" for i, w in enumerate(widths))
    print()
    print(line.format(*headers).rstrip())
    print("  ".join("-" * w for w in widths))
    for cell in cells:
        print(line.format(*cell).rstrip())
    print()


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k books and short loads (~2 minutes)")
    parser.add_argument("--stages", help="catalog sizes to seed and search, comma-separated (default 10k,100k,1M)")
    parser.add_argument("--seconds", type=float, help="wrk duration per target")
    parser.add_argument(
        "--connections",
        type=connection_counts,
        default=connection_counts("16,64"),
        help="wrk connection counts, comma-separated; every target runs at each (default 16,64)",
    )
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--no-web", action="store_true", help="skip the storefront")
    parser.add_argument("--no-checkout", action="store_true", help="skip the checkout runs")
    parser.add_argument(
        "--checkout-only", action="store_true", help="only the checkout runs (no seeding, search or load)"
    )
    parser.add_argument("--no-webhooks", action="store_true", help="skip the webhook delivery run")
    parser.add_argument("--output", help="results file (default bench/results/<UTC timestamp>.json)")
    args = parser.parse_args()

    profile = dict(PROFILES["quick" if args.quick else "full"])
    if args.stages:
        profile["stages"] = sorted(int(size.replace("_", "")) for size in args.stages.split(","))
    if args.seconds:
        profile["wrk_seconds"] = args.seconds
    if not shutil.which("wrk"):
        print("wrk is not installed (make bootstrap installs it)", file=sys.stderr)
        return 2

    stamp = dt.datetime.now(dt.UTC)
    output = Path(args.output) if args.output else RESULTS / f"{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
    started = time.monotonic()
    results: dict = {
        "started_at": stamp.isoformat(timespec="seconds"),
        "profile": "quick" if args.quick else "full",
        "settings": profile,
        "machine": machine_info(),
        "targets": TARGETS,
    }
    log(f"bench: {results['profile']} run, load average {results['machine']['loadavg_at_start']}")

    def phase(name: str, function, *call_args) -> None:
        phase_started = time.monotonic()
        try:
            function(*call_args)
        except Exception as exc:
            log(f"{name} failed: {exc!r}")
            results.setdefault("errors", []).append(
                {"phase": name, "error": repr(exc), "trace": traceback.format_exc()}
            )
        results.setdefault("phase_seconds", {})[name] = round(time.monotonic() - phase_started, 1)

    with services("bench") as (database_url, redis_url):
        if not args.checkout_only:
            phase("seed and search", seed_and_search, database_url, redis_url, profile, results)
        if results.get("stages"):
            phase("load", load_servers, database_url, redis_url, profile, args, results)
        if not args.no_checkout:
            phase("checkout", checkout_runs, database_url, redis_url, profile, results)
        if not args.no_webhooks:
            phase("webhooks", webhook_run, database_url, redis_url, profile, results)

    results["machine"]["loadavg_at_end"] = list(os.getloadavg())
    results["table"] = table_rows(results)
    results["duration_seconds"] = round(time.monotonic() - started, 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")

    machine = results["machine"]
    print(
        f"\n{results['profile']} run: {machine['nproc']} cores, load average {machine['loadavg_at_start'][0]:.2f} at start,"
        f" {machine['loadavg_at_end'][0]:.2f} at end; wrk -t{args.wrk_threads} -c{','.join(map(str, args.connections))}"
        f" -d{profile['wrk_seconds']:g}s per target; each ratio is to /healthz at the same connection count"
        " (API: mean of its three runs; storefront pages: the storefront's /healthz)"
    )
    print_table(results["table"])
    for error in results.get("errors", []):
        print(f"error in {error['phase']}: {error['error']}")
    print(
        f"took {results['duration_seconds']:.0f} s; results in {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
