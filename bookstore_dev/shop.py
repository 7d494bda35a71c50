"""``make run``: the whole shop on this machine, started and stopped as one.

Uses ``BOOKSTORE_DATABASE_URL`` / ``BOOKSTORE_REDIS_URL`` when set; otherwise
starts a real PostgreSQL and a real Redis from PyPI packages with their data under
``var/``. Then migrates, seeds the demo catalog once, ensures the dev-only demo
accounts, and serves the API and the storefront with waitress.
Ctrl-C or SIGTERM stops everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bookstore_api.settings import build_settings

from .servers import EmbeddedPostgres, EmbeddedRedis, create_database, port_open

#: the module each app is served with (``python -m <module> serve``)
SERVE_MODULES = {"api": "bookstore_api.cli", "web": "bookstore_web"}


def dev_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Local-run choices: configured service URLs (if any) and the demo accounts."""
    environ = os.environ if environ is None else environ
    return {
        "database_url": environ.get("BOOKSTORE_DATABASE_URL") or None,
        "redis_url": environ.get("BOOKSTORE_REDIS_URL") or None,
        "api_port": int(environ.get("BOOKSTORE_API_PORT", "6543")),
        "web_port": int(environ.get("BOOKSTORE_WEB_PORT", "6544")),
        "embedded_postgres_port": int(environ.get("BOOKSTORE_EMBEDDED_POSTGRES_PORT", "54329")),
        "embedded_redis_port": int(environ.get("BOOKSTORE_EMBEDDED_REDIS_PORT", "63799")),
        "staff_email": environ.get("BOOKSTORE_DEMO_STAFF_EMAIL", "staff@bookstore.test"),
        "staff_password": environ.get("BOOKSTORE_DEMO_STAFF_PASSWORD", "staff-demo-password"),
        "customer_email": environ.get("BOOKSTORE_DEMO_CUSTOMER_EMAIL", "customer@bookstore.test"),
        "customer_password": environ.get("BOOKSTORE_DEMO_CUSTOMER_PASSWORD", "customer-demo-password"),
    }


def _say(message: str) -> None:
    print(f"[bookstore] {message}", flush=True)


def _start_services(var: Path, dev: dict[str, Any], managed: list) -> tuple[str, str]:
    """The configured PostgreSQL and Redis, or embedded ones started under ``var``; their URLs."""
    database_url = dev["database_url"]
    if not database_url:
        pg = EmbeddedPostgres(var / "postgres", dev["embedded_postgres_port"])
        _say(f"starting PostgreSQL on 127.0.0.1:{pg.port} (data in {pg.datadir})")
        managed.append(pg.start())
        database_url = create_database(pg.url, "bookstore")
    redis_url = dev["redis_url"]
    if not redis_url:
        rd = EmbeddedRedis(var / "redis", dev["embedded_redis_port"])
        _say(f"starting Redis on 127.0.0.1:{rd.port}")
        managed.append(rd.start())
        redis_url = rd.url
    return database_url, redis_url


def _prepare_database(settings: dict[str, Any], dev: dict[str, Any], demo_books: int) -> bool:
    """Migrate, seed the demo catalogue once, ensure the demo accounts; True when they exist."""
    from bookstore_api.cli.migrate import upgrade
    from bookstore_api.cli.users import ensure_user
    from bookstore_api.infra.db import make_engine

    from .seed import catalog_size, has_uploaded_covers, seed_catalog, seed_covers

    upgrade(settings["sqlalchemy.url"])
    _say("database migrated")
    engine = make_engine(settings, application_name="bookstore run")
    if catalog_size(engine) == 0:
        result = seed_catalog(engine, books=demo_books, seed=1, currency=settings["bookstore.currency"])
        _say(f"seeded a demo catalog of {result.books:,} books in {result.seconds:.1f}s")
    if not has_uploaded_covers(engine):
        started = time.monotonic()
        drawn = seed_covers(engine, settings)
        _say(
            f"drew {drawn} demo covers in {time.monotonic() - started:.1f}s (under {settings['bookstore.covers_dir']})"
        )
    engine.dispose()
    if settings["bookstore.env"] == "production":  # development only: never create known passwords there
        return False
    ensure_user(settings, dev["staff_email"], dev["staff_password"], "Demo Staff", "staff")
    ensure_user(settings, dev["customer_email"], dev["customer_password"], "Demo Customer", "customer")
    return True


def _spawn(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _start_apps(var: Path, dev: dict[str, Any], env: dict[str, str], children: list) -> None:
    """Both apps, the mailer, the webhook worker and the report rollup as child processes; returns once both
    apps listen."""
    apps = [("api", dev["api_port"]), ("web", dev["web_port"])]
    env["BOOKSTORE_API_URL"] = f"http://127.0.0.1:{dev['api_port']}"
    env.setdefault("BOOKSTORE_STOREFRONT_URL", f"http://127.0.0.1:{dev['web_port']}")  # links in mails
    for app, port in apps:
        if port_open("127.0.0.1", port):
            raise RuntimeError(f"port {port} is already in use; set BOOKSTORE_{app.upper()}_PORT")
        argv = [sys.executable, "-m", SERVE_MODULES[app], "serve", "--host", "127.0.0.1", "--port", str(port)]
        children.append(_spawn(argv, env, var / f"{app}.log"))
    mailer = [sys.executable, "-m", SERVE_MODULES["api"], "send-mail", "--loop", "--interval", "2"]
    webhooks = [sys.executable, "-m", SERVE_MODULES["api"], "deliver-webhooks", "--interval", "1"]
    rollup = [sys.executable, "-m", SERVE_MODULES["api"], "rollup-reports", "--loop", "--interval", "300"]
    for (app, port), child in zip(apps, children, strict=True):
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port):
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {app} server did not start; see {var / (app + '.log')}")
            time.sleep(0.05)
    children.append(_spawn(mailer, env, var / "mailer.log"))
    children.append(_spawn(webhooks, env, var / "webhooks.log"))
    children.append(_spawn(rollup, env, var / "rollup.log"))


def _stop(children: list[subprocess.Popen], managed: list) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
    for server in reversed(managed):
        server.stop()
    _say("stopped")


def run_shop(var_dir: str = "var", demo_books: int = 5000) -> int:
    """Start everything, print where it is, and stop everything on Ctrl-C, SIGTERM or a crash."""
    started = time.monotonic()
    var = Path(var_dir).resolve()
    var.mkdir(parents=True, exist_ok=True)
    dev = dev_settings()
    managed: list = []
    children: list[subprocess.Popen] = []

    def stop(signum=None, frame=None):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        database_url, redis_url = _start_services(var, dev, managed)
        env = dict(os.environ, BOOKSTORE_DATABASE_URL=database_url, BOOKSTORE_REDIS_URL=redis_url)
        env.setdefault("BOOKSTORE_ENV", "development")
        if env["BOOKSTORE_ENV"] != "production":  # local receivers (a test server on 127.0.0.1) may get webhooks
            env.setdefault("BOOKSTORE_WEBHOOKS_ALLOW_LOOPBACK", "true")
        env.setdefault("BOOKSTORE_COVERS_DIR", str(var / "covers"))  # written by the API, served by the storefront
        demo_accounts = _prepare_database(build_settings({}, env), dev, demo_books)
        _start_apps(var, dev, env, children)
        _say(f"ready in {time.monotonic() - started:.1f}s")
        _say(f"API        http://127.0.0.1:{dev['api_port']}/api/v1/books   (spec: /api/v1/openapi.yaml)")
        _say(f"storefront http://127.0.0.1:{dev['web_port']}/")
        if demo_accounts:
            _say(f"demo staff    {dev['staff_email']} / {dev['staff_password']}")
            _say(f"demo customer {dev['customer_email']} / {dev['customer_password']}")
        _say("mails are logged to var/mailer.log (set BOOKSTORE_SMTP_URL to send them);")
        _say("read them with `make mail` (the list) and `make mail N=12` (mail 12, with its links)")
        _say("logs in var/*.log; press Ctrl-C to stop")
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        _say("a server exited; stopping")
        return 1
    except KeyboardInterrupt:
        _say("stopping")
        return 0
    finally:
        _stop(children, managed)
