"""Shared plumbing for the benchmarks: services, servers and load generation."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bookstore_api.devservers import EmbeddedPostgres, EmbeddedRedis, free_port, port_open  # noqa: E402
from bookstore_api.settings import dev_settings  # noqa: E402


@contextmanager
def services(database: str = "bench"):
    """PostgreSQL and Redis for a benchmark: the configured ones, or embedded ones of our own."""
    import psycopg2

    dev = dev_settings()
    work = Path(tempfile.mkdtemp(prefix="bookstore-bench-"))
    started = []
    try:
        server_url, redis_url = dev["database_url"], dev["redis_url"]
        if not server_url:
            pg = EmbeddedPostgres(work / "pg", durable=False).start()
            started.append(pg)
            server_url = pg.url
        if not redis_url:
            rd = EmbeddedRedis(work / "redis").start()
            started.append(rd)
            redis_url = rd.url
        connection = psycopg2.connect(server_url)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{database}"')
        connection.close()
        yield server_url.rsplit("/", 1)[0] + f"/{database}", redis_url
    finally:
        for server in reversed(started):
            server.stop()


@contextmanager
def api_server(database_url: str, redis_url: str, threads: int = 16, extra_env: dict | None = None):
    """``bookstore serve api`` as its own process (the command the image runs)."""
    port = free_port()
    env = dict(
        os.environ,
        BOOKSTORE_DATABASE_URL=database_url,
        BOOKSTORE_REDIS_URL=redis_url,
        BOOKSTORE_LOG_LEVEL="WARNING",
        BOOKSTORE_THREADS=str(threads),
        BOOKSTORE_DB_POOL_SIZE=str(threads),
        **(extra_env or {}),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bookstore_api.cli", "serve", "api", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        proc.wait(10)


def rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
