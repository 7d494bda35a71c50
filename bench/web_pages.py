"""Storefront throughput: the catalogue and book pages next to the same server's /healthz, in one run.

Starts PostgreSQL and Redis (embedded unless BOOKSTORE_DATABASE_URL / BOOKSTORE_REDIS_URL
are set), seeds a catalogue, runs ``bookstore serve api`` and ``bookstore serve web`` as
their own processes (the commands the images run), then loads each URL for a fixed time
with ``wrk`` when it is installed, or with a threaded keep-alive Python client otherwise.
Each client keeps its session cookie, like a returning shopper. Prints req/s and latency;
writes bench/results/web_pages.json.

    .venv/bin/python bench/web_pages.py [--books 5000] [--seconds 10] [--connections 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, api_server, services, session_cookie, web_server


def load_python(base: str, path: str, seconds: float, connections: int, cookie: str) -> dict:
    """A bounded closed-loop load: ``connections`` keep-alive clients for ``seconds``."""
    parts = urlsplit(base)
    deadline = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = {"Cookie": cookie} if cookie else {}
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    errors[index] += 1
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                continue
            latencies[index].append(time.perf_counter() - started)
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    samples = sorted(s for per_client in latencies for s in per_client)
    return {
        "requests": len(samples),
        "errors": sum(errors),
        "rps": len(samples) / elapsed,
        "p50_ms": statistics.median(samples) * 1000 if samples else None,
        "p99_ms": samples[int(len(samples) * 0.99) - 1] * 1000 if samples else None,
    }


def load_wrk(base: str, path: str, seconds: float, connections: int, cookie: str) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "--latency"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    output = subprocess.run([*command, base + path], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)

    def latency(label: str) -> float | None:
        found = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", output)
        if not found:
            return None
        value, unit = float(found.group(1)), found.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
        "rps": rps,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    from bookstore_api.cli.migrate import upgrade
    from bookstore_api.infra.db import make_engine
    from bookstore_dev.seed import seed_catalog

    generator = "wrk" if shutil.which("wrk") else "python"
    load = load_wrk if generator == "wrk" else load_python
    with services("bench_web") as (database_url, redis_url):
        upgrade(database_url)
        engine = make_engine({"sqlalchemy.url": database_url})
        seed_catalog(engine, books=args.books, seed=1, progress=False)
        engine.dispose()
        with api_server(database_url, redis_url) as (api_url, _), web_server(api_url, redis_url) as (web_url, _):
            cookie = session_cookie(web_url)
            pages = {"/healthz": "/healthz", "catalog /books": "/books", "book /books/{id}": "/books/42"}
            for path in pages.values():  # warm up: imports, templates, connection pools, caches
                load(web_url, path, 1, 2, cookie)
            results = {}
            for name, path in pages.items():
                results[name] = load(web_url, path, args.seconds, args.connections, cookie)
                time.sleep(0.5)

    print(
        f"\nstorefront req/s ({generator}, {args.connections} connections, {args.seconds:.0f}s each, {args.books} books)"
    )
    print(f"{'page':<20}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, result in results.items():
        p50 = f"{result['p50_ms']:.1f}" if result["p50_ms"] is not None else "-"
        p99 = f"{result['p99_ms']:.1f}" if result["p99_ms"] is not None else "-"
        print(f"{name:<20}{result['rps']:>10.0f}{p50:>10}{p99:>10}{result['errors']:>8}")
    out = ROOT / "bench" / "results" / "web_pages.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"generator": generator, "books": args.books, "results": results}, indent=2))
    return 0 if all(r["errors"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
