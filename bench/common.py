"""Shared plumbing for the benchmarks: services, servers and load generation."""

from __future__ import annotations

import http.client
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bookstore_dev.servers import EmbeddedPostgres, EmbeddedRedis, create_database, free_port, port_open  # noqa: E402
from bookstore_dev.shop import SERVE_MODULES, dev_settings  # noqa: E402


@contextmanager
def services(database: str = "bench"):
    """PostgreSQL and Redis for a benchmark: the configured ones, or embedded ones of our own."""
    dev = dev_settings()
    work = Path(tempfile.mkdtemp(prefix="bookstore-bench-"))
    started = []
    try:
        server_url, redis_url = dev["database_url"], dev["redis_url"]
        if not server_url:
            # sized like the production database: RDS gives shared_buffers a quarter of the
            # instance's memory, 1 GiB on the db.t4g.medium of inventories/production
            pg = EmbeddedPostgres(work / "pg", durable=False, shared_buffers="1GB").start()
            started.append(pg)
            server_url = pg.url
        if not redis_url:
            rd = EmbeddedRedis(work / "redis").start()
            started.append(rd)
            redis_url = rd.url
        yield fresh_database(server_url, database), redis_url
    finally:
        for server in reversed(started):
            server.stop()


@contextmanager
def environment(**values: str):
    """``BOOKSTORE_*`` variables set for the duration (the apps read the environment over their settings)."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def in_process_api(database_url: str, redis_url: str, prefix: str = "bookstore:"):
    """The API app in this process on these servers (whatever BOOKSTORE_* the shell has set)."""
    from bookstore_api import main

    with environment(BOOKSTORE_DATABASE_URL=database_url, BOOKSTORE_REDIS_URL=redis_url, BOOKSTORE_REDIS_PREFIX=prefix):
        return main({}, **{"bookstore.log_level": "WARNING"})


def fresh_database(url: str, database: str) -> str:
    """Drop and create ``database`` on the server of ``url``; return its URL."""
    return create_database(url, database, replace=True)


@contextmanager
def _serve(app: str, env: dict, what: str):
    """``bookstore serve <app>`` on a free loopback port: yields (base URL, process) once it listens, stops it after."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", SERVE_MODULES[app], "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not port_open("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()
            proc.wait(10)
            raise RuntimeError(f"the {what} server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def api_server(database_url: str, redis_url: str, threads: int | None = 16, extra_env: dict | None = None):
    """``bookstore serve api`` as its own process (the command the image runs).

    ``threads=None`` keeps the product's own waitress thread and pool defaults.
    """
    env = dict(
        os.environ,
        BOOKSTORE_DATABASE_URL=database_url,
        BOOKSTORE_REDIS_URL=redis_url,
        BOOKSTORE_LOG_LEVEL="WARNING",
    )
    if threads is not None:
        env.update(BOOKSTORE_THREADS=str(threads), BOOKSTORE_DB_POOL_SIZE=str(threads))
    env.update(extra_env or {})
    with _serve("api", env, "API") as served:
        yield served


@contextmanager
def web_server(api_url: str, redis_url: str, threads: int | None = None, extra_env: dict | None = None):
    """``bookstore serve web`` (the storefront) as its own process, talking to ``api_url``.

    ``threads=None`` keeps the product's own waitress thread default.
    """
    env = dict(
        os.environ,
        BOOKSTORE_API_URL=api_url,
        BOOKSTORE_REDIS_URL=redis_url,
        BOOKSTORE_SESSION_SECRET=secrets.token_urlsafe(32),
        BOOKSTORE_LOG_LEVEL="WARNING",
    )
    if threads is not None:
        env["BOOKSTORE_THREADS"] = str(threads)
    env.update(extra_env or {})
    with _serve("web", env, "storefront") as served:
        yield served


def session_cookie(base: str) -> str:
    """The storefront's session cookie, so every load connection is a returning shopper."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", "/books")
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    return (response.getheader("Set-Cookie") or "").split(";", 1)[0]


def rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def parse_wrk(output: str) -> dict:
    """The figures of a ``wrk --latency`` report: requests, req/s, latency percentiles in ms, errors."""

    def number(pattern: str, cast=float, default=None):
        found = re.search(pattern, output)
        return cast(found.group(1)) if found else default

    def latency(label: str) -> float | None:
        found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if not found:
            return None
        value, unit = float(found.group(1)), found.group(2)
        return round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 2)

    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests": number(r"(\d+) requests in", int, 0),
        "rps": number(r"Requests/sec:\s+([\d.]+)", float, 0.0),
        "p50_ms": latency("50"),
        "p90_ms": latency("90"),
        "p99_ms": latency("99"),
        "non_2xx_3xx": number(r"Non-2xx or 3xx responses: (\d+)", int, 0),
        "socket_errors": sum(int(n) for n in socket.groups()) if socket else 0,
    }
