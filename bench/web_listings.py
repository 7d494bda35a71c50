"""Storefront listing pages next to the same server's /healthz, in one run, signed out and signed in.

Starts PostgreSQL and Redis (embedded unless BOOKSTORE_DATABASE_URL / BOOKSTORE_REDIS_URL are
set; the Redis keys go under a prefix of this run's own, deleted afterwards), seeds a catalogue,
runs ``bookstore serve api`` and ``bookstore serve web`` as their own processes, and loads the
storefront's ``/healthz`` and each listing (home, ``/books``, a genre with a sort, a search, a
genre, an author) with ``wrk`` for a few seconds each: first as a visitor without a session, then
as a signed-in shopper (a session cookie from registering), with ``/healthz`` before each page
and after the last. Prints req/s, p50/p99 and each page's ratio to the mean of the ``/healthz``
runs either side of it (the healthz row: their mean), with the load average, and writes
bench/results/web-listings-<UTC timestamp>.json.

    .venv/bin/python bench/web_listings.py [--books 5000] [--seconds 4] [--connections 16]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, api_server, parse_wrk, services, web_server

WRK_SCRIPT = ROOT / "bench" / "wrk" / "paths.lua"


def wrk(base: str, path: str, seconds: float, connections: int, cookie: str) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    command += ["-s", str(WRK_SCRIPT), base + "/", "--", path]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout

    parsed = parse_wrk(output)
    return {
        "rps": parsed["rps"],
        "p50_ms": parsed["p50_ms"],
        "p99_ms": parsed["p99_ms"],
        "errors": parsed["non_2xx_3xx"],
    }


def get(base: str, path: str, cookie: str = "") -> tuple[int, bytes, http.client.HTTPResponse]:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return response.status, response.read(), response
    finally:
        connection.close()


def signed_in_cookie(base: str) -> str:
    """Registers a shopper on the storefront; their session cookie."""
    status, body, _ = get(base, "/register")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', body).group(1).decode()
    form = {
        "name": "Bench Reader",
        "email": f"bench-{secrets.token_hex(4)}@example.com",
        "password": "a long enough password",
        "csrf_token": token,
    }
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": base}
        connection.request("POST", "/register", body=urlencode(form), headers=headers)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
    if response.status != 303 or not cookie:
        raise RuntimeError(f"could not register a shopper ({response.status})")
    return cookie


def listing_paths(api_url: str) -> dict[str, str]:
    genres = json.loads(get(api_url, "/api/v1/genres")[1])["items"]
    genre = max(genres, key=lambda g: int(g.get("book_count") or 0))["slug"]
    books = json.loads(get(api_url, "/api/v1/books?" + urlencode({"per_page": 1, "sort": "bestselling"}))[1])["items"]
    author_id = books[0]["authors"][0]["id"]
    word = max(re.findall(r"[A-Za-z]{4,}", books[0]["title"]) or ["book"], key=len)
    return {
        "home": "/",
        "catalogue": "/books",
        "filtered": "/books?" + urlencode({"genre": genre, "sort": "price", "in_stock": "1"}),
        "search": "/books?" + urlencode({"q": word}),
        "genre": "/books?" + urlencode({"genre": genre}),
        "author": f"/authors/{author_id}",
    }


def delete_prefix(redis_url: str, prefix: str) -> None:
    """This run's Redis keys go (the server may be shared)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--signed-out-only", action="store_true")
    args = parser.parse_args()

    from bookstore_api.cli.migrate import upgrade
    from bookstore_api.infra.db import make_engine
    from bookstore_dev.seed import seed_catalog

    prefix = f"bench-listings-{secrets.token_hex(3)}:"
    env = {"BOOKSTORE_REDIS_PREFIX": prefix}
    results: dict[str, dict] = {}
    sizes: dict[str, int] = {}
    with services("bench_web_listings") as (database_url, redis_url):
        upgrade(database_url)
        engine = make_engine({"sqlalchemy.url": database_url})
        seed_catalog(engine, books=args.books, seed=1, progress=False)
        engine.dispose()
        try:
            with (
                api_server(database_url, redis_url, extra_env=env) as (api_url, _),
                web_server(api_url, redis_url, extra_env=env) as (web_url, _),
            ):
                paths = listing_paths(api_url)
                shoppers = {"signed out": ""}
                if not args.signed_out_only:
                    shoppers["signed in"] = signed_in_cookie(web_url)
                for who, cookie in shoppers.items():
                    # /healthz before every page and after the last: each page's ratio is to the
                    # mean of the /healthz runs either side of it (the machine's load drifts)
                    plan = [("healthz", "/healthz")]
                    for name, path in paths.items():
                        plan += [(name, path), ("healthz", "/healthz")]
                    for path in {"/healthz", *paths.values()}:
                        for _ in range(2):  # a listing is stored from its second view
                            status, body, _ = get(web_url, path, cookie)
                            if status != 200:
                                raise RuntimeError(f"{path}: {status}")
                        sizes[path] = len(body)
                        wrk(web_url, path, 1, 4, cookie)  # warm up
                    healthz_runs: list[float] = []
                    for name, path in plan:
                        result = wrk(web_url, path, args.seconds, args.connections, cookie)
                        result.update(path=path, bytes=sizes[path], load_average=round(os.getloadavg()[0], 2))
                        if name == "healthz":
                            healthz_runs.append(result["rps"])
                            results.setdefault(f"{who} healthz", {**result, "runs": []})["runs"].append(result["rps"])
                        else:
                            result["healthz_before"] = healthz_runs[-1]
                            results[f"{who} {name}"] = result
                    for name in paths:
                        result = results[f"{who} {name}"]
                        after = healthz_runs[list(paths).index(name) + 1]
                        result["healthz_rps"] = round((result.pop("healthz_before") + after) / 2, 1)
                    runs = results[f"{who} healthz"]["runs"]
                    results[f"{who} healthz"]["healthz_rps"] = results[f"{who} healthz"]["rps"] = sum(runs) / len(runs)
        finally:
            delete_prefix(redis_url, prefix)

    print(f"\nstorefront listings (wrk, {args.connections} connections, {args.seconds:.0f}s each, {args.books} books)")
    print("x healthz: to the /healthz runs either side of the page; x mean: to the mean of all of them")
    print(
        f"{'page':<22}{'req/s':>9}{'x healthz':>11}{'x mean':>8}{'p50 ms':>9}{'p99 ms':>9}{'KB':>7}{'errors':>8}{'load':>7}"
    )
    for name, result in results.items():
        mean = results[" ".join(name.split(" ")[:2]) + " healthz"]["rps"]
        result["ratio"] = round(result["rps"] / result["healthz_rps"], 3) if result["healthz_rps"] else None
        result["ratio_to_mean"] = round(result["rps"] / mean, 3) if mean else None
        ratio = f"{result['ratio']:.2f}" if result["ratio"] is not None else "-"
        to_mean = f"{result['ratio_to_mean']:.2f}" if result["ratio_to_mean"] is not None else "-"
        print(
            f"{name:<22}{result['rps']:>9.0f}{ratio:>11}{to_mean:>8}{result['p50_ms'] or 0:>9.1f}"
            f"{result['p99_ms'] or 0:>9.1f}{result['bytes'] / 1024:>7.1f}{result['errors']:>8}{result['load_average']:>7.2f}"
        )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    out = ROOT / "bench" / "results" / f"web-listings-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"books": args.books, "seconds": args.seconds, "connections": args.connections, "results": results}
    out.write_text(json.dumps(summary, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if all(r["errors"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
